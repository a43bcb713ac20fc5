"""The reference receiver's own configuration: a TOML file with one ``[receiver]`` table.

The receiver is the registry's side of the wire, so it never reads the station's file (and the
station's configuration knows nothing of it).  The table is validated by pydantic (strict types,
unknown keys refused by name), so a typo such as ``prot = 8443`` is an error, not a silent default.
Every key pointing at key material that is left out is taken from the development PKI that the
caller hands over (``enrol receiver`` uses the station's ``data_dir/dev-pki``): one machine can run a
station and its receiver with no set-up, and a production receiver names every file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crypto.keys import read_secret
from crypto.pki import DevPki
from crypto.signed_data import SigningTimePolicy
from receiver.server import ReceiverSettings


class ReceiverConfigError(Exception):
    """The receiver's configuration file is unreadable or wrong; the message names the key."""


class ReceiverConfig(BaseModel):
    """``[receiver]``: where it listens, where it stores, and its key material (unset = development PKI)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8443, ge=1, le=65535)
    data_dir: Path | None = None
    name: str = Field("registry-dev", min_length=1)
    """Written into every signed receipt: which registry acknowledged the packet."""
    tls_certificate: Path | None = None
    tls_key: Path | None = None
    station_ca: Path | None = None
    decryption_certificate: Path | None = None
    decryption_key: Path | None = None
    decryption_passphrase_file: Path | None = None
    receipt_certificate: Path | None = None
    receipt_key: Path | None = None
    receipt_passphrase_file: Path | None = None
    crl: Path | None = None
    """The station CA's CRL (PEM or DER), applied to packet signers and TLS clients, reloaded when it changes."""
    stale_crl: Literal["warn", "refuse"] = "warn"
    """A CRL past its nextUpdate: only logged, or every packet and client of that CA refused."""
    clock_skew_s: int = Field(300, ge=0, le=86_400)
    """How far ahead of this clock a packet's signing time may be."""
    expiry_grace_days: int = Field(30, ge=0, le=3650)
    """How long after a station certificate expired its earlier signatures are accepted."""
    idle_timeout_s: int = Field(30, ge=1, le=3600)
    """A client that sends nothing of its upload for this long is cut off."""


def load_receiver_config(path: Path | None) -> ReceiverConfig:
    """The configuration in ``path`` (``[receiver]`` table), or the defaults when ``path`` is None."""
    if path is None:
        return ReceiverConfig()
    try:
        with path.open("rb") as stream:
            document = tomllib.load(stream)
    except OSError as error:
        raise ReceiverConfigError(f"{path}: cannot read: {error.strerror or error}") from error
    except tomllib.TOMLDecodeError as error:
        raise ReceiverConfigError(f"{path}: not valid TOML: {error}") from error
    unknown = sorted(set(document) - {"receiver"})
    if unknown:
        raise ReceiverConfigError(f"{path}: unknown table(s) {', '.join(unknown)}; a receiver file has [receiver]")
    table = document.get("receiver", {})
    if not isinstance(table, dict):
        raise ReceiverConfigError(f"{path}: [receiver] must be a table")
    try:
        # TOML has no path type: paths arrive as strings and are made paths here, before strict checking.
        return ReceiverConfig.model_validate({key: _path_if_named(key, value) for key, value in table.items()})
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}" for item in error.errors())
        raise ReceiverConfigError(f"{path} [receiver]: {problems}") from None


def _path_if_named(key: str, value: object) -> object:
    field = ReceiverConfig.model_fields.get(key)
    if field is not None and "Path" in str(field.annotation) and isinstance(value, str) and value:
        return Path(value).expanduser()
    return value


def receiver_settings(config: ReceiverConfig, *, dev_pki: Callable[[], DevPki],
                      default_data_dir: Path) -> ReceiverSettings:
    """The configuration as the paths the server needs; each unset key-material path from ``dev_pki()``
    (called only when one is unset: it may create the development PKI)."""
    paths = {
        "tls_certificate": config.tls_certificate, "tls_key": config.tls_key, "station_ca": config.station_ca,
        "decryption_certificate": config.decryption_certificate, "decryption_key": config.decryption_key,
        "receipt_certificate": config.receipt_certificate, "receipt_key": config.receipt_key,
    }
    if any(value is None for value in paths.values()):
        pki = dev_pki()
        defaults = {
            "tls_certificate": pki.tls_certificate, "tls_key": pki.tls_key, "station_ca": pki.station_ca,
            "decryption_certificate": pki.registry_certificate, "decryption_key": pki.registry_key,
            "receipt_certificate": pki.receipt_certificate, "receipt_key": pki.receipt_key,
        }
        paths = {name: value or defaults[name] for name, value in paths.items()}
    return ReceiverSettings(
        data_dir=config.data_dir or default_data_dir, **paths,  # type: ignore[arg-type]
        decryption_passphrase=read_secret(file=config.decryption_passphrase_file)
        if config.decryption_passphrase_file else None,
        receipt_passphrase=read_secret(file=config.receipt_passphrase_file)
        if config.receipt_passphrase_file else None,
        crl=config.crl, stale_crl=config.stale_crl, idle_timeout_s=float(config.idle_timeout_s),
        timing=SigningTimePolicy(clock_skew=timedelta(seconds=config.clock_skew_s),
                                 expiry_grace=timedelta(days=config.expiry_grace_days)),
        name=config.name, host=config.host, port=config.port)
