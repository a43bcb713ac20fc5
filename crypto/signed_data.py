"""CMS SignedData (RFC 5652 §5) made and checked with asn1crypto structures and `cryptography` primitives.

What we produce is what ``openssl cms -verify`` expects: the content encapsulated (not detached),
one SignerInfo identified by issuer and serial number, signed attributes content-type,
message-digest and signing-time (RFC 5652 §11), SHA-256 and ECDSA (RFC 5753 §2.1.1, RFC 5758
§3.2 ``ecdsa-with-SHA256``), and the signer's certificate plus its chain in ``certificates``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import algos, cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from crypto.errors import MalformedPacket, TamperedPacket, UnknownSigner
from crypto.keys import Signer
from crypto.trust import TrustStore

_ECDSA_SHA256 = {"sha256_ecdsa", "ecdsa"}
"""Signature algorithm ids we accept: ``ecdsa-with-SHA256``, or the bare key OID some signers write."""


@dataclass(frozen=True)
class SignedContent:
    """What a verified SignedData says: the content, who signed it, when, and the chain that was checked."""

    content: bytes
    content_type: str
    signer: x509.Certificate
    signing_time: datetime
    chain: tuple[x509.Certificate, ...]


def sign(content: bytes, signer: Signer, *, chain: Sequence[x509.Certificate] = (),
         signing_time: datetime | None = None, content_type: str = "data") -> bytes:
    """A DER ``ContentInfo`` holding SignedData over ``content``."""
    certificate = _to_asn1(signer.certificate)
    when = (signing_time or datetime.now(UTC)).replace(microsecond=0)
    attributes = [
        cms.CMSAttribute({"type": "content_type", "values": [content_type]}),
        cms.CMSAttribute({"type": "signing_time", "values": [_cms_time(when)]}),
        cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(content).digest()]}),
    ]
    # DER sorts a SET OF by encoding (X.690 §11.6); verifiers re-encode before checking the
    # signature, so an unsorted set would not verify in OpenSSL.
    attributes.sort(key=lambda attribute: attribute.dump())
    signed_attrs = cms.CMSAttributes(attributes)
    signature = signer.sign_digest(hashlib.sha256(signed_attrs.dump()).digest())
    signer_info = cms.SignerInfo({
        "version": "v1",
        "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber({
            "issuer": certificate.issuer, "serial_number": certificate.serial_number})}),
        "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
        "signed_attrs": signed_attrs,
        "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
        "signature": signature,
    })
    signed_data = cms.SignedData({
        "version": "v1",
        "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
        "encap_content_info": {"content_type": content_type, "content": content},
        "certificates": [certificate, *(_to_asn1(extra) for extra in chain)],
        "signer_infos": [signer_info],
    })
    return cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()


def verify(data: bytes, trust: TrustStore) -> SignedContent:
    """Check a SignedData: digest, signature, and the signer's chain at the signing time.

    Raises :class:`MalformedPacket` (not SignedData), :class:`TamperedPacket` (digest or signature
    wrong) or the trust store's errors (unknown signer, expired, revoked).
    """
    try:
        info = cms.ContentInfo.load(data)
        if info["content_type"].native != "signed_data":
            raise MalformedPacket(f"expected CMS SignedData, found {info['content_type'].native}")
        signed_data = info["content"]
        signer_infos = signed_data["signer_infos"]
        encap = signed_data["encap_content_info"]
        content = encap["content"].native
        content_type = encap["content_type"].native
        certificates = [c.chosen for c in signed_data["certificates"] if c.name == "certificate"]
    except (ValueError, TypeError, KeyError) as error:
        raise MalformedPacket(f"not a CMS SignedData: {error}") from error
    if len(signer_infos) != 1:
        raise MalformedPacket(f"expected exactly one signer, found {len(signer_infos)}")
    if content is None:
        raise MalformedPacket("the SignedData has no encapsulated content (detached signatures are not packets)")
    signer_info = signer_infos[0]
    signer = _find_signer(signer_info["sid"], certificates)
    digest_name = signer_info["digest_algorithm"]["algorithm"].native
    if digest_name != "sha256":
        raise MalformedPacket(f"digest algorithm {digest_name} is not SHA-256")
    signature_name = signer_info["signature_algorithm"]["algorithm"].native
    if signature_name not in _ECDSA_SHA256:
        raise MalformedPacket(f"signature algorithm {signature_name} is not ECDSA with SHA-256")
    attrs = signer_info["signed_attrs"]
    if not attrs:
        raise MalformedPacket("signed attributes are missing (content-type, message-digest, signing-time required)")
    values = {attribute["type"].native: attribute["values"] for attribute in attrs}
    for required in ("content_type", "message_digest", "signing_time"):
        if required not in values or len(values[required]) != 1:
            raise MalformedPacket(f"signed attribute {required} is missing or repeated")
    if values["content_type"][0].native != content_type:
        raise TamperedPacket("the signed content-type differs from the encapsulated one")
    if values["message_digest"][0].native != hashlib.sha256(content).digest():
        raise TamperedPacket("the content's SHA-256 differs from the signed message-digest")
    signing_time = values["signing_time"][0].native
    # The signature covers the DER of the attributes as a SET OF (RFC 5652 §5.4), not as [0] IMPLICIT.
    signed_bytes = b"\x31" + attrs.dump()[1:]
    public_key = signer.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise MalformedPacket("the signer's key is not an EC key")
    try:
        public_key.verify(signer_info["signature"].native, signed_bytes, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise TamperedPacket("the signature does not verify") from None
    extras = [_from_asn1(certificate) for certificate in certificates]
    chain = trust.verify(signer, at=signing_time, intermediates=extras)
    return SignedContent(content, content_type, signer, signing_time, tuple(chain))


def _find_signer(sid: cms.SignerIdentifier, certificates: list[asn1_x509.Certificate]) -> x509.Certificate:
    for certificate in certificates:
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            if certificate.issuer == wanted["issuer"] and certificate.serial_number == wanted["serial_number"].native:
                return _from_asn1(certificate)
        elif certificate.key_identifier == sid.chosen.native:
            return _from_asn1(certificate)
    raise UnknownSigner("the signer's certificate is not in the SignedData")


def _cms_time(when: datetime) -> cms.Time:
    # RFC 5652 §11.3: UTCTime for 1950-2049, GeneralizedTime otherwise.
    if 1950 <= when.year < 2050:
        return cms.Time({"utc_time": core.UTCTime(when)})
    return cms.Time({"general_time": core.GeneralizedTime(when)})


def _to_asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def _from_asn1(certificate: asn1_x509.Certificate) -> x509.Certificate:
    return x509.load_der_x509_certificate(certificate.dump())
