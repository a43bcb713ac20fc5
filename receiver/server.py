"""Serve the receiver with uvicorn over TLS, requiring a client certificate issued by the station CA."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from crypto.keys import FileSigner, RecipientKey, load_certificate, load_private_key
from crypto.signed_data import DEFAULT_TIMING, SigningTimePolicy
from receiver.app import create_app
from receiver.intake import Intake
from receiver.revocation import StationTrust, TlsFiles
from receiver.store import PacketStore


@dataclass(frozen=True)
class ReceiverSettings:
    """Everything the receiver needs, as paths (the kiosk's ``[receiver]`` section resolved)."""

    data_dir: Path
    tls_certificate: Path
    tls_key: Path
    station_ca: Path
    decryption_certificate: Path
    decryption_key: Path
    receipt_certificate: Path
    receipt_key: Path
    decryption_passphrase: bytes | None = None
    receipt_passphrase: bytes | None = None
    crl: Path | None = None
    stale_crl: str = "warn"
    """What a CRL past its nextUpdate does: "warn" (logged) or "refuse" (no packet or client of that CA)."""
    timing: SigningTimePolicy = DEFAULT_TIMING
    idle_timeout_s: float = 30.0
    """A client that sends nothing of its request body for this long is cut off."""
    name: str = "registry"
    host: str = "127.0.0.1"
    port: int = 8443

    @property
    def tls_files(self) -> TlsFiles:
        return TlsFiles(self.tls_certificate, self.tls_key, self.station_ca)


def build_intake(settings: ReceiverSettings, station_trust: StationTrust | None = None) -> Intake:
    receipt_key = load_private_key(settings.receipt_key, settings.receipt_passphrase)
    trust = station_trust or StationTrust(settings.tls_files, settings.crl, stale_crl=settings.stale_crl)
    return Intake(
        RecipientKey.from_files(settings.decryption_key, settings.decryption_certificate,
                                settings.decryption_passphrase),
        trust.trust,
        FileSigner(receipt_key, load_certificate(settings.receipt_certificate)),  # type: ignore[arg-type]
        PacketStore(settings.data_dir),
        name=settings.name,
        timing=settings.timing,
    )


def loaded_config(settings: ReceiverSettings, intake: Intake | None = None) -> uvicorn.Config:
    """The uvicorn configuration, loaded, serving TLS with the station trust's context
    (:mod:`receiver.revocation`: client certificates required, the station CA as anchor, the CRL
    applied and reloaded)."""
    station_trust = StationTrust(settings.tls_files, settings.crl, stale_crl=settings.stale_crl)
    config = uvicorn.Config(
        create_app(intake or build_intake(settings, station_trust), idle_timeout_s=settings.idle_timeout_s),
        host=settings.host, port=settings.port, http=ClientCertificateProtocol,
        ssl_certfile=str(settings.tls_certificate), ssl_keyfile=str(settings.tls_key),
        log_level="warning", access_log=False, timeout_keep_alive=30, timeout_graceful_shutdown=2,
        log_config=None)  # its records go to the station's handlers (station.logs): tracebacks to the file only
    config.load()
    config.ssl = station_trust.server_context()  # in place of the context uvicorn made from the files
    return config


class ClientCertificateProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, which also tells the app the TLS client's certificate, as the
    ASGI TLS extension does (``scope["extensions"]["tls"]["client_cert_chain"]``, PEM): uvicorn
    verifies it but does not pass it on, and the app limits uploads per station by it."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not der:
            return
        chain = [ssl.DER_cert_to_PEM_cert(der)]
        app = self.app

        async def with_certificate(scope: Any, receive: Any, send: Any) -> None:
            extensions = {**scope.get("extensions", {}), "tls": {"client_cert_chain": chain}}
            await app({**scope, "extensions": extensions}, receive, send)

        self.app = with_certificate  # type: ignore[assignment]


def serve(settings: ReceiverSettings) -> None:
    uvicorn.Server(loaded_config(settings)).run()
