"""The station's cryptographic identity, from ``[keys]`` or, when nothing is configured, the development PKI.

Everything sealing and uploading need: the signer (key file or PKCS#11 token), the chain sent
along with each packet, the registry's encryption certificate, the pinned receipt certificate and
the TLS material of the upload.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from crypto.errors import KeyStoreError
from crypto.keys import FileSigner, Pkcs11Signer, Signer, load_certificate, read_secret
from crypto.pki import NOT_FOR_PRODUCTION, DevPki, StationSubject, load_dev_pki
from crypto.trust import TrustStore
from station.config import KeysConfig, StationConfig

log = logging.getLogger(__name__)


@dataclass
class StationIdentity:
    signer: Signer
    chain: tuple[x509.Certificate, ...]
    registry_certificate: x509.Certificate
    receipt_trust: TrustStore
    tls_certificate: Path | None
    tls_key: Path | None
    tls_passphrase: bytes | None
    tls_ca: Path
    development: bool

    def ssl_context(self) -> ssl.SSLContext:
        """TLS client context: the receiver's CA, and the station's certificate as client certificate."""
        context = ssl.create_default_context(cafile=str(self.tls_ca))
        if self.tls_certificate is None or self.tls_key is None:
            raise KeyStoreError("the station's key is on a PKCS#11 token, which Python's TLS stack cannot use "
                                "for the client certificate; set [keys] tls_certificate and tls_key_file")
        context.load_cert_chain(self.tls_certificate, self.tls_key, password=self.tls_passphrase)
        return context


def dev_pki_dir(config: StationConfig) -> Path:
    return config.data_dir / "dev-pki"


def dev_pki(config: StationConfig) -> DevPki:
    """The development PKI under the data directory (made on first use, with a loud warning)."""
    directory = dev_pki_dir(config)
    pki = DevPki(directory)
    if not pki.complete:
        log.warning("no [keys] configured: creating a development PKI in %s (%s)", directory, NOT_FOR_PRODUCTION)
    keys = config.keys
    return load_dev_pki(directory, StationSubject(config.station_id, keys.province or "00", keys.district or "000"))


def load_identity(config: StationConfig) -> StationIdentity:
    """The station's identity from its configuration; the development PKI when ``[keys]`` is empty
    on the simulated station.

    A real station (``simulated = false``) with an empty ``[keys]`` is refused: a development PKI
    made on its own disk would put the registry's unencrypted decryption key beside the packets it
    is meant to protect, and every packet would be sealed for a registry that does not exist.
    """
    keys = config.keys
    if not keys.configured and not config.simulated:
        raise KeyStoreError(
            "[keys] is empty, and this is a real station (simulated = false): set [keys] key_file (or "
            "pkcs11_module), certificate, registry_certificate, receipt_certificate and tls_ca to the files "
            "the province issued (docs/station.example.toml; `enrol keys install`). Only the simulated "
            "station (simulated = true, or --sim) makes a development PKI.")
    if not keys.configured:
        pki = dev_pki(config)
        return StationIdentity(
            signer=pki.station_signer(),
            chain=(load_certificate(pki.station_ca),),
            registry_certificate=load_certificate(pki.registry_certificate),
            receipt_trust=TrustStore([load_certificate(pki.receipt_certificate)]),
            tls_certificate=pki.station_certificate, tls_key=pki.station_key,
            tls_passphrase=pki.station_passphrase.read_bytes().strip(), tls_ca=pki.root, development=True)
    for name in ("certificate", "registry_certificate", "receipt_certificate", "tls_ca"):
        if getattr(keys, name) is None:
            raise KeyStoreError(f"[keys] {name} must be set when a station key is configured")
    if keys.tls_key_file is not None and keys.tls_certificate is None:
        raise KeyStoreError("[keys] tls_certificate must be set with tls_key_file")
    certificate = load_certificate(keys.certificate)  # type: ignore[arg-type]
    signer, passphrase = _signer(keys, certificate)
    chain = (load_certificate(keys.station_ca),) if keys.station_ca else ()
    if keys.tls_key_file is not None:  # a transport identity of its own (required with a PKCS#11 signing key)
        tls_certificate, tls_key = keys.tls_certificate, keys.tls_key_file
        passphrase = read_secret(file=keys.passphrase_file, credential=keys.passphrase_credential)
    else:
        tls_certificate, tls_key = (keys.certificate, keys.key_file) if keys.key_file else (None, None)
    return StationIdentity(
        signer=signer, chain=chain,
        registry_certificate=load_certificate(keys.registry_certificate),  # type: ignore[arg-type]
        receipt_trust=TrustStore([load_certificate(keys.receipt_certificate)]),  # type: ignore[arg-type]
        tls_certificate=tls_certificate, tls_key=tls_key,
        tls_passphrase=passphrase, tls_ca=keys.tls_ca, development=False)  # type: ignore[arg-type]


def _signer(keys: KeysConfig, certificate: x509.Certificate) -> tuple[Signer, bytes | None]:
    if keys.pkcs11_module:
        if not keys.pkcs11_token:
            raise KeyStoreError("[keys] pkcs11_token must name the token")
        pin = read_secret(file=keys.pin_file, credential=keys.pin_credential)
        return Pkcs11Signer(keys.pkcs11_module, keys.pkcs11_token, keys.pkcs11_label, pin, certificate), None
    passphrase = read_secret(file=keys.passphrase_file, credential=keys.passphrase_credential)
    assert keys.key_file is not None
    return FileSigner.from_files(keys.key_file, keys.certificate, passphrase), passphrase  # type: ignore[arg-type]
