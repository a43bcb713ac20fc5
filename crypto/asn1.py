"""Between asn1crypto's CMS structures and `cryptography`'s objects: one copy of each conversion.

asn1crypto parses and builds CMS (RFC 5652) but does no cryptography; `cryptography` does the
cryptography but has no CMS structures beyond what PKCS#7 signing needs.  Every CMS user here
(SignedData for packets, receipts and ICAO EF.SOD; AuthEnvelopedData; ICAO master lists) crosses
between the two with these helpers.
"""

from __future__ import annotations

from asn1crypto import cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from crypto.errors import MalformedPacket

HASH_ALGORITHMS: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256, "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
"""The SHA-1 and SHA-2 hash algorithms by asn1crypto's name (RFC 3370 §2.1, RFC 5754 §2).

SHA-1 stays readable because ICAO 9303 documents signed with it are still in circulation; what a
caller accepts beyond that is its own policy (packets and receipts demand SHA-256)."""


def digest(algorithm: str, data: bytes) -> bytes:
    """``data`` hashed with the algorithm asn1crypto calls ``algorithm``; :class:`MalformedPacket`
    when it is not one of :data:`HASH_ALGORITHMS` (a structure naming a hash we cannot compute)."""
    if algorithm not in HASH_ALGORITHMS:
        raise MalformedPacket(f"hash algorithm {algorithm} is not supported")
    hasher = hashes.Hash(HASH_ALGORITHMS[algorithm]())
    hasher.update(data)
    return hasher.finalize()


def load_content_info(data: bytes, content_type: str) -> core.Asn1Value:
    """The content of a DER/BER ``ContentInfo`` (RFC 5652 §3) that must be of ``content_type``
    (asn1crypto's name, e.g. ``"signed_data"``); :class:`MalformedPacket` otherwise."""
    try:
        info = cms.ContentInfo.load(data)
        found = info["content_type"].native
        content = info["content"]
    except (ValueError, TypeError, KeyError) as error:
        raise MalformedPacket(f"not a CMS ContentInfo: {error}") from error
    if found != content_type:
        raise MalformedPacket(f"expected CMS {content_type}, found {found}")
    return content


def to_asn1_certificate(certificate: x509.Certificate) -> asn1_x509.Certificate:
    """The asn1crypto view of a certificate, for building CMS structures that name it."""
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def from_asn1_certificate(certificate: core.Asn1Value) -> x509.Certificate:
    """A certificate found inside a CMS structure, as a `cryptography` object that can verify."""
    return x509.load_der_x509_certificate(certificate.dump())
