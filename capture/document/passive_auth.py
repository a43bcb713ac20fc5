"""Passive authentication (ICAO Doc 9303-11 section 5.1; SOD format 9303-10 4.6.2): proves that
the data groups read from the chip are the ones the issuing country signed.

EF.SOD is ``77 { ContentInfo(SignedData v3) }`` whose encapsulated content (type
id-ldsSecurityObject 2.23.136.1.1.1) is ``LDSSecurityObject ::= SEQUENCE { version, hashAlgorithm,
SEQUENCE OF { dataGroupNumber, dataGroupHashValue }, ldsVersionInfo OPTIONAL }``.  The checks,
each reported as its own :class:`VerificationStep`:

1. SOD structure - the CMS and the LDSSecurityObject parse; one signer; its certificate is present.
2. SOD signed attributes - contentType equals the eContentType, messageDigest equals the hash of
   the eContent (RFC 5652 5.4).
3. SOD signature - the Document Signer's signature over the DER of the signed attributes, encoded
   as a SET (tag 31, not the [0] they are stored under; RFC 5652 5.4).
4. Document Signer certificate - issued by a CSCA of the trust store (name and signature), and both
   within their validity period now.
5. One step per data group read: its hash over the whole file (tag, length, value) equals the
   SOD's; a data group the SOD does not list fails.

A step that cannot run because an earlier one failed reads ``passed=None`` - never verified.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import algos, cms, core
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from capture.document.identity import VerificationStep
from capture.document.tlv import TlvError, read_single

log = logging.getLogger(__name__)

ID_LDS_SECURITY_OBJECT = "2.23.136.1.1.1"
ID_CSCA_MASTER_LIST = "2.23.136.1.1.2"
_HASHES = {"sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256, "sha384": hashes.SHA384,
           "sha512": hashes.SHA512}
#: BSI TR-03111 ecdsa-plain-signatures (r || s, not DER), used by some countries' SODs.
_ECDSA_PLAIN = {"0.4.0.127.0.7.1.1.4.1.1": "sha1", "0.4.0.127.0.7.1.1.4.1.2": "sha224",
                "0.4.0.127.0.7.1.1.4.1.3": "sha256", "0.4.0.127.0.7.1.1.4.1.4": "sha384",
                "0.4.0.127.0.7.1.1.4.1.5": "sha512"}


class TrustStoreError(ValueError):
    """A trust-store file that is not a certificate or master list."""


class _DataGroupHash(core.Sequence):
    _fields = [("dataGroupNumber", core.Integer), ("dataGroupHashValue", core.OctetString)]


class _DataGroupHashValues(core.SequenceOf):
    _child_spec = _DataGroupHash


class _LdsVersionInfo(core.Sequence):
    _fields = [("ldsVersion", core.PrintableString), ("unicodeVersion", core.PrintableString)]


class LdsSecurityObject(core.Sequence):
    _fields = [("version", core.Integer), ("hashAlgorithm", algos.DigestAlgorithm),
               ("dataGroupHashValues", _DataGroupHashValues),
               ("ldsVersionInfo", _LdsVersionInfo, {"optional": True})]


class _CertificateSet(core.SetOf):
    _child_spec = core.Any


class CscaMasterList(core.Sequence):
    """ICAO 9303-12 section 9: ``CscaMasterList ::= SEQUENCE { version, certList SET OF Certificate }``."""

    _fields = [("version", core.Integer), ("certList", _CertificateSet)]


@dataclass
class TrustStore:
    """The CSCA certificates the station trusts."""

    certificates: list[x509.Certificate]

    @classmethod
    def from_folder(cls, folder: Path) -> TrustStore:
        """Every certificate (``.pem``, ``.crt``, ``.cer``, ``.der``) and ICAO master list (``.ml``)
        in ``folder``.  The master list's own CMS signature is not checked: putting the file in the
        folder is the act of trust."""
        certificates: list[x509.Certificate] = []
        for path in sorted(folder.iterdir()):
            suffix = path.suffix.lower()
            if suffix == ".ml":
                certificates += load_master_list(path.read_bytes())
            elif suffix in (".pem", ".crt", ".cer", ".der"):
                certificates += _load_certificates(path.read_bytes(), str(path))
        return cls(certificates)

    def issuers_of(self, certificate: x509.Certificate) -> list[x509.Certificate]:
        return [c for c in self.certificates if c.subject == certificate.issuer]


def _load_certificates(data: bytes, where: str) -> list[x509.Certificate]:
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as error:
        raise TrustStoreError(f"{where}: not an X.509 certificate: {error}") from error


def load_master_list(data: bytes) -> list[x509.Certificate]:
    """The CSCA certificates of an ICAO master list (CMS SignedData over a CscaMasterList)."""
    try:
        signed = cms.ContentInfo.load(data)["content"]
        content = signed["encap_content_info"]
        if content["content_type"].dotted != ID_CSCA_MASTER_LIST:
            raise TrustStoreError(f"CMS content type {content['content_type'].dotted} is not a CSCA master list")
        master_list = CscaMasterList.load(content["content"].contents)
        return [x509.load_der_x509_certificate(c.dump()) for c in master_list["certList"]]
    except (ValueError, TypeError, KeyError) as error:
        raise TrustStoreError(f"not an ICAO master list: {error}") from error


@dataclass(frozen=True)
class SecurityObject:
    """What the SOD says: the hash algorithm, each data group's hash, and the signer."""

    hash_algorithm: str
    hashes: dict[int, bytes]
    signer_info: cms.SignerInfo
    e_content: bytes
    e_content_type: str
    ds_certificate: x509.Certificate


def parse_sod(sod: bytes) -> SecurityObject:
    """Parse EF.SOD; ValueError (with what is wrong) for anything that is not a one-signer SOD."""
    try:
        content_info = cms.ContentInfo.load(read_single(sod, 0x77))
    except TlvError as error:
        raise ValueError(f"EF.SOD wrapper: {error}") from error
    if content_info["content_type"].native != "signed_data":
        raise ValueError(f"content type is {content_info['content_type'].dotted}, not SignedData")
    signed: cms.SignedData = content_info["content"]
    encap = signed["encap_content_info"]
    e_content_type = encap["content_type"].dotted
    if e_content_type != ID_LDS_SECURITY_OBJECT:
        raise ValueError(f"eContentType is {e_content_type}, not id-ldsSecurityObject")
    e_content = encap["content"].contents
    lso = LdsSecurityObject.load(e_content)
    algorithm = lso["hashAlgorithm"]["algorithm"].native
    if algorithm not in _HASHES:
        raise ValueError(f"unsupported hash algorithm {algorithm}")
    found = {int(entry["dataGroupNumber"].native): entry["dataGroupHashValue"].native
             for entry in lso["dataGroupHashValues"]}
    if len(signed["signer_infos"]) != 1:
        raise ValueError(f"{len(signed['signer_infos'])} signers, expected one")
    signer = signed["signer_infos"][0]
    certificates = [c.chosen for c in signed["certificates"]] if signed["certificates"].native else []
    sid = signer["sid"]
    ds = None
    for candidate in certificates:
        if sid.name == "issuer_and_serial_number":
            match = (candidate.issuer == sid.chosen["issuer"]
                     and candidate.serial_number == sid.chosen["serial_number"].native)
        else:
            match = candidate.key_identifier == sid.chosen.native
        if match:
            ds = x509.load_der_x509_certificate(candidate.dump())
    if ds is None:
        raise ValueError("the Document Signer certificate is not in the SOD")
    return SecurityObject(algorithm, found, signer, e_content, e_content_type, ds)


def _hash(algorithm: str, data: bytes) -> bytes:
    return hashlib.new(algorithm, data).digest()


def _verify_signature(public_key: object, signer: cms.SignerInfo, signed_bytes: bytes) -> None:
    """Verify the signer's signature over ``signed_bytes``; InvalidSignature or ValueError if not."""
    signature_algorithm = signer["signature_algorithm"]
    oid = signature_algorithm["algorithm"].dotted
    signature = signer["signature"].native
    digest_name = signer["digest_algorithm"]["algorithm"].native
    if oid in _ECDSA_PLAIN:
        half = len(signature) // 2
        signature = encode_dss_signature(int.from_bytes(signature[:half], "big"),
                                         int.from_bytes(signature[half:], "big"))
        name, digest_name = "ecdsa", _ECDSA_PLAIN[oid]
    else:
        name = signature_algorithm.signature_algo
        try:
            digest_name = signature_algorithm.hash_algo
        except ValueError:
            pass  # plain rsaEncryption: the digest algorithm field names the hash
    if digest_name not in _HASHES:
        raise ValueError(f"unsupported digest {digest_name}")
    digest = _HASHES[digest_name]()
    if name == "ecdsa" and isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, signed_bytes, ec.ECDSA(digest))
    elif name == "rsassa_pkcs1v15" and isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(signature, signed_bytes, padding.PKCS1v15(), digest)
    elif name == "rsassa_pss" and isinstance(public_key, rsa.RSAPublicKey):
        parameters = signature_algorithm["parameters"]
        pss_digest = _HASHES[parameters["hash_algorithm"]["algorithm"].native]()
        public_key.verify(signature, signed_bytes,
                          padding.PSS(padding.MGF1(pss_digest), parameters["salt_length"].native), pss_digest)
    else:
        raise ValueError(f"signature algorithm {name} does not fit a {type(public_key).__name__}")


def passive_authentication(sod: bytes, data_groups: Mapping[str, bytes], trust: TrustStore, *,
                           now: dt.datetime | None = None) -> tuple[VerificationStep, ...]:
    """Every passive-authentication step for ``data_groups`` (``{"DG1": bytes, ...}``, as read)."""
    now = now or dt.datetime.now(dt.UTC)
    group_names = sorted((n for n in data_groups if n.startswith("DG")), key=lambda n: int(n[2:]))
    try:
        security = parse_sod(sod)
    except (ValueError, TypeError, KeyError) as error:
        steps = [VerificationStep("SOD structure", False, str(error))]
        steps += [VerificationStep(name, None, "not checked: the SOD is unreadable") for name in
                  ("SOD signed attributes", "SOD signature", "Document Signer certificate",
                   *(f"{g} hash" for g in group_names))]
        return tuple(steps)
    steps = [VerificationStep("SOD structure", True, f"{security.hash_algorithm}, data groups "
                              + ", ".join(str(n) for n in sorted(security.hashes)))]
    steps.append(_signed_attributes_step(security))
    steps.append(_signature_step(security))
    steps.append(_certificate_step(security.ds_certificate, trust, now))
    for name in group_names:
        expected = security.hashes.get(int(name[2:]))
        if expected is None:
            steps.append(VerificationStep(f"{name} hash", False, "the SOD lists no hash for this data group"))
            continue
        actual = _hash(security.hash_algorithm, data_groups[name])
        same = hmac.compare_digest(actual, expected)
        steps.append(VerificationStep(f"{name} hash", same, "matches the SOD" if same else
                                      f"{security.hash_algorithm} {actual.hex()[:16]}... but the SOD says "
                                      f"{expected.hex()[:16]}...: the data group was altered"))
    return tuple(steps)


def _signed_attributes_step(security: SecurityObject) -> VerificationStep:
    attributes = security.signer_info["signed_attrs"]
    if not attributes.native:
        return VerificationStep("SOD signed attributes", False, "no signed attributes (9303-10 requires them)")
    by_type = {a["type"].native: a["values"] for a in attributes}
    content_type = by_type.get("content_type")
    digest = by_type.get("message_digest")
    if content_type is None or digest is None:
        return VerificationStep("SOD signed attributes", False, "contentType or messageDigest missing")
    if content_type[0].dotted != security.e_content_type:
        return VerificationStep("SOD signed attributes", False,
                                f"contentType {content_type[0].dotted} differs from the eContentType")
    digest_name = security.signer_info["digest_algorithm"]["algorithm"].native
    if digest_name not in _HASHES:
        return VerificationStep("SOD signed attributes", False, f"unsupported digest {digest_name}")
    if not hmac.compare_digest(digest[0].native, _hash(digest_name, security.e_content)):
        return VerificationStep("SOD signed attributes", False,
                                "messageDigest differs from the hash of the LDSSecurityObject")
    return VerificationStep("SOD signed attributes", True, f"contentType and messageDigest ({digest_name}) match")


def _signature_step(security: SecurityObject) -> VerificationStep:
    signed_bytes = security.signer_info["signed_attrs"].untag().dump(force=True)  # SET tag 31, not [0]
    try:
        _verify_signature(security.ds_certificate.public_key(), security.signer_info, signed_bytes)
    except InvalidSignature:
        return VerificationStep("SOD signature", False, "the Document Signer's signature does not verify")
    except (ValueError, UnsupportedAlgorithm) as error:
        return VerificationStep("SOD signature", False, f"cannot verify: {error}")
    subject = security.ds_certificate.subject.rfc4514_string()
    return VerificationStep("SOD signature", True, f"signed by {subject}")


def _within(certificate: x509.Certificate, now: dt.datetime) -> bool:
    return certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc


def _certificate_step(ds: x509.Certificate, trust: TrustStore, now: dt.datetime) -> VerificationStep:
    name = "Document Signer certificate"
    issuers = trust.issuers_of(ds)
    if not issuers:
        return VerificationStep(name, False, f"no CSCA named {ds.issuer.rfc4514_string()} in the trust store "
                                             f"({len(trust.certificates)} certificate(s))")
    problems = []
    for csca in issuers:
        try:
            ds.verify_directly_issued_by(csca)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm) as error:
            problems.append(f"not signed by the CSCA with serial {csca.serial_number:x}: {error or 'bad signature'}")
            continue
        if not _is_ca(csca):
            problems.append(f"CSCA serial {csca.serial_number:x} is not a CA certificate")
        elif not _within(csca, now):
            problems.append(f"CSCA serial {csca.serial_number:x} is outside its validity period")
        elif not _within(ds, now):
            problems.append(f"the Document Signer certificate is outside its validity period "
                            f"({ds.not_valid_before_utc:%Y-%m-%d} - {ds.not_valid_after_utc:%Y-%m-%d})")
        else:
            return VerificationStep(name, True, f"issued by {csca.subject.rfc4514_string()}")
    return VerificationStep(name, False, "; ".join(problems))


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return bool(certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False

