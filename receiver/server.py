"""Serve the receiver with uvicorn over TLS, requiring a client certificate issued by the station CA."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from crypto.keys import FileSigner, RecipientKey, load_certificate, load_certificates, load_private_key
from crypto.trust import TrustStore, load_crl
from receiver.app import create_app
from receiver.intake import Intake
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
    name: str = "registry"
    host: str = "127.0.0.1"
    port: int = 8443


def build_intake(settings: ReceiverSettings) -> Intake:
    receipt_key = load_private_key(settings.receipt_key, settings.receipt_passphrase)
    crls = [load_crl(settings.crl.read_bytes())] if settings.crl else []
    return Intake(
        RecipientKey.from_files(settings.decryption_key, settings.decryption_certificate,
                                settings.decryption_passphrase),
        TrustStore(load_certificates(settings.station_ca), crls=crls),
        FileSigner(receipt_key, load_certificate(settings.receipt_certificate)),  # type: ignore[arg-type]
        PacketStore(settings.data_dir),
        name=settings.name,
    )


def uvicorn_config(settings: ReceiverSettings, intake: Intake | None = None) -> uvicorn.Config:
    """The uvicorn configuration: TLS with client certificates verified against the station CA."""
    return uvicorn.Config(
        create_app(intake or build_intake(settings)), host=settings.host, port=settings.port,
        ssl_certfile=str(settings.tls_certificate), ssl_keyfile=str(settings.tls_key),
        ssl_ca_certs=str(settings.station_ca), ssl_cert_reqs=ssl.CERT_REQUIRED,
        log_level="warning", access_log=False, timeout_keep_alive=30, timeout_graceful_shutdown=2)


def loaded_config(settings: ReceiverSettings, intake: Intake | None = None) -> uvicorn.Config:
    """The uvicorn configuration, loaded, with the station CA accepted as a trust anchor by itself.

    OpenSSL normally insists on a chain ending at a self-signed root; ``VERIFY_X509_PARTIAL_CHAIN``
    lets the station CA (an intermediate) be the anchor, so that certificates the same root issued
    for other purposes can never pass as a station's.
    """
    config = uvicorn_config(settings, intake)
    config.load()
    assert config.ssl is not None
    config.ssl.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return config


def serve(settings: ReceiverSettings) -> None:
    uvicorn.Server(loaded_config(settings)).run()
