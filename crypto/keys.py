"""Key store: the station's signing key in a file (encrypted PKCS#8) or on a PKCS#11 token.

Signing code never touches a private key object directly; it asks a :class:`Signer` to sign a
SHA-256 digest.  That is what lets the same sealing code run with a key in a file (development,
small pilots) and with a key that never leaves a token (SoftHSM2 in tests; a TPM or a smart-card
HSM through its PKCS#11 module in production).

The passphrase of a key file is never in the configuration: it comes from a file readable only by
the station's user, or from a systemd credential (``$CREDENTIALS_DIRECTORY/<name>``, see
systemd.exec(5) "Credentials"), which systemd keeps off the disk in clear.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa, utils

from crypto.durable import write_atomically
from crypto.errors import CertificateMismatch, KeyStoreError


class Signer(Protocol):
    """Something that holds a station's ECDSA P-256 key and its certificate."""

    @property
    def certificate(self) -> x509.Certificate: ...

    def public_key(self) -> ec.EllipticCurvePublicKey: ...

    def sign_digest(self, digest: bytes) -> bytes:
        """ECDSA signature (DER ``Ecdsa-Sig-Value``, RFC 3279 §2.2.3) of a SHA-256 digest."""
        ...


def read_secret(*, file: Path | None = None, credential: str | None = None) -> bytes:
    """A passphrase or PIN from a file or a systemd credential, without its trailing newline."""
    if credential:
        directory = os.environ.get("CREDENTIALS_DIRECTORY")
        if not directory:
            raise KeyStoreError(f"systemd credential {credential!r} asked for but $CREDENTIALS_DIRECTORY is not set")
        file = Path(directory) / credential
    if file is None:
        raise KeyStoreError("no passphrase source configured (passphrase_file or passphrase_credential)")
    try:
        return file.read_bytes().rstrip(b"\r\n")
    except OSError as error:
        raise KeyStoreError(f"cannot read the passphrase from {file}: {error.strerror}") from error


def generate_station_key() -> ec.EllipticCurvePrivateKey:
    """A new P-256 key (the curve of RFC 5480 that every CMS and TLS stack supports)."""
    return ec.generate_private_key(ec.SECP256R1())


def write_encrypted_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, passphrase: bytes) -> None:
    """Write ``key`` as an encrypted PKCS#8 PEM (PBES2, AES-256-CBC, readable by ``openssl pkey``), mode 0600."""
    if not passphrase:
        raise KeyStoreError("refusing to write a private key with an empty passphrase")
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, pem)  # mode 0600 from the start: no window where another user could read it


def load_private_key(path: Path, passphrase: bytes | None) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    """Load a PEM private key (encrypted PKCS#8 when ``passphrase`` is given)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise KeyStoreError(f"cannot read the key file {path}: {error.strerror}") from error
    try:
        key = serialization.load_pem_private_key(data, password=passphrase or None)
    except (ValueError, TypeError) as error:
        raise KeyStoreError(f"cannot unlock {path}: wrong passphrase or not a PEM private key ({error})") from error
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise KeyStoreError(f"{path}: only EC and RSA keys are supported")
    return key


def load_certificate(path: Path) -> x509.Certificate:
    """One PEM (or DER) certificate."""
    return load_certificates(path)[0]


def load_certificates(path: Path) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle (or the one of a DER file)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise KeyStoreError(f"cannot read the certificate file {path}: {error.strerror}") from error
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as error:
        raise KeyStoreError(f"{path} is not a certificate: {error}") from error


def same_public_key(a: object, b: object) -> bool:
    """Whether two public keys are the same key (compared by their SubjectPublicKeyInfo)."""
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return a.public_bytes(*spki) == b.public_bytes(*spki)  # type: ignore[attr-defined]


@dataclass
class FileSigner:
    """A station key held in memory after being unlocked from an encrypted PKCS#8 file."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    def __post_init__(self) -> None:
        if not same_public_key(self.key.public_key(), self.certificate.public_key()):
            raise CertificateMismatch("the certificate does not belong to the station key")

    @classmethod
    def from_files(cls, key_file: Path, certificate_file: Path, passphrase: bytes) -> FileSigner:
        key = load_private_key(key_file, passphrase)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise KeyStoreError(f"{key_file}: the station key must be an EC (P-256) key")
        return cls(key, load_certificate(certificate_file))

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.key.public_key()

    def sign_digest(self, digest: bytes) -> bytes:
        return self.key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))


class Pkcs11Signer:
    """A station key that lives on a PKCS#11 token and signs there (``CKM_ECDSA`` over our SHA-256 digest).

    Hashing happens here and only the 32-byte digest crosses to the token, so slow tokens (smart
    cards, TPMs) sign a 10 MB packet as fast as a small one.  One session is opened per signer and
    calls are serialised, as PKCS#11 sessions are not meant to be shared between threads.
    """

    def __init__(self, module: str, token_label: str, key_label: str, pin: bytes,
                 certificate: x509.Certificate | None = None) -> None:
        import pkcs11
        from pkcs11 import KeyType, ObjectClass

        self._lock = threading.Lock()
        try:
            self._lib = pkcs11.lib(module)
            token = self._lib.get_token(token_label=token_label)
            self._session = open_session(token, pin)
            self._key = self._session.get_key(ObjectClass.PRIVATE_KEY, KeyType.EC, label=key_label)
            public = self._session.get_key(ObjectClass.PUBLIC_KEY, KeyType.EC, label=key_label)
        except (pkcs11.PKCS11Error, RuntimeError) as error:
            raise KeyStoreError(
                f"PKCS#11 token {token_label!r} key {key_label!r} via {module}: {type(error).__name__} {error}"
            ) from error
        self._public = serialization.load_der_public_key(_public_der(public))
        self._certificate = certificate
        if certificate is not None and not same_public_key(self._public, certificate.public_key()):
            raise CertificateMismatch("the certificate does not belong to the key on the token")

    @property
    def certificate(self) -> x509.Certificate:
        if self._certificate is None:
            raise KeyStoreError("no certificate installed for the token's key yet (run `enrol keys install`)")
        return self._certificate

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public  # type: ignore[return-value]

    def sign_digest(self, digest: bytes) -> bytes:
        from pkcs11 import Mechanism
        from pkcs11.util.ec import encode_ecdsa_signature

        with self._lock:
            raw = self._key.sign(digest, mechanism=Mechanism.ECDSA)
        return encode_ecdsa_signature(raw)  # PKCS#11 returns r || s; CMS wants the DER SEQUENCE

    def close(self) -> None:
        self._session.close()


def open_session(token: object, pin: bytes, *, rw: bool = False) -> object:
    """A logged-in session.  PKCS#11 login is per application, not per session (PKCS#11 v2.40 §5.6):
    when another session of this process is already logged in, the new one shares that login."""
    import pkcs11

    try:
        return token.open(user_pin=pin.decode(), rw=rw)  # type: ignore[attr-defined]
    except pkcs11.UserAlreadyLoggedIn:
        return token.open(rw=rw)  # type: ignore[attr-defined]


def _public_der(public_key: object) -> bytes:
    """The token's public key as DER SubjectPublicKeyInfo (python-pkcs11's encoder)."""
    from pkcs11.util.ec import encode_ec_public_key

    return encode_ec_public_key(public_key)


def generate_pkcs11_key(module: str, token_label: str, key_label: str, pin: bytes) -> ec.EllipticCurvePublicKey:
    """Generate a P-256 key pair on the token (private key non-extractable) and return its public key."""
    import pkcs11
    from pkcs11 import Attribute, KeyType
    from pkcs11.util.ec import encode_named_curve_parameters

    try:
        token = pkcs11.lib(module).get_token(token_label=token_label)
        with open_session(token, pin, rw=True) as session:
            parameters = session.create_domain_parameters(
                KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True)
            public, _private = parameters.generate_keypair(
                store=True, label=key_label,
                private_template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False})
            der = _public_der(public)
    except (pkcs11.PKCS11Error, RuntimeError) as error:
        raise KeyStoreError(
            f"cannot generate a key on PKCS#11 token {token_label!r}: {type(error).__name__}") from error
    return serialization.load_der_public_key(der)  # type: ignore[return-value]


@dataclass
class RecipientKey:
    """The registry's decryption key and its certificate (RSA for RSA-OAEP, EC P-256 for ECDH)."""

    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    def __post_init__(self) -> None:
        if not same_public_key(self.key.public_key(), self.certificate.public_key()):
            raise CertificateMismatch("the recipient certificate does not belong to the decryption key")

    @classmethod
    def from_files(cls, key_file: Path, certificate_file: Path, passphrase: bytes | None = None) -> RecipientKey:
        return cls(load_private_key(key_file, passphrase), load_certificate(certificate_file))
