"""A simulated eMRTD chip (a CCCD): the ICAO 9303 application with BAC and secure messaging, its
LDS files built from a synthetic citizen, and EF.SOD signed by a test Document Signer under a
test CSCA made for the run.

This is the chip's end of the wire, written from ICAO Doc 9303 parts 10 and 11 and ISO/IEC 7816-4
independently of the station's reading code (ARCHITECTURE.md): its own TLV encoder, its own BAC and
secure-messaging arithmetic.  It takes raw command APDUs and gives raw response APDUs, so any
carrier can hold it - the CCID reader simulator (USB) or the vpcd client (PC/SC).

Commands: SELECT (AID A0000002471001, EF by file identifier), GET CHALLENGE, EXTERNAL AUTHENTICATE,
INTERNAL AUTHENTICATE (Active Authentication, when the chip has a key: ``aa_key``), READ BINARY
(offset in P1-P2, or a short EF identifier in P1 with the offset in P2), GET RESPONSE.
Before BAC the files answer 6982 (security status not satisfied).  A protected response longer
than the command's Le maximum (256 for a short APDU) is delivered in parts with ``61 xx`` and
GET RESPONSE, as ISO/IEC 7816-4 7.6.1 allows; a 0xFF-byte read needs that, a 0xDF one does not.
A secure-messaging object that does not check ends the session with 6988 (9303-11 9.8.6.2).

Behaviours real chips show and this one copies on request (:class:`ChipQuirks`; vicc's ePass,
tests/peers, has all four): no short EF identifiers (READ BINARY by SFI answers 6A82), READ
BINARY past the end of a file answered 6282 with the bytes that remain (ISO/IEC 7816-4 5.6,
"end of file reached before reading Ne bytes"), protected responses without DO'99', and secure
messaging only on 9000 responses (a warning's data comes in a DO87 without MAC, an error as a
bare status word; the chip spends no send-sequence-counter value on such a response).

Faults for tests: :meth:`EmrtdChip.garbage_next` (the next response is random bytes + 90 00),
``busy_s`` (each command takes that long: a slow card, which a CCID reader covers with time
extensions), and a tampered data group (:func:`build_files` ``tamper=``) that the SOD no longer
matches.  Removing the card is the carrier's business (hardware_sim.ccid, hardware_sim.vpcd).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import os
import threading
from dataclasses import dataclass

import cv2
from asn1crypto import algos, cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC
from cryptography.x509.oid import NameOID

from hardware_sim.citizens import Citizen, face_pixels

AID = bytes.fromhex("A0000002471001")
#: Contactless ATR as a PC/SC reader synthesises it for an ISO 14443-4 card (PC/SC part 3,
#: 3.1.3.2.3): 3B 8n 80 01, n historical bytes, TCK.  The historical bytes here are arbitrary.
HISTORICAL_BYTES = bytes.fromhex("4343434443484950")  # "CCCDCHIP"
ID_LDS_SECURITY_OBJECT = "2.23.136.1.1.1"
#: DG13 object identifier as community decoders show it (shared/reference/icao9303-and-cccd.md).
DG13_OID = bytes.fromhex("06052800D2160108")[2:]  # 1.0.10646.1.0.8

#: name -> (file identifier, short EF identifier, LDS tag)
FILES = {
    "COM": (0x011E, 0x1E, 0x60), "SOD": (0x011D, 0x1D, 0x77), "DG1": (0x0101, 0x01, 0x61),
    "DG2": (0x0102, 0x02, 0x75), "DG13": (0x010D, 0x0D, 0x6D), "DG14": (0x010E, 0x0E, 0x6E),
    "DG15": (0x010F, 0x0F, 0x6F), "CardAccess": (0x011C, 0x1C, 0x31),
}

SW_OK = b"\x90\x00"
SW_END_OF_FILE = b"\x62\x82"
SW_WRONG_LENGTH = b"\x67\x00"
SW_SECURITY = b"\x69\x82"
SW_CONDITIONS = b"\x69\x85"
SW_SM_WRONG = b"\x69\x88"
SW_NOT_FOUND = b"\x6a\x82"
SW_WRONG_DATA = b"\x6a\x80"
SW_AUTH_FAILED = b"\x63\x00"
SW_WRONG_P1P2 = b"\x6b\x00"
SW_INS = b"\x6d\x00"
SW_CLA = b"\x6e\x00"


#: Historical bytes of a chip that announces extended Lc/Le: category 80, card capabilities (73)
#: whose third byte has b7 set (ISO/IEC 7816-4 8.1.1.2.7).
EXTENDED_HISTORICAL_BYTES = bytes.fromhex("80 73 00 00 40")


def atr(historical: bytes = HISTORICAL_BYTES) -> bytes:
    """The chip's ATR, with TCK."""
    body = bytes([0x80 | len(historical), 0x80, 0x01]) + historical
    check = 0
    for byte in body:
        check ^= byte
    return b"\x3b" + body + bytes([check])


# --------------------------------------------------------------------------- DER / TLV, chip side


def tlv(tag: int, value: bytes) -> bytes:
    if len(value) < 0x80:
        length = bytes([len(value)])
    elif len(value) < 0x100:
        length = bytes([0x81, len(value)])
    elif len(value) < 0x10000:
        length = b"\x82" + len(value).to_bytes(2, "big")
    else:
        length = b"\x83" + len(value).to_bytes(3, "big")
    return tag.to_bytes((tag.bit_length() + 7) // 8 or 1, "big") + length + value


# --------------------------------------------------------------------------- the test PKI


@dataclass(frozen=True)
class ChipPki:
    """A country signing CA and one Document Signer under it, made fresh for the run."""

    csca_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    csca_certificate: x509.Certificate
    ds_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    ds_certificate: x509.Certificate

    def csca_pem(self) -> bytes:
        return self.csca_certificate.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Simulated Ministry of Public Security"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_pki(*, algorithm: str = "ecdsa", csca_name: str = "Test CSCA Vietnam") -> ChipPki:
    """A CSCA (self-signed, CA) and a Document Signer certificate it issued.  ``algorithm``:
    ``"ecdsa"`` (P-256) or ``"rsa"`` (2048-bit)."""
    def key() -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
        if algorithm == "rsa":
            return rsa.generate_private_key(65537, 2048)
        return ec.generate_private_key(ec.SECP256R1())

    now = dt.datetime.now(dt.UTC)
    csca_key, ds_key = key(), key()
    csca = (x509.CertificateBuilder().subject_name(_name(csca_name)).issuer_name(_name(csca_name))
            .public_key(csca_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=15 * 365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(csca_key.public_key()), critical=False)
            .sign(csca_key, hashes.SHA256()))
    ds = (x509.CertificateBuilder().subject_name(_name("Test Document Signer 01")).issuer_name(csca.subject)
          .public_key(ds_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=10 * 365))
          .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
          .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(csca_key.public_key()), critical=False)
          .sign(csca_key, hashes.SHA256()))
    return ChipPki(csca_key, csca, ds_key, ds)


@functools.lru_cache(maxsize=1)
def run_pki() -> ChipPki:
    """The test PKI of this run (one per process, made on first use)."""
    return make_pki()


# --------------------------------------------------------------------------- LDS files


class _DataGroupHash(core.Sequence):
    _fields = [("dataGroupNumber", core.Integer), ("dataGroupHashValue", core.OctetString)]


class _DataGroupHashes(core.SequenceOf):
    _child_spec = _DataGroupHash


class _LdsSecurityObject(core.Sequence):
    _fields = [("version", core.Integer), ("hashAlgorithm", algos.DigestAlgorithm),
               ("dataGroupHashValues", _DataGroupHashes)]


def _ef_com(tags: bytes) -> bytes:
    return tlv(0x60, tlv(0x5F01, b"0107") + tlv(0x5F36, b"040000") + tlv(0x5C, tags))


def _dg1(citizen: Citizen) -> bytes:
    return tlv(0x61, tlv(0x5F1F, "".join(citizen.mrz_lines).encode("ascii")))


def face_record(image: bytes, width: int, height: int, *, jpeg2000: bool) -> bytes:
    """An ISO/IEC 19794-5:2005 facial record with one image and no feature points."""
    information = (b"\x00\x00"          # feature points
                   + b"\x00\x00\x00"     # gender, eye colour, hair colour: unspecified
                   + b"\x00\x00\x00"     # feature mask
                   + b"\x00\x00"         # expression
                   + b"\x00\x00\x00"     # pose angles
                   + b"\x00\x00\x00")    # pose angle uncertainty
    image_info = (bytes([1, 1 if jpeg2000 else 0]) + width.to_bytes(2, "big") + height.to_bytes(2, "big")
                  + bytes([1, 2]) + b"\x00\x00" + b"\x00\x00")  # full frontal; sRGB; digital still camera
    block = information + image_info + image
    face = (4 + len(block)).to_bytes(4, "big") + block
    return b"FAC\x00" + b"010\x00" + (14 + len(face)).to_bytes(4, "big") + b"\x00\x01" + face


def _dg2(*, jpeg2000: bool) -> bytes:
    pixels = cv2.cvtColor(face_pixels(), cv2.COLOR_RGB2BGR)
    extension, options = (".jp2", [cv2.IMWRITE_JPEG2000_COMPRESSION_X1000, 60]) if jpeg2000 else (
        ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 85])
    ok, encoded = cv2.imencode(extension, pixels, options)
    if not ok:
        raise RuntimeError(f"OpenCV cannot encode {extension}")
    height, width = pixels.shape[:2]
    header = (tlv(0x80, b"\x01\x01") + tlv(0x81, b"\x02") + tlv(0x87, b"\x01\x01") + tlv(0x88, b"\x00\x08"))
    instance = tlv(0x7F60, tlv(0xA1, header) + tlv(0x5F2E, face_record(encoded.tobytes(), width, height,
                                                                          jpeg2000=jpeg2000)))
    return tlv(0x75, tlv(0x7F61, tlv(0x02, b"\x01") + instance))


def _dg13(citizen: Citizen) -> bytes:
    entries = []
    for number, value in citizen.dg13_fields().items():
        if isinstance(value, tuple):
            encoded = tlv(0x30, b"".join(tlv(0x0C, v.encode("utf-8")) for v in value))
        else:
            encoded = tlv(0x0C, value.encode("utf-8"))
        entries.append(tlv(0x30, tlv(0x02, bytes([number])) + encoded))
    inner = tlv(0x02, b"\x01") + tlv(0x06, DG13_OID) + tlv(0x31, b"".join(entries))
    return tlv(0x6D, tlv(0x30, tlv(0x30, inner)))


def sign_sod(data_groups: dict[int, bytes], pki: ChipPki, *, digest: str = "sha256") -> bytes:
    """EF.SOD: a CMS SignedData (v3) over the LDSSecurityObject of ``data_groups`` (number ->
    encoded file), signed by the Document Signer with signed attributes (9303-10 4.6.2)."""
    lso = _LdsSecurityObject({
        "version": 0, "hashAlgorithm": {"algorithm": digest},
        "dataGroupHashValues": [{"dataGroupNumber": n, "dataGroupHashValue": hashlib.new(digest, d).digest()}
                                for n, d in sorted(data_groups.items())],
    }).dump()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    attributes = cms.CMSAttributes([
        {"type": "content_type", "values": [ID_LDS_SECURITY_OBJECT]},
        {"type": "signing_time", "values": [cms.Time(name="utc_time", value=core.UTCTime(now))]},
        {"type": "message_digest", "values": [hashlib.new(digest, lso).digest()]},
    ])
    to_sign = attributes.dump()  # DER as a SET (tag 31), which is what is signed
    hash_algorithm = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[digest]
    if isinstance(pki.ds_key, rsa.RSAPrivateKey):
        signature = pki.ds_key.sign(to_sign, padding.PKCS1v15(), hash_algorithm)
        signature_algorithm = {"algorithm": f"{digest}_rsa"}
    else:
        signature = pki.ds_key.sign(to_sign, ec.ECDSA(hash_algorithm))
        signature_algorithm = {"algorithm": f"{digest}_ecdsa"}
    ds = asn1_x509.Certificate.load(pki.ds_certificate.public_bytes(serialization.Encoding.DER))
    signed_data = cms.SignedData({
        "version": "v3",
        "digest_algorithms": [{"algorithm": digest}],
        "encap_content_info": {"content_type": ID_LDS_SECURITY_OBJECT, "content": lso},
        "certificates": [ds],
        "signer_infos": [{
            "version": "v1",
            "sid": {"issuer_and_serial_number": {"issuer": ds.issuer, "serial_number": ds.serial_number}},
            "digest_algorithm": {"algorithm": digest},
            "signed_attrs": cms.CMSAttributes.load(to_sign),
            "signature_algorithm": signature_algorithm,
            "signature": signature,
        }],
    })
    content_info = cms.ContentInfo({"content_type": "signed_data", "content": signed_data})
    return tlv(0x77, content_info.dump())


ID_PK_ECDH = "0.4.0.127.0.7.2.2.1.2"
ID_CA_ECDH_3DES_CBC_CBC = "0.4.0.127.0.7.2.2.3.2.1"


class _SecurityInfo(core.Sequence):
    _fields = [("protocol", core.ObjectIdentifier), ("required", core.Any)]


class _SecurityInfos(core.SetOf):
    _child_spec = _SecurityInfo


def dg14(ca_public_key: ec.EllipticCurvePublicKey) -> bytes:
    """DG14: ChipAuthenticationInfo (id-CA-ECDH-3DES-CBC-CBC, version 1) and
    ChipAuthenticationPublicKeyInfo (id-PK-ECDH, the SubjectPublicKeyInfo) - BSI TR-03110 A.1.1."""
    spki = ca_public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    infos = _SecurityInfos([
        {"protocol": ID_CA_ECDH_3DES_CBC_CBC, "required": core.Integer(1)},
        {"protocol": ID_PK_ECDH, "required": core.Any.load(spki)},
    ])
    return tlv(0x6E, infos.dump())


@functools.lru_cache(maxsize=1)
def ca_key() -> ec.EllipticCurvePrivateKey:
    """A Chip Authentication key pair for simulated chips (one per run)."""
    return ec.generate_private_key(ec.SECP256R1())


def build_files(citizen: Citizen, pki: ChipPki | None = None, *, jpeg2000: bool = False,
                tamper: str | None = None, aa_key: AaKey | None = None,
                ca_public_key: ec.EllipticCurvePublicKey | None = None) -> dict[str, bytes]:
    """The card's files (name -> encoded file).  ``tamper`` names a data group changed *after*
    the SOD was signed: one letter of its content altered, as a forger editing a chip would.
    ``aa_key``: the chip's Active Authentication key, whose public half DG15 carries."""
    pki = pki or run_pki()
    groups = {1: _dg1(citizen), 2: _dg2(jpeg2000=jpeg2000), 13: _dg13(citizen)}
    tags = [0x61, 0x75, 0x6D]
    if ca_public_key is not None:
        groups[14] = dg14(ca_public_key)
        tags.append(0x6E)
    if aa_key is not None:
        groups[15] = tlv(0x6F, aa_key.public_key().public_bytes(serialization.Encoding.DER,
                                                                serialization.PublicFormat.SubjectPublicKeyInfo))
        tags.append(0x6F)
    files = {"COM": _ef_com(bytes(tags)), **{f"DG{n}": d for n, d in groups.items()}, "SOD": sign_sod(groups, pki)}
    if tamper is not None:
        original = files[tamper]
        position = len(original) - 3
        files[tamper] = original[:position] + bytes([original[position] ^ 0x01]) + original[position + 1 :]
    return files


# --------------------------------------------------------------------------- Active Authentication, chip side

AaKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
#: ISO/IEC 9796-2 trailer for SHA-1 (the hash implied, one byte) - what chips use with RSA AA.
TRAILER_SHA1 = 0xBC


@functools.lru_cache(maxsize=2)
def aa_key(algorithm: str = "rsa") -> AaKey:
    """An Active Authentication key pair for simulated chips (one per algorithm and run)."""
    return rsa.generate_private_key(65537, 1024) if algorithm == "rsa" else ec.generate_private_key(ec.SECP256R1())


def aa_sign(key: AaKey, challenge: bytes) -> bytes:
    """The chip's answer to INTERNAL AUTHENTICATE (ICAO 9303-11 6.1): RSA - ISO/IEC 9796-2 digital
    signature scheme 1 with partial message recovery, SHA-1: ``F = 6A || M1 || SHA-1(M1 || M2) || BC``
    with M2 the terminal's challenge and M1 the chip's nonce filling the rest of the modulus, and
    ``s = F^d mod n``; ECDSA - SHA-256 over the challenge, the signature as plain ``r || s``
    (BSI TR-03111)."""
    if isinstance(key, rsa.RSAPrivateKey):
        size = (key.key_size + 7) // 8
        m1 = os.urandom(size - 20 - 2)
        f = b"\x6a" + m1 + hashlib.sha1(m1 + challenge).digest() + bytes([TRAILER_SHA1])
        numbers = key.private_numbers()
        return pow(int.from_bytes(f, "big"), numbers.d, numbers.public_numbers.n).to_bytes(size, "big")
    r, s_value = decode_dss_signature(key.sign(challenge, ec.ECDSA(hashes.SHA256())))
    order = (key.curve.key_size + 7) // 8
    return r.to_bytes(order, "big") + s_value.to_bytes(order, "big")


# --------------------------------------------------------------------------- PACE, chip side

ID_PACE_ECDH_GM_AES_128 = "0.4.0.127.0.7.2.2.4.2.2"


class _Curve:
    """Affine arithmetic on a prime-field Weierstrass curve (the chip's own, for the mapped generator)."""

    def __init__(self, p: int, a: int, b: int, g: tuple[int, int], n: int) -> None:
        self.p, self.a, self.b, self.g, self.n = p, a, b, g, n

    def add(self, one: tuple[int, int] | None, two: tuple[int, int] | None) -> tuple[int, int] | None:
        if one is None or two is None:
            return one or two
        if one[0] == two[0] and (one[1] + two[1]) % self.p == 0:
            return None
        if one == two:
            lam = (3 * one[0] ** 2 + self.a) * pow(2 * one[1], -1, self.p)
        else:
            lam = (two[1] - one[1]) * pow(two[0] - one[0], -1, self.p)
        x = (lam * lam - one[0] - two[0]) % self.p
        return x, (lam * (one[0] - x) - one[1]) % self.p

    def mul(self, k: int, point: tuple[int, int]) -> tuple[int, int]:
        result = None
        for bit in bin(k)[2:]:
            result = self.add(result, result)
            if bit == "1":
                result = self.add(result, point)
        assert result is not None
        return result

    def encode(self, point: tuple[int, int]) -> bytes:
        return b"\x04" + point[0].to_bytes(32, "big") + point[1].to_bytes(32, "big")

    def decode(self, data: bytes) -> tuple[int, int] | None:
        if len(data) != 65 or data[0] != 4:
            return None
        x, y = int.from_bytes(data[1:33], "big"), int.from_bytes(data[33:], "big")
        return (x, y) if (y * y - x ** 3 - self.a * x - self.b) % self.p == 0 else None


#: brainpoolP256r1 (RFC 5639 3.4)
_BP256 = _Curve(
    0xA9FB57DBA1EEA9BC3E660A909D838D726E3BF623D52620282013481D1F6E5377,
    0x7D5A0975FC2C3057EEF67530417AFFE7FB8055C126DC5C6CE94A4B44F330B5D9,
    0x26DC5C6CE94A4B44F330B5D9BBD77CBF958416295CF7E1CE6BCCDC18FF8C07B6,
    (0x8BD2AEB9CB7E57CB2C4B482FFC81B7AFB9DE27E1E3BD23C23A4453BD9ACE3262,
     0x547EF835C3DAC4FD97F8461A14611DC9C27745132DED8E545C1D54C72F046997),
    0xA9FB57DBA1EEA9BC3E660A909D838D718C397AA3B561A6F7901E0E82974856A7)


def _oid_value(dotted: str) -> bytes:
    return core.ObjectIdentifier(dotted).dump()[2:]


def _objects(data: bytes) -> dict[int, bytes] | None:
    """Simple (one-byte tag, short or 81 length) objects of ``data``, or None if malformed."""
    found, offset = {}, 0
    while offset < len(data):
        if offset + 2 > len(data):
            return None
        tag, length, start = data[offset], data[offset + 1], offset + 2
        if length == 0x81 and start < len(data):
            length, start = data[start], start + 1
        elif length >= 0x80:
            return None
        if start + length > len(data):
            return None
        found[tag], offset = data[start : start + length], start + length
    return found


def _token(ks_mac: bytes, point: bytes) -> bytes:
    data = tlv(0x7F49, tlv(0x06, _oid_value(ID_PACE_ECDH_GM_AES_128)) + tlv(0x86, point))
    check = CMAC(algorithms.AES(ks_mac))
    check.update(data)
    return check.finalize()[:8]


def card_access() -> bytes:
    """EF.CardAccess offering PACE ECDH-GM-AES-128 on brainpoolP256r1 (PACEInfo version 2, parameters 13)."""
    info = tlv(0x06, _oid_value(ID_PACE_ECDH_GM_AES_128)) + tlv(0x02, b"\x02") + tlv(0x02, b"\x0d")
    return tlv(0x31, tlv(0x30, info))


# --------------------------------------------------------------------------- 3DES, chip side


def _cipher(key: bytes, mode: modes.Mode) -> Cipher:
    return Cipher(TripleDES(key + key[:8] if len(key) == 16 else key * 3), mode)


def _pad(data: bytes) -> bytes:
    data += b"\x80"
    return data + b"\x00" * ((8 - len(data) % 8) % 8)


def _mac(key: bytes, message: bytes) -> bytes:
    """ISO/IEC 9797-1 MAC algorithm 3 with padding method 2."""
    state = bytes(8)
    single = _cipher(key[:8], modes.ECB()).encryptor()
    padded = _pad(message)
    for index in range(0, len(padded), 8):
        state = single.update(bytes(a ^ b for a, b in zip(state, padded[index : index + 8], strict=True)))
    state = _cipher(key[8:16], modes.ECB()).decryptor().update(state)
    return _cipher(key[:8], modes.ECB()).encryptor().update(state)


def _kdf(seed: bytes, counter: int) -> bytes:
    raw = hashlib.sha1(seed + counter.to_bytes(4, "big")).digest()[:16]
    return bytes((b & 0xFE) | (1 - bin(b & 0xFE).count("1") % 2) for b in raw)


def _enc(key: bytes, data: bytes) -> bytes:
    return _cipher(key, modes.CBC(bytes(8))).encryptor().update(data)


class _Des:
    """3DES secure messaging (after BAC, or Chip Authentication with 3DES): 8-byte blocks and SSC."""

    block = 8

    @staticmethod
    def pad(data: bytes) -> bytes:
        return _pad(data)

    @staticmethod
    def mac(key: bytes, message: bytes) -> bytes:
        return _mac(key, message)

    @staticmethod
    def enc(key: bytes, ssc: bytes, data: bytes) -> bytes:
        return _enc(key, data)

    @staticmethod
    def dec(key: bytes, ssc: bytes, data: bytes) -> bytes:
        return _dec(key, data)


class _Aes:
    """AES secure messaging (after PACE): 16-byte blocks and SSC, IV = AES(KSenc, SSC), CMAC."""

    block = 16

    @staticmethod
    def pad(data: bytes) -> bytes:
        data += b"\x80"
        return data + bytes(-len(data) % 16)

    @staticmethod
    def mac(key: bytes, message: bytes) -> bytes:
        check = CMAC(algorithms.AES(key))
        check.update(_Aes.pad(message))
        return check.finalize()[:8]

    @staticmethod
    def _cbc(key: bytes, ssc: bytes) -> Cipher:
        iv = Cipher(algorithms.AES(key), modes.ECB()).encryptor().update(ssc)
        return Cipher(algorithms.AES(key), modes.CBC(iv))

    @staticmethod
    def enc(key: bytes, ssc: bytes, data: bytes) -> bytes:
        return _Aes._cbc(key, ssc).encryptor().update(data)

    @staticmethod
    def dec(key: bytes, ssc: bytes, data: bytes) -> bytes:
        return _Aes._cbc(key, ssc).decryptor().update(data)


def _dec(key: bytes, data: bytes) -> bytes:
    return _cipher(key, modes.CBC(bytes(8))).decryptor().update(data)


# --------------------------------------------------------------------------- the chip


@dataclass(frozen=True)
class ChipQuirks:
    """Ways a real chip may answer that the defaults (a by-the-book chip) do not (module docstring)."""

    short_ef_ids: bool = True
    end_of_file_warning: bool = False
    do99: bool = True
    mac_only_9000: bool = False


VICC_LIKE = ChipQuirks(short_ef_ids=False, end_of_file_warning=True, do99=False, mac_only_9000=True)


class EmrtdChip:
    """The chip of one card: ``process(command) -> response``, both raw APDU bytes."""

    def __init__(self, citizen: Citizen, *, files: dict[str, bytes] | None = None, pki: ChipPki | None = None,
                 busy_s: float = 0.0, quirks: ChipQuirks = ChipQuirks(), aa_key: AaKey | None = None,
                 ca_key: ec.EllipticCurvePrivateKey | None = None, extended_length: bool = False,
                 can: str | None = None) -> None:
        self.citizen = citizen
        self.can = can
        """The Card Access Number printed on the card (PACE password 2), if the chip takes one."""
        self.ca_key = ca_key
        """The private key of Chip Authentication (DG14's public key), if the chip has one."""
        self.quirks = quirks
        self.aa_key = aa_key
        """The private key INTERNAL AUTHENTICATE signs with (a clone has another one, or none)."""
        self.files = files if files is not None else build_files(citizen, pki)
        mrz = citizen.mrz_lines
        information = mrz[0][5:15] + mrz[1][0:7] + mrz[1][8:15]
        seed = hashlib.sha1(information.encode()).digest()[:16]
        self._k_enc, self._k_mac = _kdf(seed, 1), _kdf(seed, 2)
        self.busy_s = busy_s
        """Seconds each command takes (a slow card)."""
        self.atr = atr(EXTENDED_HISTORICAL_BYTES if extended_length else HISTORICAL_BYTES)
        """Announces extended Lc/Le in its card capabilities when ``extended_length``."""
        self.lock = threading.Lock()
        self._garbage: int | None = None
        self.commands = 0
        """Commands processed since the card was made."""
        self.reset()

    def reset(self) -> None:
        """Power-up state: nothing selected, no session."""
        self._application = False
        self._challenge: bytes | None = None
        self._session: tuple[bytes, bytes, int] | None = None  # KSenc, KSmac, SSC
        self._selected: str | None = None
        self._pending = b""
        self._next_session: tuple[bytes, bytes, int] | None = None  # after Chip Authentication
        self._suite: type[_Des] | type[_Aes] = _Des
        self._in_secure = False
        self._pace: dict | None = None

    def garbage_next(self, *, skip: int = 0) -> None:
        """Answer the next command (after ``skip`` more) with random bytes instead of a response.

        The random bytes end in status 90 00: a reply that claims success, so only secure
        messaging (its MAC and DO structure) can tell it from a real one.  Random status
        words would sometimes be a plain chip error (e.g. 6A82), which the reader rightly
        reports as such — a different test, and a flaky one if left to chance."""
        with self.lock:
            self._garbage = skip

    def process(self, command: bytes) -> bytes:
        """Execute one command APDU."""
        with self.lock:
            self.commands += 1
            response = self._process(bytes(command))
            if self._garbage is not None:
                if self._garbage == 0:
                    self._garbage = None
                    response = os.urandom(1 + os.urandom(1)[0] % 40) + b"\x90\x00"
                else:
                    self._garbage -= 1
            return response

    # ---- APDU parsing (ISO/IEC 7816-4 5.1)

    @staticmethod
    def _parse(command: bytes) -> tuple[bytes, bytes, int | None] | None:
        """(header, data, Le) or None if malformed.  Le None = no Le; 256/65536 for 00/0000."""
        header, body = command[:4], command[4:]
        if len(header) < 4:
            return None
        if not body:
            return header, b"", None
        if len(body) == 1:
            return header, b"", body[0] or 256
        if body[0] != 0:
            lc = body[0]
            if len(body) == 1 + lc:
                return header, body[1:], None
            if len(body) == 2 + lc:
                return header, body[1 : 1 + lc], body[-1] or 256
            return None
        if len(body) == 3:
            return header, b"", int.from_bytes(body[1:], "big") or 65536
        lc = int.from_bytes(body[1:3], "big")
        if len(body) == 3 + lc:
            return header, body[3:], None
        if len(body) == 5 + lc:
            return header, body[3 : 3 + lc], int.from_bytes(body[-2:], "big") or 65536
        return None

    def _process(self, command: bytes) -> bytes:
        parsed = self._parse(command)
        if parsed is None:
            return SW_WRONG_LENGTH
        header, data, le = parsed
        cla, ins = header[0], header[1]
        if ins == 0xC0 and cla & 0x0C == 0:
            return self._get_response(le)
        self._pending = b""
        if cla & 0x0C == 0x0C:
            return self._secure(header, data, le, extended=len(command) > 4 and command[4] == 0 and len(command) > 5)
        if cla != 0x00 and not (cla == 0x10 and ins == 0x86):  # command chaining: PACE's GENERAL AUTHENTICATE
            return SW_CLA
        self._session = None  # a plain command ends secure messaging (9303-11 9.8.6.2)
        body, sw = self._execute(header, data, le)
        return body + sw

    def _get_response(self, le: int | None) -> bytes:
        if not self._pending:
            return SW_CONDITIONS
        part, self._pending = self._pending[: le or 256], self._pending[le or 256 :]
        return part + (bytes([0x61, min(len(self._pending), 256) % 256]) if self._pending else SW_OK)

    def _secure(self, header: bytes, data: bytes, le: int | None, *, extended: bool) -> bytes:
        if self._session is None:
            return SW_SM_WRONG
        ks_enc, ks_mac, ssc = self._session
        suite = self._suite
        objects, offset = {}, 0
        order = []
        try:
            while offset < len(data):
                tag, length_at = data[offset], offset + 1
                length = data[length_at]
                if length == 0x81:
                    length, length_at = data[length_at + 1], length_at + 1
                elif length == 0x82:
                    length, length_at = int.from_bytes(data[length_at + 1 : length_at + 3], "big"), length_at + 2
                objects[tag] = (data[offset : length_at + 1 + length], data[length_at + 1 : length_at + 1 + length])
                order.append(tag)
                offset = length_at + 1 + length
        except IndexError:
            self._session = None
            return SW_SM_WRONG
        if not order or order[-1] != 0x8E or set(order) - {0x87, 0x97, 0x8E}:
            self._session = None
            return SW_SM_WRONG
        ssc += 1
        counter = ssc.to_bytes(suite.block, "big")
        macced = b"".join(objects[t][0] for t in order if t != 0x8E)
        if not hmac.compare_digest(suite.mac(ks_mac, counter + suite.pad(header) + macced), objects[0x8E][1]):
            self._session = None
            return SW_SM_WRONG
        plain = b""
        if 0x87 in objects:
            cryptogram = objects[0x87][1]
            decrypted = suite.dec(ks_enc, counter, cryptogram[1:]).rstrip(b"\x00")
            plain = decrypted[:-1]
        inner_le = None
        if 0x97 in objects:
            inner_le = int.from_bytes(objects[0x97][1], "big") or (256 if len(objects[0x97][1]) == 1 else 65536)
        plain_header = bytes([header[0] & ~0x0C & 0xFF]) + header[1:]
        self._in_secure = True
        try:
            body, sw = self._execute(plain_header, plain, inner_le)
        finally:
            self._in_secure = False
        if self._session is None:  # the command ended it
            return sw
        response_counter = (ssc + 1).to_bytes(suite.block, "big")
        do87 = tlv(0x87, b"\x01" + suite.enc(ks_enc, response_counter, suite.pad(body))) if body else b""
        if self.quirks.mac_only_9000 and sw != SW_OK:
            self._session = (ks_enc, ks_mac, ssc)  # no counter value spent on an unprotected answer
            return do87 + sw
        ssc += 1
        do99 = tlv(0x99, sw) if self.quirks.do99 else b""
        protected = do87 + do99 + tlv(0x8E, suite.mac(ks_mac, response_counter + do87 + do99))
        self._session = (ks_enc, ks_mac, ssc)
        if self._next_session is not None:  # Chip Authentication: this answer was the last under the old keys
            self._session, self._next_session, self._suite = self._next_session, None, _Des
        limit = 65536 if extended else 256
        if len(protected) > limit:
            self._pending = protected[limit:]
            return protected[:limit] + bytes([0x61, min(len(self._pending), 256) % 256])
        return protected + sw

    # ---- the commands

    def _execute(self, header: bytes, data: bytes, le: int | None) -> tuple[bytes, bytes]:
        ins, p1, p2 = header[1], header[2], header[3]
        if ins == 0xA4:
            return b"", self._select(p1, p2, data)
        if ins == 0x84:
            if le != 8 or not self._application:
                return b"", SW_WRONG_LENGTH if self._application else SW_CONDITIONS
            self._challenge = os.urandom(8)
            return self._challenge, SW_OK
        if ins == 0x82:
            return self._external_authenticate(data)
        if ins == 0x22 and p1 == 0xC1 and p2 == 0xA4 and not self._in_secure:
            return b"", self._pace_set(data)
        if ins == 0x86 and not self._in_secure:
            return self._general_authenticate(header[0], data)
        if ins == 0x22 and p1 == 0x41 and p2 == 0xA6:
            return b"", self._chip_authentication(data)
        if ins == 0x88:
            if self.aa_key is None:
                return b"", SW_INS
            if self._session is None:
                return b"", SW_SECURITY
            if len(data) != 8:
                return b"", SW_WRONG_LENGTH
            return aa_sign(self.aa_key, data), SW_OK
        if ins == 0xB0:
            return self._read_binary(p1, p2, le)
        return b"", SW_INS

    # ---- PACE, chip side (ICAO 9303-11 4.4: ECDH Generic Mapping, AES-128, brainpoolP256r1)

    def _pace_set(self, data: bytes) -> bytes:
        """MSE:Set AT: ``80`` the PACE OID, ``83`` the password (1 = MRZ), ``84`` parameters (optional)."""
        if "CardAccess" not in self.files:
            return SW_INS
        objects = _objects(data)
        if objects is None or objects.get(0x80) != _oid_value(ID_PACE_ECDH_GM_AES_128):
            return SW_WRONG_DATA
        if objects.get(0x83) not in (b"\x01", b"\x02") or (objects[0x83] == b"\x02" and self.can is None):
            return SW_WRONG_DATA
        if objects.get(0x84, b"\x0d") != b"\x0d":
            return SW_WRONG_DATA
        self._pace = {"step": 0, "password": objects[0x83][0]}
        self._session, self._suite = None, _Des
        return SW_OK

    def _general_authenticate(self, cla: int, data: bytes) -> tuple[bytes, bytes]:
        state = self._pace
        outer = _objects(data)
        if state is None or outer is None or 0x7C not in outer:
            return b"", SW_CONDITIONS
        inner = _objects(outer[0x7C])
        if inner is None:
            return b"", SW_WRONG_DATA
        step, curve = state["step"], _BP256
        if step == 0 and not inner:
            mrz = self.citizen.mrz_lines
            information = (mrz[0][5:15] + mrz[1][0:7] + mrz[1][8:15]) if len(mrz) == 3 else ""
            secret = hashlib.sha1(information.encode()).digest() if state["password"] == 1 else self.can.encode()
            k_pi = hashlib.sha1(secret + b"\x00\x00\x00\x03").digest()[:16]
            state["nonce"] = os.urandom(16)
            encrypted = Cipher(algorithms.AES(k_pi), modes.CBC(bytes(16))).encryptor().update(state["nonce"])
            state["step"] = 1
            return tlv(0x7C, tlv(0x80, encrypted)), SW_OK
        if step == 1 and 0x81 in inner:
            terminal = curve.decode(inner[0x81])
            if terminal is None:
                return b"", SW_WRONG_DATA
            secret = 1 + int.from_bytes(os.urandom(40), "big") % (curve.n - 1)
            mapped = curve.add(curve.mul(int.from_bytes(state["nonce"], "big"), curve.g), curve.mul(secret, terminal))
            state.update(step=2, generator=mapped)
            return tlv(0x7C, tlv(0x82, curve.encode(curve.mul(secret, curve.g)))), SW_OK
        if step == 2 and 0x83 in inner:
            terminal = curve.decode(inner[0x83])
            if terminal is None:
                return b"", SW_WRONG_DATA
            secret = 1 + int.from_bytes(os.urandom(40), "big") % (curve.n - 1)
            own = curve.encode(curve.mul(secret, state["generator"]))
            shared = curve.mul(secret, terminal)[0].to_bytes(32, "big")
            state.update(step=3, own=own, terminal=inner[0x83],
                         keys=tuple(hashlib.sha1(shared + bytes([0, 0, 0, c])).digest()[:16] for c in (1, 2)))
            return tlv(0x7C, tlv(0x84, own)), SW_OK
        if step == 3 and 0x85 in inner and cla & 0x10 == 0:
            ks_enc, ks_mac = state["keys"]
            if not hmac.compare_digest(inner[0x85], _token(ks_mac, state["own"])):
                self._pace = None
                return b"", SW_AUTH_FAILED
            self._pace = None
            self._session, self._suite = (ks_enc, ks_mac, 0), _Aes
            return tlv(0x7C, tlv(0x86, _token(ks_mac, state["terminal"]))), SW_OK
        self._pace = None
        return b"", SW_CONDITIONS

    def _chip_authentication(self, data: bytes) -> bytes:
        """MSE:Set KAT (BSI TR-03110 / 9303-11 6.2, version 1): ``91`` the terminal's ephemeral EC
        point; the new session (3DES keys from SHA-1(K || counter), SSC 0) starts after this answer."""
        if self.ca_key is None:
            return SW_INS
        if self._session is None:
            return SW_SECURITY
        if len(data) < 2 or data[0] != 0x91 or data[1] >= 0x80 or len(data) < 2 + data[1]:
            return SW_WRONG_DATA
        try:
            point = ec.EllipticCurvePublicKey.from_encoded_point(self.ca_key.curve, data[2 : 2 + data[1]])
        except ValueError:
            return SW_WRONG_DATA
        shared = self.ca_key.exchange(ec.ECDH(), point)
        self._next_session = (_kdf(shared, 1), _kdf(shared, 2), 0)
        return SW_OK

    def _select(self, p1: int, p2: int, data: bytes) -> bytes:
        if p1 == 0x04:
            if data != AID:
                return SW_NOT_FOUND
            self._application, self._selected = True, None
            if not self._in_secure:  # a plain SELECT starts afresh; one under PACE's session keeps it
                self._session = None
            return SW_OK
        if p1 == 0x02 and len(data) == 2:
            if self._session is None:
                return SW_SECURITY
            fid = int.from_bytes(data, "big")
            name = next((n for n, (f, _, _) in FILES.items() if f == fid and n in self.files), None)
            if name is None:
                return SW_NOT_FOUND
            self._selected = name
            return SW_OK
        return SW_WRONG_P1P2

    def _external_authenticate(self, data: bytes) -> tuple[bytes, bytes]:
        challenge, self._challenge = self._challenge, None
        if challenge is None:
            return b"", SW_CONDITIONS
        if len(data) != 40:
            return b"", SW_WRONG_LENGTH
        if not hmac.compare_digest(_mac(self._k_mac, data[:32]), data[32:]):
            return b"", SW_AUTH_FAILED
        plain = _dec(self._k_enc, data[:32])
        rnd_ifd, rnd_icc, k_ifd = plain[:8], plain[8:16], plain[16:]
        if rnd_icc != challenge:
            return b"", SW_AUTH_FAILED
        k_icc = os.urandom(16)
        e_ic = _enc(self._k_enc, challenge + rnd_ifd + k_icc)
        seed = bytes(a ^ b for a, b in zip(k_ifd, k_icc, strict=True))
        self._session = (_kdf(seed, 1), _kdf(seed, 2), int.from_bytes(challenge[4:] + rnd_ifd[4:], "big"))
        return e_ic + _mac(self._k_mac, e_ic), SW_OK

    def _read_binary(self, p1: int, p2: int, le: int | None) -> tuple[bytes, bytes]:
        if self._session is None:
            if p1 == 0x80 | FILES["CardAccess"][1] and "CardAccess" in self.files:  # free to read (9303-10 3.11)
                content = self.files["CardAccess"][p2:]
                return content[: le or 256], SW_OK
            return b"", SW_SECURITY
        if p1 & 0x80:
            name = next((n for n, (_, sfi, _) in FILES.items() if sfi == p1 & 0x1F and n in self.files), None)
            if not self.quirks.short_ef_ids:
                name = None
            if name is None:
                return b"", SW_NOT_FOUND
            self._selected, offset = name, p2
        else:
            if self._selected is None:
                return b"", SW_CONDITIONS
            offset = p1 << 8 | p2
        content = self.files[self._selected]
        if offset > len(content):
            return b"", SW_WRONG_P1P2
        part = content[offset : offset + (le or 256)]
        if self.quirks.end_of_file_warning and len(part) < (le or 256):
            return part, SW_END_OF_FILE
        return part, SW_OK
