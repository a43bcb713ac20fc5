"""Certificates: the station's CSR, checking an issued certificate, and the development PKI.

The development PKI lets a station and a receiver work together on one machine with no set-up:
a root, a station CA, the registry's encryption certificate, the receiver's receipt-signing and
TLS certificates and one station certificate.  Every subject says DEVELOPMENT - NOT FOR
PRODUCTION and the folder holds a README saying so; its CA keys sit next to the certificates,
which is exactly what a production PKI must never do.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asn1crypto import algos
from asn1crypto import csr as asn1_csr
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crypto.durable import write_atomically
from crypto.errors import CertificateMismatch, KeyStoreError, PacketError
from crypto.keys import (
    FileSigner,
    Signer,
    load_certificate,
    load_private_key,
    same_public_key,
    write_encrypted_key,
)
from crypto.trust import PACKET_SIGNING, RECEIPT_SIGNING, TrustStore, Usage

NOT_FOR_PRODUCTION = "DEVELOPMENT - NOT FOR PRODUCTION"


@dataclass(frozen=True)
class StationSubject:
    """Who a station is, as written in its certificate's subject."""

    station_id: str
    province: str
    """Province code (Vietnam's administrative unit codes, Decision 124/2004/QD-TTg), e.g. "40" for Nghe An."""
    district: str
    """District code of the same list, e.g. "412"."""

    def name(self, organisation: str = "Enrolment station") -> x509.Name:
        return x509.Name([
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, self.province),
            x509.NameAttribute(NameOID.LOCALITY_NAME, self.district),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, self.station_id),
        ])


def make_csr(subject: StationSubject, signer_key: Signer | ec.EllipticCurvePrivateKey) -> bytes:
    """A PKCS#10 request (RFC 2986), PEM, signed by the key wherever it lives (file or token).

    Built with asn1crypto rather than cryptography's builder so that a key on a PKCS#11 token,
    which cryptography cannot use, signs it through the same :class:`Signer` interface.
    """
    public_key = signer_key.public_key()
    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    info = asn1_csr.CertificationRequestInfo({
        "version": "v1",
        "subject": asn1_x509.Name.load(subject.name().public_bytes()),
        "subject_pk_info": asn1_keys.PublicKeyInfo.load(spki),
        "attributes": [],
    })
    digest = hashlib.sha256(info.dump()).digest()
    if isinstance(signer_key, ec.EllipticCurvePrivateKey):
        from cryptography.hazmat.primitives.asymmetric import utils

        signature = signer_key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    else:
        signature = signer_key.sign_digest(digest)
    request = asn1_csr.CertificationRequest({
        "certification_request_info": info,
        "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
        "signature": signature,
    })
    return x509.load_der_x509_csr(request.dump()).public_bytes(serialization.Encoding.PEM)


def check_issued_certificate(certificate: x509.Certificate, public_key: ec.EllipticCurvePublicKey,
                             station_ca: TrustStore, *, station_id: str, now: datetime | None = None) -> None:
    """Refuse a certificate that is not for this key, does not name this station, or does not chain
    to the station CA today for both things a station certificate does: sign packets and connect as
    a TLS client.  Each refusal here would otherwise surface later, packet after packet, at the registry."""
    if not same_public_key(certificate.public_key(), public_key):
        raise CertificateMismatch("the certificate is for another key than this station's")
    names = [str(a.value) for a in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if names != [station_id]:
        raise CertificateMismatch(f"the certificate names {', '.join(names) or 'no station'} as its common name, "
                                  f"not this station ({station_id})")
    for usage in (Usage.PACKET_SIGNING, Usage.TLS_CLIENT):
        try:
            station_ca.verify(certificate, at=now or datetime.now(UTC), usage=usage)
        except PacketError as error:
            raise CertificateMismatch(f"the certificate is not a station certificate of the station CA: {error}") \
                from error


def issue_certificate(subject: x509.Name, public_key: object, issuer: x509.Certificate | None,
                      issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool = False, days: int = 825,
                      usages: frozenset[str] = frozenset({"digital_signature"}),
                      extended: tuple[x509.ObjectIdentifier, ...] = (), dns: tuple[str, ...] = (),
                      not_before: datetime | None = None) -> x509.Certificate:
    """One X.509 v3 certificate with the extensions RFC 5280 asks for (self-signed when ``issuer`` is None)."""
    start = not_before or datetime.now(UTC) - timedelta(minutes=5)
    flags = {name: name in usages for name in (
        "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
        "key_agreement", "key_cert_sign", "crl_sign")}
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None if not ca or issuer is None else 0),
                       critical=True)
        .add_extension(x509.KeyUsage(**flags, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)  # type: ignore[arg-type]
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()), critical=False)  # type: ignore[arg-type]
    if extended:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(extended)), critical=False)
    if dns:
        names: list[x509.GeneralName] = []
        for entry in dns:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(entry)))
            except ValueError:
                names.append(x509.DNSName(entry))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def issue_station_certificate(csr_pem: bytes, ca_certificate: x509.Certificate,
                              ca_key: ec.EllipticCurvePrivateKey, *, days: int = 825,
                              not_before: datetime | None = None) -> x509.Certificate:
    """What a station CA does with a station's CSR (the development PKI's, and the tests')."""
    request = x509.load_pem_x509_csr(csr_pem)
    if not request.is_signature_valid:
        raise CertificateMismatch("the CSR's signature does not verify")
    # clientAuth for the TLS upload, packet signing for the packets (crypto.trust), and emailProtection
    # because CMS tools (openssl cms -verify) check the S/MIME signing purpose of a SignedData's signer.
    return issue_certificate(request.subject, request.public_key(), ca_certificate, ca_key, days=days,
                             usages=frozenset({"digital_signature", "content_commitment"}),
                             extended=(ExtendedKeyUsageOID.CLIENT_AUTH, PACKET_SIGNING,
                                       ExtendedKeyUsageOID.EMAIL_PROTECTION),
                             not_before=not_before)


@dataclass(frozen=True)
class DevPki:
    """Paths of the development PKI's files (all PEM)."""

    directory: Path

    def path(self, name: str) -> Path:
        return self.directory / name

    @property
    def root(self) -> Path:
        return self.path("root.pem")

    @property
    def station_ca(self) -> Path:
        return self.path("station-ca.pem")

    @property
    def station_ca_key(self) -> Path:
        return self.path("station-ca.key")

    @property
    def registry_certificate(self) -> Path:
        return self.path("registry-encryption.pem")

    @property
    def registry_key(self) -> Path:
        return self.path("registry-encryption.key")

    @property
    def receipt_certificate(self) -> Path:
        return self.path("receipt-signing.pem")

    @property
    def receipt_key(self) -> Path:
        return self.path("receipt-signing.key")

    @property
    def tls_certificate(self) -> Path:
        return self.path("receiver-tls.pem")

    @property
    def tls_key(self) -> Path:
        return self.path("receiver-tls.key")

    @property
    def station_certificate(self) -> Path:
        return self.path("station.pem")

    @property
    def station_key(self) -> Path:
        return self.path("station.key")

    @property
    def station_passphrase(self) -> Path:
        return self.path("station.pass")

    @property
    def complete(self) -> bool:
        return all(p.is_file() for p in (self.root, self.station_ca, self.registry_certificate, self.registry_key,
                                          self.receipt_certificate, self.receipt_key, self.tls_certificate,
                                          self.tls_key, self.station_certificate, self.station_key,
                                          self.station_passphrase))

    def station_signer(self) -> FileSigner:
        return FileSigner.from_files(self.station_key, self.station_certificate,
                                     self.station_passphrase.read_bytes().strip())

    def ca_key(self, path: Path) -> ec.EllipticCurvePrivateKey:
        key = load_private_key(path, None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise KeyStoreError(f"{path}: not an EC key")
        return key


def create_dev_pki(directory: Path, subject: StationSubject, *, registry_key_type: str = "ec") -> DevPki:
    """Make every certificate of the development PKI under ``directory`` (overwriting what is there).

    ``registry_key_type`` chooses the registry's encryption key: ``"ec"`` (P-256, ECDH key
    agreement) or ``"rsa"`` (3072-bit, RSA-OAEP key transport).
    """
    pki = DevPki(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "README.txt").write_text(
        f"{NOT_FOR_PRODUCTION}\n\nThis folder is a development PKI made by `enrol pki dev`. Its CA private keys\n"
        "are stored next to the certificates, unprotected.  Never use it for citizens' data.\n")

    def named(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, NOT_FOR_PRODUCTION),
                          x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    def save(certificate: x509.Certificate, key: object, certificate_path: Path, key_path: Path) -> None:
        certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        write_atomically(key_path, key.private_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

    root_key = ec.generate_private_key(ec.SECP256R1())
    root = issue_certificate(named("Enrolment dev root CA"), root_key.public_key(), None, root_key, ca=True,
                             days=3650, usages=frozenset({"key_cert_sign", "crl_sign"}))
    save(root, root_key, pki.root, pki.path("root.key"))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    station_ca = issue_certificate(named("Enrolment dev station CA"), ca_key.public_key(), root, root_key, ca=True,
                                   days=3650, usages=frozenset({"key_cert_sign", "crl_sign"}))
    save(station_ca, ca_key, pki.station_ca, pki.station_ca_key)

    if registry_key_type == "rsa":
        registry_key: object = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        usages = frozenset({"key_encipherment"})
    elif registry_key_type == "ec":
        registry_key = ec.generate_private_key(ec.SECP256R1())
        usages = frozenset({"key_agreement"})
    else:
        raise ValueError(f"registry key type must be 'ec' or 'rsa', not {registry_key_type!r}")
    registry = issue_certificate(named("Enrolment dev registry encryption"), registry_key.public_key(),  # type: ignore[attr-defined]
                                 root, root_key, usages=usages, extended=(ExtendedKeyUsageOID.EMAIL_PROTECTION,))
    save(registry, registry_key, pki.registry_certificate, pki.registry_key)

    receipt_key = ec.generate_private_key(ec.SECP256R1())
    receipt = issue_certificate(named("Enrolment dev receipt signing"), receipt_key.public_key(), root, root_key,
                                usages=frozenset({"digital_signature", "content_commitment"}),
                                extended=(RECEIPT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION))
    save(receipt, receipt_key, pki.receipt_certificate, pki.receipt_key)

    tls_key = ec.generate_private_key(ec.SECP256R1())
    tls = issue_certificate(named("localhost"), tls_key.public_key(), root, root_key,
                            usages=frozenset({"digital_signature", "key_agreement"}),
                            extended=(ExtendedKeyUsageOID.SERVER_AUTH,), dns=("localhost", "127.0.0.1", "::1"))
    save(tls, tls_key, pki.tls_certificate, pki.tls_key)

    passphrase = secrets.token_urlsafe(24).encode()
    write_atomically(pki.station_passphrase, passphrase + b"\n")
    station_key = ec.generate_private_key(ec.SECP256R1())
    write_encrypted_key(pki.station_key, station_key, passphrase)
    station = issue_station_certificate(make_csr(subject, station_key), station_ca, ca_key)
    pki.station_certificate.write_bytes(station.public_bytes(serialization.Encoding.PEM))
    return pki


def load_dev_pki(directory: Path, subject: StationSubject) -> DevPki:
    """The development PKI under ``directory``, created on first use, and made again when it is
    from before the packet-signing extended key usage (its packets would all be refused)."""
    pki = DevPki(directory)
    if not pki.complete or not _signs_packets(load_certificate(pki.station_certificate)):
        create_dev_pki(directory, subject)
    return pki


def _signs_packets(certificate: x509.Certificate) -> bool:
    try:
        return PACKET_SIGNING in certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
