"""Passive authentication (ICAO Doc 9303-11 section 5.1; SOD format 9303-10 4.6.2): proves that
the data groups read from the chip are the ones the issuing country signed.

EF.SOD is ``77 { ContentInfo(SignedData v3) }`` whose encapsulated content (type
id-ldsSecurityObject 2.23.136.1.1.1) is ``LDSSecurityObject ::= SEQUENCE { version, hashAlgorithm,
SEQUENCE OF { dataGroupNumber, dataGroupHashValue }, ldsVersionInfo OPTIONAL }``.  The CMS checks
are the station's one SignedData verifier (:mod:`crypto.signed_data`) and its one certificate
path check (:class:`crypto.csca.CscaStore`), run step by step so that each is reported as its
own :class:`VerificationStep` and a bad chip is a failed step, never an exception:

1. SOD structure - the CMS and the LDSSecurityObject parse; one signer; its certificate is present.
2. SOD signed attributes - contentType equals the eContentType, messageDigest equals the hash of
   the eContent (RFC 5652 5.4).
3. SOD signature - the Document Signer's signature over the DER of the signed attributes, encoded
   as a SET (tag 31, not the [0] they are stored under; RFC 5652 5.4).
4. Document Signer certificate - issued by a CSCA of the trust store (name, signature, the CSCA a
   CA), both within their validity period at the time of reading.  The DS certificate is issued by
   the CSCA itself (9303-12: the eMRTD PKI has two levels), so certificates the chip offers are
   never taken as intermediates.
5. One step per data group read: its hash over the whole file (tag, length, value) equals the
   SOD's; a data group the SOD does not list fails.

A step that cannot run because an earlier one failed reads ``passed=None`` - never verified.

It never raises (issue 14: fuzzed SODs made asn1crypto and cryptography raise IndexError,
AttributeError, InvalidVersion ... from lazily parsed parts): each step runs guarded, and an
exception inside it - whatever its type - is that step *failing*, with the exception named in the
reason and its traceback in the log at DEBUG.  Failing closed is the only safe reading of bytes
that break a parser; a defect of our own shows up as a failed step and its log record.

The CSCAs come from a folder (:func:`load_csca_store`) of certificates and ICAO CSCA master lists
(9303-12 section 9), which only this module knows how to read.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import algos, cms, core
from cryptography import x509

from capture.document.identity import VerificationStep
from capture.document.tlv import TlvError, read_single
from crypto import signed_data
from crypto.asn1 import HASH_ALGORITHMS, digest, from_asn1_certificate
from crypto.csca import CscaStore, is_ca
from crypto.errors import KeyStoreError, PacketError, TamperedPacket, UnknownSigner
from crypto.keys import load_certificates

logger = logging.getLogger(__name__)

ID_LDS_SECURITY_OBJECT = "2.23.136.1.1.1"
ID_CSCA_MASTER_LIST = "2.23.136.1.1.2"
CERTIFICATE_SUFFIXES = (".pem", ".crt", ".cer", ".der")
"""Certificate files of a CSCA folder: PEM (one or several certificates) or DER (one)."""
MASTER_LIST_SUFFIX = ".ml"


class TrustStoreError(ValueError):
    """A CSCA folder that cannot be a trust store: unreadable, a file that is not a certificate or
    master list, a certificate that is not a CA, or no certificate at all."""


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


def load_csca_store(folder: Path) -> CscaStore:
    """The CSCAs the station trusts: every certificate file (:data:`CERTIFICATE_SUFFIXES`) and ICAO
    master list (``.ml``) in ``folder``, as trust anchors.

    A master list's own CMS signature is not checked: putting the file in the folder is the act of
    trust, as for a certificate file.  Every certificate must be a CA (a CSCA certificate, self-signed
    or link, is a CA certificate in 9303-12's profile): anything else here would be a trust anchor that
    no CSCA vouches for, so it is refused with the file named rather than trusted.
    """
    try:
        paths = sorted(folder.iterdir())
    except OSError as error:
        raise TrustStoreError(f"cannot read the CSCA folder {folder}: {error.strerror}") from error
    certificates: list[x509.Certificate] = []
    for path in paths:
        suffix = path.suffix.lower()
        try:
            if suffix == MASTER_LIST_SUFFIX:
                found = load_master_list(path.read_bytes())
            elif suffix in CERTIFICATE_SUFFIXES:
                found = load_certificates(path)
            else:
                continue
        except OSError as error:
            raise TrustStoreError(f"cannot read {path}: {error.strerror}") from error
        except KeyStoreError as error:
            raise TrustStoreError(str(error)) from error
        except TrustStoreError as error:
            raise TrustStoreError(f"{path}: {error}") from error
        for certificate in found:
            if not is_ca(certificate):
                raise TrustStoreError(f"{path}: {certificate.subject.rfc4514_string()} is not a CA certificate, "
                                      "so it cannot be a CSCA")
        certificates += found
    if not certificates:
        raise TrustStoreError(f"{folder} holds no CSCA certificate or master list "
                              f"({', '.join((*CERTIFICATE_SUFFIXES, MASTER_LIST_SUFFIX))})")
    return CscaStore(certificates)


def load_master_list(data: bytes) -> list[x509.Certificate]:
    """The CSCA certificates of an ICAO master list (CMS SignedData over a CscaMasterList)."""
    try:
        signed = signed_data.parse(data)
    except PacketError as error:
        raise TrustStoreError(f"not an ICAO master list: {error}") from error
    if signed.content_type != ID_CSCA_MASTER_LIST:
        raise TrustStoreError(f"CMS content type {signed.content_type} is not a CSCA master list")
    try:
        master_list = CscaMasterList.load(bytes(signed.content))
        return [from_asn1_certificate(certificate) for certificate in master_list["certList"]]
    except (ValueError, TypeError, KeyError) as error:
        raise TrustStoreError(f"not an ICAO master list: {error}") from error


@dataclass(frozen=True)
class SecurityObject:
    """What the SOD says: the hash algorithm, each data group's hash, and the signer."""

    hash_algorithm: str
    hashes: dict[int, bytes]
    signed: signed_data.ParsedSignedData
    signer_info: cms.SignerInfo
    ds_certificate: x509.Certificate


def parse_sod(sod: bytes) -> SecurityObject:
    """Parse EF.SOD; ValueError (with what is wrong) for anything that is not a one-signer SOD
    carrying its Document Signer certificate."""
    try:
        signed = signed_data.parse(read_single(sod, 0x77))
        signer_info = signed_data.single_signer(signed)
    except TlvError as error:
        raise ValueError(f"EF.SOD wrapper: {error}") from error
    except PacketError as error:
        raise ValueError(str(error)) from error
    if signed.content_type != ID_LDS_SECURITY_OBJECT:
        raise ValueError(f"eContentType is {signed.content_type}, not id-ldsSecurityObject")
    try:
        lso = LdsSecurityObject.load(bytes(signed.content))
        algorithm = lso["hashAlgorithm"]["algorithm"].native
        found: dict[int, bytes] = {}
        for entry in lso["dataGroupHashValues"]:
            number, value = entry["dataGroupNumber"].native, entry["dataGroupHashValue"].native
            if not isinstance(number, int) or not isinstance(value, bytes) or number in found:
                raise ValueError(f"data group hash entry {number!r} is malformed or repeated")
            found[number] = value
        _ = signer_info["signed_attrs"].native  # parsed now, not lazily in a later step
    except ValueError:
        raise
    except Exception as error:  # asn1crypto on corrupt DER: IndexError, AttributeError, TypeError ...
        raise ValueError(f"the LDS Security Object does not parse: {_describe(error)}") from error
    if algorithm not in HASH_ALGORITHMS:
        raise ValueError(f"unsupported hash algorithm {algorithm}")
    try:
        ds = signed_data.signer_certificate(signed, signer_info)
    except PacketError as error:
        raise ValueError(f"the Document Signer certificate is not usable: {error}") from error
    except Exception as error:  # cryptography on a corrupt certificate: InvalidVersion, ValueError ...
        raise ValueError(f"the Document Signer certificate does not parse: {_describe(error)}") from error
    return SecurityObject(algorithm, found, signed, signer_info, ds)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _guarded(name: str, check: Callable[[], VerificationStep]) -> VerificationStep:
    """``check()``, or the step failed when it raises (module docstring: failing closed)."""
    try:
        return check()
    except Exception as error:
        logger.debug("passive authentication step %r raised", name, exc_info=True)
        return VerificationStep(name, False, f"cannot be checked: {_describe(error)}")


def passive_authentication(sod: bytes, data_groups: Mapping[str, bytes], trust: CscaStore, *,
                           now: dt.datetime | None = None) -> tuple[VerificationStep, ...]:
    """Every passive-authentication step for ``data_groups`` (``{"DG1": bytes, ...}``, as read),
    the Document Signer checked against the CSCAs of ``trust`` at ``now`` (the time of reading)."""
    now = now or dt.datetime.now(dt.UTC)
    group_names = sorted((n for n in data_groups if n.startswith("DG")), key=lambda n: int(n[2:]))
    try:
        security = parse_sod(sod)
    except Exception as error:  # ValueError by design; anything else is a parser's, and fails the same
        if not isinstance(error, ValueError):
            logger.debug("parse_sod raised", exc_info=True)
        steps = [VerificationStep("SOD structure", False, str(error) or _describe(error))]
        steps += [VerificationStep(name, None, "not checked: the SOD is unreadable") for name in
                  ("SOD signed attributes", "SOD signature", "Document Signer certificate",
                   *(f"{g} hash" for g in group_names))]
        return tuple(steps)
    steps = [VerificationStep("SOD structure", True, f"{security.hash_algorithm}, data groups "
                              + ", ".join(str(n) for n in sorted(security.hashes)))]
    steps.append(_guarded("SOD signed attributes", lambda: _signed_attributes_step(security)))
    steps.append(_guarded("SOD signature", lambda: _signature_step(security)))
    steps.append(_guarded("Document Signer certificate",
                          lambda: _certificate_step(security.ds_certificate, trust, now)))
    for name in group_names:
        steps.append(_guarded(f"{name} hash", lambda name=name: _hash_step(security, name, data_groups[name])))
    return tuple(steps)


def _hash_step(security: SecurityObject, name: str, data: bytes) -> VerificationStep:
    expected = security.hashes.get(int(name[2:]))
    if expected is None:
        return VerificationStep(f"{name} hash", False, "the SOD lists no hash for this data group")
    actual = digest(security.hash_algorithm, data)
    same = hmac.compare_digest(actual, expected)
    return VerificationStep(f"{name} hash", same, "matches the SOD" if same else
                            f"{security.hash_algorithm} {actual.hex()[:16]}... but the SOD says "
                            f"{expected.hex()[:16]}...: the data group was altered")


def _signed_attributes_step(security: SecurityObject) -> VerificationStep:
    name = "SOD signed attributes"
    try:
        checked = signed_data.check_signed_attributes(security.signed, security.signer_info)
    except PacketError as error:
        return VerificationStep(name, False, str(error))
    return VerificationStep(name, True, f"contentType and messageDigest ({checked.digest_algorithm}) match")


def _signature_step(security: SecurityObject) -> VerificationStep:
    name = "SOD signature"
    try:
        signed_data.verify_signature(security.signer_info, security.ds_certificate)
    except TamperedPacket:
        return VerificationStep(name, False, "the Document Signer's signature does not verify")
    except PacketError as error:
        return VerificationStep(name, False, f"cannot verify: {error}")
    return VerificationStep(name, True, f"signed by {security.ds_certificate.subject.rfc4514_string()}")


def _certificate_step(ds: x509.Certificate, trust: CscaStore, now: dt.datetime) -> VerificationStep:
    name = "Document Signer certificate"
    try:
        chain = trust.verify(ds, at=now)
    except UnknownSigner as error:
        return VerificationStep(name, False, f"no CSCA of the trust store ({len(trust.anchors)} certificate(s)) "
                                             f"issued it: {error}")
    except PacketError as error:
        return VerificationStep(name, False, str(error))
    return VerificationStep(name, True, f"issued by {chain[-1].subject.rfc4514_string()}")
