"""The one CMS SignedData verifier (crypto.signed_data), for both its users: packets and receipts
(``verify``, typed errors) and passive authentication of an ICAO EF.SOD (step by step, never raising).

Every algorithm the two former copies verified is held here, and each check is held by a case that
fails when the check is removed: a signature that verifies except for the part under test.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from capture.document.passive_auth import LdsSecurityObject, passive_authentication
from capture.document.tlv import read_single
from crypto import signed_data
from crypto.asn1 import to_asn1_certificate
from crypto.csca import CscaStore
from crypto.errors import MalformedPacket, TamperedPacket, UnknownSigner
from crypto.keys import FileSigner
from crypto.trust import Usage
from hardware_sim.citizens import make_citizen
from hardware_sim.emrtd import build_files, make_pki, run_pki, tlv

CONTENT = b"PK\x03\x04 pretend zip " * 20
Sign = Callable[[bytes], bytes]


def _certificate(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, name: str = "Test signer") -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))


@pytest.fixture(scope="module")
def keys() -> dict[str, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey]:
    return {"rsa": rsa.generate_private_key(65537, 2048), "p256": ec.generate_private_key(ec.SECP256R1()),
            "p384": ec.generate_private_key(ec.SECP384R1())}


@pytest.fixture(scope="module")
def rsa_key(keys) -> rsa.RSAPrivateKey:
    return keys["rsa"]


@pytest.fixture(scope="module")
def ec_key(keys) -> ec.EllipticCurvePrivateKey:
    return keys["p256"]


def _make(certificate: x509.Certificate, sign: Sign, *, algorithm: dict, digest_name: str = "sha256",
          attributes: list[dict] | None = None, by_key_identifier: bool = False) -> bytes:
    """A ContentInfo(SignedData) over CONTENT, signed attributes signed by ``sign`` as given."""
    if attributes is None:
        attributes = [{"type": "content_type", "values": ["data"]},
                      {"type": "message_digest", "values": [hashlib.new(digest_name, CONTENT).digest()]}]
    der = cms.CMSAttributes(attributes).dump(force=True)
    asn1_certificate = to_asn1_certificate(certificate)
    sid = ({"subject_key_identifier": asn1_certificate.key_identifier} if by_key_identifier else
           {"issuer_and_serial_number": {"issuer": asn1_certificate.issuer,
                                         "serial_number": asn1_certificate.serial_number}})
    signed = cms.SignedData({
        "version": "v3" if by_key_identifier else "v1",
        "digest_algorithms": [{"algorithm": digest_name}],
        "encap_content_info": {"content_type": "data", "content": CONTENT},
        "certificates": [asn1_certificate],
        "signer_infos": [{"version": "v3" if by_key_identifier else "v1", "sid": sid,
                          "digest_algorithm": {"algorithm": digest_name},
                          "signed_attrs": cms.CMSAttributes.load(der), "signature_algorithm": algorithm,
                          "signature": sign(der)}],
    })
    return cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()


def _rebuild(data: bytes, *, content: bytes | None = None, replace: dict[str, object] | None = None,
             drop: tuple[str, ...] = (), sign: Sign | None = None, algorithm: dict | None = None) -> bytes:
    """``data`` (a ContentInfo(SignedData)) with its eContent or signed attributes changed, and
    re-signed with ``sign`` - or with the original signature kept, as a forger without the key must."""
    info = cms.ContentInfo.load(data)
    signed = info["content"]
    if content is not None:
        signed["encap_content_info"]["content"] = content
    signer_info = signed["signer_infos"][0]
    replace = replace or {}
    attributes = []
    for attribute in signer_info["signed_attrs"]:
        name = attribute["type"].native
        if name not in drop:
            attributes.append({"type": name, "values": [replace[name]] if name in replace else attribute["values"]})
    der = cms.CMSAttributes(attributes).dump(force=True)
    signer_info["signed_attrs"] = cms.CMSAttributes.load(der)
    if algorithm is not None:
        signer_info["signature_algorithm"] = algorithm
    if sign is not None:
        signer_info["signature"] = sign(der)
    return info.dump(force=True)


def _rsa_pss(key: rsa.RSAPrivateKey, name: str, salt: int) -> Sign:
    algorithm = {"sha256": hashes.SHA256, "sha512": hashes.SHA512}[name]
    return lambda der: key.sign(der, padding.PSS(padding.MGF1(algorithm()), salt), algorithm())


def _pss_parameters(name: str, salt: int) -> dict:
    return {"algorithm": "rsassa_pss", "parameters": {
        "hash_algorithm": {"algorithm": name},
        "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": name}}, "salt_length": salt}}


def _plain_ecdsa(key: ec.EllipticCurvePrivateKey) -> Sign:
    def sign(der: bytes) -> bytes:
        r, s = decode_dss_signature(key.sign(der, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return sign


CASES: dict[str, tuple[str, dict, str, Callable[..., Sign]]] = {
    # name: (key, signature algorithm, digest algorithm, how that key signs the attributes' DER)
    "sha256WithRSAEncryption": ("rsa", {"algorithm": "sha256_rsa"}, "sha256",
                                lambda k: lambda d: k.sign(d, padding.PKCS1v15(), hashes.SHA256())),
    "rsaEncryption, hash from the digest algorithm": (
        "rsa", {"algorithm": "rsassa_pkcs1v15"}, "sha384",
        lambda k: lambda d: k.sign(d, padding.PKCS1v15(), hashes.SHA384())),
    "RSASSA-PSS SHA-256": ("rsa", _pss_parameters("sha256", 32), "sha256", lambda k: _rsa_pss(k, "sha256", 32)),
    "RSASSA-PSS SHA-512": ("rsa", _pss_parameters("sha512", 64), "sha512", lambda k: _rsa_pss(k, "sha512", 64)),
    "ecdsa-with-SHA256": ("p256", {"algorithm": "sha256_ecdsa"}, "sha256",
                          lambda k: lambda d: k.sign(d, ec.ECDSA(hashes.SHA256()))),
    "ecdsa-with-SHA384 on P-384": ("p384", {"algorithm": "sha384_ecdsa"}, "sha384",
                                   lambda k: lambda d: k.sign(d, ec.ECDSA(hashes.SHA384()))),
    "id-ecPublicKey, hash from the digest algorithm": (
        "p256", {"algorithm": "ecdsa"}, "sha256", lambda k: lambda d: k.sign(d, ec.ECDSA(hashes.SHA256()))),
    "ecdsa-plain-SHA256 (BSI TR-03111)": ("p256", {"algorithm": "0.4.0.127.0.7.1.1.4.1.3"}, "sha256", _plain_ecdsa),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_signature_algorithm_verifies_and_a_changed_signature_does_not(keys, case):
    key_name, algorithm, digest_name, signer = CASES[case]
    key = keys[key_name]
    sign = signer(key)
    certificate = _certificate(key)
    parsed = signed_data.parse(_make(certificate, sign, algorithm=algorithm, digest_name=digest_name))
    signer_info = signed_data.single_signer(parsed)
    assert signed_data.signer_certificate(parsed, signer_info) == certificate
    assert signed_data.check_signed_attributes(parsed, signer_info).digest_algorithm == digest_name
    signed_data.verify_signature(signer_info, certificate)

    def flipped(der: bytes) -> bytes:
        signature = bytearray(sign(der))
        signature[len(signature) // 3] ^= 0x01
        return bytes(signature)

    forged = signed_data.parse(_make(certificate, flipped, algorithm=algorithm, digest_name=digest_name))
    with pytest.raises(TamperedPacket):
        signed_data.verify_signature(signed_data.single_signer(forged), certificate)


def test_pss_parameters_come_from_the_signer_info(rsa_key):
    """Signed with a 32-byte salt, declared with 20: the declared parameters are the ones used."""
    certificate = _certificate(rsa_key)
    data = _make(certificate, _rsa_pss(rsa_key, "sha256", 32), algorithm=_pss_parameters("sha256", 20))
    with pytest.raises(TamperedPacket):
        signed_data.verify_signature(signed_data.single_signer(signed_data.parse(data)), certificate)


@pytest.mark.parametrize(("algorithm", "message"), [
    ({"algorithm": "rsassa_pss"}, "without its parameters"),
    ({"algorithm": "sha256_ecdsa"}, "is not supported"),  # an ECDSA algorithm with an RSA key
    ({"algorithm": "md5_rsa"}, "md5 is not supported"),
    ({"algorithm": "1.2.3.4"}, "1.2.3.4 is not supported"),
])
def test_unsupported_or_unfitting_algorithms_are_malformed(rsa_key, algorithm, message):
    certificate = _certificate(rsa_key)
    data = _make(certificate, lambda d: rsa_key.sign(d, padding.PKCS1v15(), hashes.SHA256()), algorithm=algorithm)
    with pytest.raises(MalformedPacket, match=message):
        signed_data.verify_signature(signed_data.single_signer(signed_data.parse(data)), certificate)


def test_the_signer_is_found_by_subject_key_identifier(ec_key):
    certificate = _certificate(ec_key)
    data = _make(certificate, lambda d: ec_key.sign(d, ec.ECDSA(hashes.SHA256())),
                 algorithm={"algorithm": "sha256_ecdsa"}, by_key_identifier=True)
    parsed = signed_data.parse(data)
    assert signed_data.signer_certificate(parsed, signed_data.single_signer(parsed)) == certificate
    without = cms.ContentInfo.load(data)
    del without["content"]["certificates"]
    parsed = signed_data.parse(without.dump(force=True))
    with pytest.raises(UnknownSigner):
        signed_data.signer_certificate(parsed, signed_data.single_signer(parsed))


@pytest.mark.parametrize(("attributes", "error", "message"), [
    ([{"type": "content_type", "values": ["data"]}], MalformedPacket, "message_digest must occur once"),
    ([{"type": "content_type", "values": ["data"]},
      {"type": "message_digest", "values": [hashlib.sha256(CONTENT).digest()]},
      {"type": "message_digest", "values": [hashlib.sha256(b"other").digest()]}], MalformedPacket,
     "message_digest must occur once"),
    ([{"type": "content_type", "values": ["data", "signed_data"]},
      {"type": "message_digest", "values": [hashlib.sha256(CONTENT).digest()]}], MalformedPacket,
     "content_type must occur once"),
    ([{"type": "content_type", "values": ["signed_data"]},
      {"type": "message_digest", "values": [hashlib.sha256(CONTENT).digest()]}], TamperedPacket,
     "differs from the eContentType"),
    ([{"type": "content_type", "values": ["data"]},
      {"type": "message_digest", "values": [hashlib.sha256(b"other").digest()]}], TamperedPacket,
     "differs from the signed message-digest"),
])
def test_signed_attribute_rules(ec_key, attributes, error, message):
    """RFC 5652 §11.1-11.2: one instance with one value each; values bound to the eContent."""
    certificate = _certificate(ec_key)
    data = _make(certificate, lambda d: ec_key.sign(d, ec.ECDSA(hashes.SHA256())),
                 algorithm={"algorithm": "sha256_ecdsa"}, attributes=attributes)
    parsed = signed_data.parse(data)
    signer_info = signed_data.single_signer(parsed)
    signed_data.verify_signature(signer_info, certificate)  # the signature itself is good
    with pytest.raises(error, match=message):
        signed_data.check_signed_attributes(parsed, signer_info)


def test_detached_content_and_other_content_types_are_malformed(ec_key):
    certificate = _certificate(ec_key)
    info = cms.ContentInfo.load(_make(certificate, lambda d: ec_key.sign(d, ec.ECDSA(hashes.SHA256())),
                                      algorithm={"algorithm": "sha256_ecdsa"}))
    del info["content"]["encap_content_info"]["content"]
    with pytest.raises(MalformedPacket, match="detached"):
        signed_data.parse(info.dump(force=True))
    data = cms.ContentInfo({"content_type": "data", "content": b"plain"}).dump()
    with pytest.raises(MalformedPacket, match="expected CMS signed_data, found data"):
        signed_data.parse(data)


# --------------------------------------------------------------------------- packets and receipts


def _station_signed(pki, **kwargs) -> bytes:
    return signed_data.sign(CONTENT, pki.station_signer(), **kwargs)


def _station_key_signs(signer: FileSigner) -> Sign:
    return lambda der: signer.key.sign(der, ec.ECDSA(hashes.SHA256()))


def test_packets_keep_their_profile_though_the_verifier_knows_more(ec_pki, rsa_key, helpers):
    """An RSA-PSS SignedData verifies step by step, but a packet must be ECDSA with SHA-256."""
    data = _make(_certificate(rsa_key), _rsa_pss(rsa_key, "sha256", 32), algorithm=_pss_parameters("sha256", 32))
    with pytest.raises(MalformedPacket, match="not ECDSA with SHA-256"):
        signed_data.verify(data, helpers.trust(ec_pki), usage=Usage.PACKET_SIGNING)


def test_a_packet_without_signing_time_is_malformed(ec_pki, helpers):
    signer = ec_pki.station_signer()
    data = _rebuild(_station_signed(ec_pki), drop=("signing_time",), sign=_station_key_signs(signer))
    with pytest.raises(MalformedPacket, match="signing_time is missing"):
        signed_data.verify(data, helpers.trust(ec_pki), usage=Usage.PACKET_SIGNING)


# --------------------------------------------------------------------------- both users


@pytest.fixture(scope="module")
def card_files():
    return build_files(make_citizen(11))


def _groups(files: dict[str, bytes]) -> dict[str, bytes]:
    return {name: data for name, data in files.items() if name.startswith("DG")}


def _sod_signed_data(files: dict[str, bytes]) -> bytes:
    return read_single(files["SOD"], 0x77)


def _steps(sod_signed_data: bytes, files: dict[str, bytes], trust: CscaStore | None = None) -> dict:
    steps = passive_authentication(tlv(0x77, sod_signed_data), _groups(files),
                                   trust or CscaStore([run_pki().csca_certificate]))
    return {step.name: step for step in steps}


def test_a_changed_message_digest_is_refused_by_both_users(ec_pki, helpers, card_files):
    """The message-digest attribute changed: with the original signature both refuse at the
    signature; re-signed by the rightful key, the message-digest check alone still refuses."""
    wrong = hashlib.sha256(b"something else").digest()
    signer = ec_pki.station_signer()
    packet = _station_signed(ec_pki)
    for forged in (_rebuild(packet, replace={"message_digest": wrong}),
                   _rebuild(packet, replace={"message_digest": wrong}, sign=_station_key_signs(signer))):
        with pytest.raises(TamperedPacket):
            signed_data.verify(forged, helpers.trust(ec_pki), usage=Usage.PACKET_SIGNING)

    ds_key = run_pki().ds_key
    sod = _sod_signed_data(card_files)
    kept = _steps(_rebuild(sod, replace={"message_digest": wrong}), card_files)
    assert kept["SOD signed attributes"].passed is False and kept["SOD signature"].passed is False
    resigned = _steps(_rebuild(sod, replace={"message_digest": wrong},
                               sign=lambda der: ds_key.sign(der, ec.ECDSA(hashes.SHA256()))), card_files)
    assert resigned["SOD signature"].passed is True
    assert resigned["SOD signed attributes"].passed is False
    assert "message-digest" in resigned["SOD signed attributes"].detail


def test_a_forged_hash_list_with_the_original_signature_fails_the_signature_step(card_files):
    """A forger edits DG13 and the SOD's hash list to match, and the message-digest to match that:
    every hash then agrees, and only the Document Signer's signature can tell - as a failed step."""
    citizen = make_citizen(11)
    tampered = build_files(citizen, tamper="DG13")
    assert tampered["DG13"] != card_files["DG13"]
    sod = _sod_signed_data(card_files)
    lso = LdsSecurityObject.load(cms.ContentInfo.load(sod)["content"]["encap_content_info"]["content"].native)
    entries = [{"dataGroupNumber": entry["dataGroupNumber"].native,
                "dataGroupHashValue": hashlib.sha256(tampered["DG13"]).digest()
                if entry["dataGroupNumber"].native == 13 else entry["dataGroupHashValue"].native}
               for entry in lso["dataGroupHashValues"]]
    forged_lso = LdsSecurityObject({"version": lso["version"].native, "hashAlgorithm": {"algorithm": "sha256"},
                                    "dataGroupHashValues": entries}).dump()
    forged = _rebuild(sod, content=forged_lso, replace={"message_digest": hashlib.sha256(forged_lso).digest()})
    steps = _steps(forged, tampered)
    assert steps["SOD structure"].passed and steps["SOD signed attributes"].passed
    assert steps["DG13 hash"].passed and steps["DG1 hash"].passed  # the forgery is consistent...
    assert steps["SOD signature"].passed is False  # ...but not signed
    assert "does not verify" in steps["SOD signature"].detail


def test_a_pss_document_signer_passes_and_a_wrong_salt_fails(card_files):
    """ICAO documents are signed with RSASSA-PSS too: its parameters come from the SignerInfo."""
    pki = make_pki(algorithm="rsa")
    files = build_files(make_citizen(11), pki)
    sod = _sod_signed_data(files)
    trust = CscaStore([pki.csca_certificate])
    good = _rebuild(sod, algorithm=_pss_parameters("sha256", 32), sign=_rsa_pss(pki.ds_key, "sha256", 32))
    assert all(step.passed for step in _steps(good, files, trust).values())
    wrong_salt = _rebuild(sod, algorithm=_pss_parameters("sha256", 20), sign=_rsa_pss(pki.ds_key, "sha256", 32))
    assert _steps(wrong_salt, files, trust)["SOD signature"].passed is False


def test_a_sod_the_verifier_cannot_read_is_a_failed_step(card_files):
    """Never an exception for a bad chip: an algorithm we do not know is a failed signature step."""
    steps = _steps(_rebuild(_sod_signed_data(card_files), algorithm={"algorithm": "1.2.3.4"}), card_files)
    assert steps["SOD signature"].passed is False and "cannot verify" in steps["SOD signature"].detail
    unsigned = cms.ContentInfo.load(_sod_signed_data(card_files))
    unsigned["content"]["signer_infos"] = []
    steps = _steps(unsigned.dump(force=True), card_files)
    assert steps["SOD structure"].passed is False and "exactly one signer" in steps["SOD structure"].detail
