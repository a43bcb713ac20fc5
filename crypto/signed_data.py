"""CMS SignedData (RFC 5652 §5): made for the station's packets and the registry's receipts, and
checked - for those and for the EF.SOD of an ICAO 9303 document - by the one verifier below.

What we produce is what ``openssl cms -verify`` expects: the content encapsulated (not detached),
one SignerInfo identified by issuer and serial number, signed attributes content-type,
message-digest and signing-time (RFC 5652 §11), SHA-256 and ECDSA (RFC 5753 §2.1.1, RFC 5758
§3.2 ``ecdsa-with-SHA256``), and the signer's certificate plus its chain in ``certificates``.

Checking comes in steps, so that passive authentication (ICAO 9303-11 §5.1) can report each one
on its own and never stop at the first, while :func:`verify` runs them all for packets and receipts:

1. :func:`parse` - a ContentInfo holding SignedData with encapsulated content (RFC 5652 §5.1-5.2);
   :func:`single_signer` - exactly one SignerInfo.
2. :func:`signer_certificate` - the certificate the SignerInfo's ``sid`` names (RFC 5652 §5.3),
   among the SignedData's ``certificates``.
3. :func:`check_signed_attributes` - the content-type attribute equals the eContentType and the
   message-digest attribute the digest of the eContent with the SignerInfo's digest algorithm
   (RFC 5652 §5.4, §11.1, §11.2).
4. :func:`verify_signature` - the signature, with a certificate the caller chose, over the DER of
   the signed attributes as a SET OF (RFC 5652 §5.4): RSA PKCS#1 v1.5 (RFC 3370 §3.2), RSASSA-PSS
   with the SignerInfo's parameters (RFC 4056), ECDSA with a DER signature (RFC 5753 §2.1.1) or
   a plain ``r || s`` one (BSI TR-03111 §5.2.1, written by some countries' Document Signers).

Signed attributes are required: both users' profiles demand them (ICAO 9303-10 §4.6.2), so a
signature over the bare content is never accepted.  Each step raises a
:class:`crypto.errors.PacketError`: :class:`MalformedPacket` for a structure that is not what CMS
requires or an algorithm we do not support, :class:`TamperedPacket` for a check that fails,
:class:`UnknownSigner` for a signer's certificate that is not there.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from asn1crypto import algos, cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from crypto import der
from crypto.asn1 import HASH_ALGORITHMS, digest, from_asn1_certificate, load_content_info, to_asn1_certificate
from crypto.errors import BadSigningTime, CertificateExpired, MalformedPacket, TamperedPacket, UnknownSigner
from crypto.keys import Signer
from crypto.trust import TrustStore, Usage

_ECDSA_SHA256 = {"sha256_ecdsa", "ecdsa"}
"""Signature algorithms packets and receipts may carry: ``ecdsa-with-SHA256``, or the bare key OID some write."""
_ECDSA_PLAIN = {"0.4.0.127.0.7.1.1.4.1.1": "sha1", "0.4.0.127.0.7.1.1.4.1.2": "sha224",
                "0.4.0.127.0.7.1.1.4.1.3": "sha256", "0.4.0.127.0.7.1.1.4.1.4": "sha384",
                "0.4.0.127.0.7.1.1.4.1.5": "sha512"}
"""BSI TR-03111 §5.2.1 ``ecdsa-plain-SHA*``: the signature is ``r || s``, each as long as the order."""


@dataclass(frozen=True)
class ParsedSignedData:
    """A SignedData taken apart (RFC 5652 §5.1); nothing in it is checked yet."""

    content_type: str
    """The eContentType, as a dotted OID."""
    content: memoryview
    """The eContent's octets: a view of the bytes parsed (a constructed BER OCTET STRING is joined)."""
    certificates: tuple[asn1_x509.Certificate, ...]
    signer_infos: tuple[cms.SignerInfo, ...]


@dataclass(frozen=True)
class SignedAttributes:
    """What the checked signed attributes say beyond the two that were checked."""

    digest_algorithm: str
    """The SignerInfo's digest algorithm (asn1crypto's name), with which message-digest was checked."""
    signing_time: datetime | None
    """RFC 5652 §11.3 signing-time, if the signer wrote one."""


@dataclass(frozen=True)
class SignedContent:
    """What a verified SignedData says: the content, who signed it, when, and the chain that was checked."""

    content: memoryview
    content_type: str
    signer: x509.Certificate
    signing_time: datetime
    chain: tuple[x509.Certificate, ...]


ENCAPSULATED_CONTENT = (der.SEQUENCE, der.EXPLICIT_0, der.SEQUENCE, der.SEQUENCE, der.EXPLICIT_0, der.OCTET_STRING)
"""The path to the eContent: ContentInfo, its [0] content, SignedData, its (first SEQUENCE)
encapContentInfo, that one's ``[0] EXPLICIT`` eContent and the OCTET STRING in it (RFC 5652 §5.1, §5.2)."""


def sign(content: der.Buffer, signer: Signer, *, chain: Sequence[x509.Certificate] = (),
         signing_time: datetime | None = None, content_type: str = "data") -> bytes:
    """A DER ``ContentInfo`` holding SignedData over ``content``."""
    head, tail = sign_around(content, signer, chain=chain, signing_time=signing_time, content_type=content_type)
    return b"".join((head, content, tail))


def sign_around(content: der.Buffer, signer: Signer, *, chain: Sequence[x509.Certificate] = (),
                signing_time: datetime | None = None, content_type: str = "data") -> tuple[bytes, bytes]:
    """What :func:`sign` makes, as the DER before and after ``content``: a large content is then never
    copied into a SignedData of its own (the envelope encrypts the three pieces in turn)."""
    certificate = to_asn1_certificate(signer.certificate)
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
        "encap_content_info": {"content_type": content_type, "content": b""},
        "certificates": [certificate, *(to_asn1_certificate(extra) for extra in chain)],
        "signer_infos": [signer_info],
    })
    structure = cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()
    return der.splice(structure, ENCAPSULATED_CONTENT, len(memoryview(content)))


@dataclass(frozen=True)
class SigningTimePolicy:
    """How a signing time is judged against this side's clock (the receiver's configuration sets it)."""

    clock_skew: timedelta = timedelta(minutes=5)
    """How far ahead of this clock a signing time may be: two clocks never agree exactly, but a
    signature dated an hour ahead is either a broken clock or a forger's choice."""
    expiry_grace: timedelta = timedelta(days=30)
    """How long after the signer's certificate expired a signature made while it was valid is still
    accepted.  A station may be offline for weeks, so its last packets arrive after its certificate
    ran out; without a limit, a certificate's key would stay useful forever to whoever stole it,
    who need only date each signature back."""


DEFAULT_TIMING = SigningTimePolicy()


def verify(data: bytes, trust: TrustStore, *, usage: Usage, timing: SigningTimePolicy = DEFAULT_TIMING,
           now: datetime | None = None) -> SignedContent:
    """Check a packet's or a receipt's SignedData: every step above, then the signing time against
    ``now`` (:class:`SigningTimePolicy`), then the signer's chain for ``usage`` at the signing time.

    Our profile on top of CMS: SHA-256 and ECDSA only, and signing-time present.  Raises
    :class:`MalformedPacket` (not such a SignedData), :class:`TamperedPacket` (digest or signature
    wrong), :class:`BadSigningTime`, :class:`UnknownSigner` or the trust store's errors (unknown
    signer, expired, revoked).
    """
    signed = parse(data)
    signer_info = single_signer(signed)
    signer = signer_certificate(signed, signer_info)
    digest_name = signer_info["digest_algorithm"]["algorithm"].native
    if digest_name != "sha256":
        raise MalformedPacket(f"digest algorithm {digest_name} is not SHA-256")
    signature_name = signer_info["signature_algorithm"]["algorithm"].native
    if signature_name not in _ECDSA_SHA256:
        raise MalformedPacket(f"signature algorithm {signature_name} is not ECDSA with SHA-256")
    attributes = check_signed_attributes(signed, signer_info)
    signing_time = attributes.signing_time
    if signing_time is None:
        raise MalformedPacket("the signed attribute signing_time is missing (packets and receipts carry it)")
    verify_signature(signer_info, signer)
    now = now or datetime.now(UTC)
    if signing_time > now + timing.clock_skew:
        raise BadSigningTime(f"signed at {signing_time:%Y-%m-%d %H:%M:%S}Z, later than this clock "
                             f"({now:%Y-%m-%d %H:%M:%S}Z) allows with {timing.clock_skew} of skew")
    extras = [_certificate(certificate) for certificate in signed.certificates]
    chain = trust.verify(signer, at=signing_time, usage=usage, intermediates=extras, now=now)
    if now > signer.not_valid_after_utc + timing.expiry_grace:
        raise CertificateExpired(f"{signer.subject.rfc4514_string()} expired {signer.not_valid_after_utc:%Y-%m-%d}; "
                                 f"what it signed before is accepted for {timing.expiry_grace.days} days after")
    return SignedContent(signed.content, cms.ContentType(signed.content_type).native, signer,
                         signing_time, tuple(chain))


def parse(data: der.Buffer) -> ParsedSignedData:
    """Take a DER (or BER) ``ContentInfo`` holding SignedData apart; :class:`MalformedPacket` if it
    is not one, or if the content is detached (RFC 5652 §5.2: both our users encapsulate it).
    The content is not copied out of ``data`` when it is DER (:mod:`crypto.der`)."""
    hollowed = der.hollow(data, ENCAPSULATED_CONTENT)
    structure, content_view = hollowed if hollowed is not None else (bytes(data), None)
    signed_data = load_content_info(structure, "signed_data")
    try:
        encap = signed_data["encap_content_info"]
        content_type = encap["content_type"].dotted
        content = encap["content"]
        choices = signed_data["certificates"]  # OPTIONAL: a signer may leave its certificate out
        certificates = () if isinstance(choices, core.Void) else tuple(
            choice.chosen for choice in choices if choice.name == "certificate")
        signer_infos = tuple(signed_data["signer_infos"])
        # Parse every SignerInfo and certificate now: asn1crypto parses lazily, and a structure
        # that does not parse is malformed here rather than a surprise in a later step.
        for value in (*signer_infos, *certificates):
            _ = value.native
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError) as error:
        # asn1crypto meets corrupt DER with any of these (AttributeError for a child it could not
        # parse, IndexError / OverflowError for lengths and integers that run off the data).
        raise MalformedPacket(f"not a CMS SignedData: {error}") from error
    if isinstance(content, core.Void):
        raise MalformedPacket("the SignedData has no encapsulated content (detached signatures are not accepted)")
    if content_view is None:  # BER: asn1crypto joined the pieces
        content_view = memoryview(bytes(content))
    return ParsedSignedData(content_type, content_view, certificates, signer_infos)


def single_signer(signed: ParsedSignedData) -> cms.SignerInfo:
    """The SignerInfo of a SignedData that must have exactly one (packets, receipts, EF.SOD)."""
    if len(signed.signer_infos) != 1:
        raise MalformedPacket(f"expected exactly one signer, found {len(signed.signer_infos)}")
    return signed.signer_infos[0]


def signer_certificate(signed: ParsedSignedData, signer_info: cms.SignerInfo) -> x509.Certificate:
    """The certificate of ``signed.certificates`` that ``signer_info``'s ``sid`` names, by issuer
    and serial number or by subject key identifier (RFC 5652 §5.3); :class:`UnknownSigner` if none."""
    sid = signer_info["sid"]
    for certificate in signed.certificates:
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            # asn1crypto compares names as RFC 5280 §7.1 says (case and spaces folded), as a signer may re-encode them.
            if certificate.issuer == wanted["issuer"] and certificate.serial_number == wanted["serial_number"].native:
                return _certificate(certificate)
        elif certificate.key_identifier == sid.chosen.native:
            return _certificate(certificate)
    raise UnknownSigner("the signer's certificate is not in the SignedData")


def check_signed_attributes(signed: ParsedSignedData, signer_info: cms.SignerInfo) -> SignedAttributes:
    """Check the content-type and message-digest attributes that bind the signature to the content.

    RFC 5652 §11.1-11.3: each of content-type, message-digest and signing-time occurs at most once,
    with exactly one value; the first two are required when there are signed attributes, and we
    require signed attributes.  :class:`MalformedPacket` for a missing or repeated attribute or an
    unsupported digest algorithm, :class:`TamperedPacket` for a value that differs.
    """
    attributes = signer_info["signed_attrs"]
    if not attributes:
        raise MalformedPacket("the SignerInfo has no signed attributes (content-type and message-digest are required)")
    values: dict[str, list[core.Asn1Value]] = {}
    for attribute in attributes:
        values.setdefault(attribute["type"].native, []).append(attribute["values"])

    def single(name: str) -> core.Asn1Value:
        instances = values.get(name, [])
        if len(instances) != 1 or len(instances[0]) != 1:
            raise MalformedPacket(f"the signed attribute {name} must occur once with one value, "
                                  f"found {len(instances)} instance(s)")
        return instances[0][0]

    content_type = single("content_type")
    message_digest = single("message_digest")
    signing_time = single("signing_time") if "signing_time" in values else None
    if content_type.dotted != signed.content_type:
        raise TamperedPacket(f"the signed content-type {content_type.dotted} differs from the eContentType "
                             f"{signed.content_type}")
    digest_name = signer_info["digest_algorithm"]["algorithm"].native
    if not hmac.compare_digest(message_digest.native, digest(digest_name, signed.content)):
        raise TamperedPacket(f"the content's {digest_name} digest differs from the signed message-digest")
    return SignedAttributes(digest_name, None if signing_time is None else signing_time.native)


def verify_signature(signer_info: cms.SignerInfo, certificate: x509.Certificate) -> None:
    """Verify ``signer_info``'s signature over its signed attributes with ``certificate``'s key.

    The signed bytes are the signed attributes as received with the ``[0] IMPLICIT`` tag replaced by
    the SET OF tag (RFC 5652 §5.4) - the DER the signer produced, not a re-encoding of it: a signer
    that left its SET OF unsorted still verifies, and the attributes checked are exactly the bytes
    signed either way.  :class:`TamperedPacket`
    if the signature does not verify, :class:`MalformedPacket` for an algorithm that is not
    supported or does not fit the key.
    """
    attributes = signer_info["signed_attrs"]
    if not attributes:
        raise MalformedPacket("the SignerInfo has no signed attributes, and a signature over the bare content "
                              "is not accepted")
    signed_bytes = b"\x31" + attributes.dump()[1:]
    algorithm = signer_info["signature_algorithm"]
    signature = signer_info["signature"].native
    try:
        public_key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm) as error:
        raise MalformedPacket(f"the signer's public key cannot be used: {error}") from error
    oid = algorithm["algorithm"].dotted
    try:
        name = "ecdsa_plain" if oid in _ECDSA_PLAIN else algorithm.signature_algo
    except ValueError:
        raise MalformedPacket(f"signature algorithm {oid} is not supported") from None
    try:
        if name in ("ecdsa", "ecdsa_plain") and isinstance(public_key, ec.EllipticCurvePublicKey):
            if name == "ecdsa_plain":
                signature, hash_name = _plain_to_der(signature, public_key), _ECDSA_PLAIN[oid]
            else:
                hash_name = _signature_hash(algorithm, signer_info)
            public_key.verify(signature, signed_bytes, ec.ECDSA(_hash(hash_name)))
        elif name == "rsassa_pkcs1v15" and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, signed_bytes, padding.PKCS1v15(),
                              _hash(_signature_hash(algorithm, signer_info)))
        elif name == "rsassa_pss" and isinstance(public_key, rsa.RSAPublicKey):
            pss, hash_algorithm = _pss(algorithm["parameters"])
            public_key.verify(signature, signed_bytes, pss, hash_algorithm)
        else:
            raise MalformedPacket(f"signature algorithm {name} with a {type(public_key).__name__} is not supported")
    except InvalidSignature:
        raise TamperedPacket("the signature does not verify") from None
    except UnsupportedAlgorithm as error:
        raise MalformedPacket(f"cannot verify: {error}") from error


def _signature_hash(algorithm: algos.SignedDigestAlgorithm, signer_info: cms.SignerInfo) -> str:
    """The hash of ``ecdsa-with-SHA*`` / ``sha*WithRSAEncryption``, or - for the bare key OIDs
    (``rsaEncryption``, RFC 3370 §3.2; ``id-ecPublicKey``) - the SignerInfo's digest algorithm."""
    try:
        return algorithm.hash_algo
    except ValueError:
        return signer_info["digest_algorithm"]["algorithm"].native


def _pss(parameters: core.Asn1Value) -> tuple[padding.PSS, hashes.HashAlgorithm]:
    """Padding and hash from RSASSA-PSS-params (RFC 4055 §3.1), which a signature's algorithm
    identifier must carry; MGF1 is the only mask generation function and trailerField must be 1."""
    if not isinstance(parameters, algos.RSASSAPSSParams):
        raise MalformedPacket("RSASSA-PSS without its parameters (RFC 4055 §3.1 requires them with a signature)")
    mask = parameters["mask_gen_algorithm"]
    if mask["algorithm"].native != "mgf1":
        raise MalformedPacket(f"RSASSA-PSS mask generation {mask['algorithm'].native} is not MGF1")
    if parameters["trailer_field"].native != "trailer_field_bc":
        raise MalformedPacket("RSASSA-PSS trailer field is not 1 (RFC 4055 §3.1)")
    mgf_hash = _hash(mask["parameters"]["algorithm"].native)
    return (padding.PSS(padding.MGF1(mgf_hash), parameters["salt_length"].native),
            _hash(parameters["hash_algorithm"]["algorithm"].native))


def _plain_to_der(signature: bytes, public_key: ec.EllipticCurvePublicKey) -> bytes:
    size = (public_key.curve.key_size + 7) // 8
    if len(signature) != 2 * size:
        raise TamperedPacket(f"a plain ECDSA signature on {public_key.curve.name} has {2 * size} bytes, "
                             f"not {len(signature)}")
    return encode_dss_signature(int.from_bytes(signature[:size]), int.from_bytes(signature[size:]))  # big-endian


def _hash(name: str) -> hashes.HashAlgorithm:
    if name not in HASH_ALGORITHMS:
        raise MalformedPacket(f"hash algorithm {name} is not supported")
    return HASH_ALGORITHMS[name]()


def _certificate(certificate: asn1_x509.Certificate) -> x509.Certificate:
    try:
        return from_asn1_certificate(certificate)
    except ValueError as error:
        raise MalformedPacket(f"a certificate of the SignedData does not load: {error}") from error


def _cms_time(when: datetime) -> cms.Time:
    # RFC 5652 §11.3: UTCTime for 1950-2049, GeneralizedTime otherwise.
    if 1950 <= when.year < 2050:
        return cms.Time({"utc_time": core.UTCTime(when)})
    return cms.Time({"general_time": core.GeneralizedTime(when)})
