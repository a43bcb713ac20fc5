"""PACE (ICAO Doc 9303-11 section 4.4): Password Authenticated Connection Establishment with the
Generic Mapping over elliptic curves and AES secure messaging - the building blocks, each tested
against the worked example of 9303-11 Appendix G.1 value by value, and the terminal's side of the
protocol over a reader.

* Password: from the MRZ, ``K = SHA-1(MRZ_information)`` (the BAC key seed input, 9303-11 9.7.3);
  from the CAN, the CAN's ASCII digits.  ``K_pi = KDF(K, 3)``.
* KDF (9303-11 9.7.1): AES-128 ``SHA-1(K || counter)[:16]``; AES-192/256 ``SHA-256(...)[:24/32]``.
* Step 1: GENERAL AUTHENTICATE ``7C 00`` -> ``7C { 80 z }``; the nonce ``s = AES-CBC^-1(K_pi, z)``
  with a zero IV.
* Step 2 (Generic Mapping, 4.4.3.3.1): mapping keys exchanged (81 / 82); ``H = SK_map * PK_map,IC``
  (a point) and ``G^ = s * G + H``.
* Step 3: ephemeral keys on ``G^`` (83 / 84); ``K = x(SK * PK_IC)``; KSenc = KDF(K, 1), KSmac = KDF(K, 2).
* Step 4: tokens (85 / 86) ``T = CMAC(KSmac, 7F49 { 06 OID, 86 other side's point })``, first 8 bytes.
* Every step but the last is sent with command chaining (CLA 10).

The curve arithmetic is plain affine arithmetic over the prime field (the mapped generator is not
a named curve's, so a library's named-curve ECDH cannot be used); curve constants from RFC 5639
(brainpool) and FIPS 186-4 (NIST), checked in the tests against ``cryptography``'s generators.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass

from asn1crypto import core
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from capture.document.tlv import Tlv, TlvError, encode_tlv, iter_tlvs
from drivers.errors import N_, ExplainedError
from drivers.smartcard.base import CommandAPDU, ResponseAPDU

ID_PACE_ECDH_GM_AES_128 = "0.4.0.127.0.7.2.2.4.2.2"
ID_PACE_ECDH_GM_AES_192 = "0.4.0.127.0.7.2.2.4.2.3"
ID_PACE_ECDH_GM_AES_256 = "0.4.0.127.0.7.2.2.4.2.4"
KEY_SIZES = {ID_PACE_ECDH_GM_AES_128: 16, ID_PACE_ECDH_GM_AES_192: 24, ID_PACE_ECDH_GM_AES_256: 32}
MRZ, CAN = 1, 2
"""Password references of MSE:Set AT (83)."""


class PaceError(ExplainedError):
    """PACE was refused or answered inconsistently (wrong password, a token that does not check)."""

    citizen_message = N_("The card could not be opened with these details. Please check the numbers typed in.")
    technician_hint = "PACE failed: wrong MRZ details or CAN, or the chip's answer did not check."

    def __init__(self, detail: str, *, sw: int | None = None) -> None:
        self.sw = sw
        super().__init__(detail)


@dataclass(frozen=True)
class Curve:
    """A short Weierstrass curve y^2 = x^3 + ax + b over GF(p), its generator and order."""

    name: str
    p: int
    a: int
    b: int
    gx: int
    gy: int
    n: int

    @property
    def g(self) -> tuple[int, int]:
        return self.gx, self.gy

    @property
    def size(self) -> int:
        return (self.p.bit_length() + 7) // 8

    def on_curve(self, point: tuple[int, int]) -> bool:
        x, y = point
        return 0 <= x < self.p and 0 <= y < self.p and (y * y - x * x * x - self.a * x - self.b) % self.p == 0

    def add(self, one: tuple[int, int] | None, other: tuple[int, int] | None) -> tuple[int, int] | None:
        if one is None:
            return other
        if other is None:
            return one
        (x1, y1), (x2, y2) = one, other
        if x1 == x2 and (y1 + y2) % self.p == 0:
            return None
        if one == other:
            slope = (3 * x1 * x1 + self.a) * pow(2 * y1, -1, self.p) % self.p
        else:
            slope = (y2 - y1) * pow(x2 - x1, -1, self.p) % self.p
        x3 = (slope * slope - x1 - x2) % self.p
        return x3, (slope * (x1 - x3) - y1) % self.p

    def multiply(self, k: int, point: tuple[int, int]) -> tuple[int, int]:
        result, addend = None, point
        k %= self.n
        while k:
            if k & 1:
                result = self.add(result, addend)
            addend = self.add(addend, addend)
            k >>= 1
        if result is None:
            raise PaceError("a point at infinity in PACE (a degenerate key)")
        return result

    def encode(self, point: tuple[int, int]) -> bytes:
        return b"\x04" + point[0].to_bytes(self.size, "big") + point[1].to_bytes(self.size, "big")

    def decode(self, data: bytes) -> tuple[int, int]:
        if len(data) != 1 + 2 * self.size or data[0] != 0x04:
            raise PaceError(f"a point of {len(data)} bytes is not an uncompressed point on {self.name}")
        point = int.from_bytes(data[1 : 1 + self.size], "big"), int.from_bytes(data[1 + self.size :], "big")
        if not self.on_curve(point):
            raise PaceError(f"the chip's point is not on {self.name}")
        return point


BRAINPOOL_P256R1 = Curve(
    "brainpoolP256r1",
    0xA9FB57DBA1EEA9BC3E660A909D838D726E3BF623D52620282013481D1F6E5377,
    0x7D5A0975FC2C3057EEF67530417AFFE7FB8055C126DC5C6CE94A4B44F330B5D9,
    0x26DC5C6CE94A4B44F330B5D9BBD77CBF958416295CF7E1CE6BCCDC18FF8C07B6,
    0x8BD2AEB9CB7E57CB2C4B482FFC81B7AFB9DE27E1E3BD23C23A4453BD9ACE3262,
    0x547EF835C3DAC4FD97F8461A14611DC9C27745132DED8E545C1D54C72F046997,
    0xA9FB57DBA1EEA9BC3E660A909D838D718C397AA3B561A6F7901E0E82974856A7)
NIST_P256 = Curve(
    "secp256r1",
    0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF,
    0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFC,
    0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
    0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
    0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551)
#: Standardized domain parameters (9303-11 table 6 / BSI TR-03110 part 3 table 4) this reader has.
PARAMETER_IDS = {12: NIST_P256, 13: BRAINPOOL_P256R1}


def password_key(*, mrz_information: str | None = None, can: str | None = None) -> bytes:
    """K = f(password): SHA-1 of the MRZ information, or the CAN itself."""
    if mrz_information is not None:
        return hashlib.sha1(mrz_information.encode("ascii")).digest()
    if can is not None:
        return can.encode("ascii")
    raise ValueError("PACE needs the MRZ information or the CAN")


def kdf(shared: bytes, counter: int, key_size: int = 16) -> bytes:
    """9303-11 9.7.1 for AES: SHA-1 for 128-bit keys, SHA-256 for 192 and 256."""
    digest = hashlib.sha1 if key_size == 16 else hashlib.sha256
    return digest(shared + counter.to_bytes(4, "big")).digest()[:key_size]


def decrypt_nonce(k_pi: bytes, encrypted: bytes) -> bytes:
    decryptor = Cipher(algorithms.AES(k_pi), modes.CBC(bytes(16))).decryptor()
    return decryptor.update(encrypted) + decryptor.finalize()


def map_generator(curve: Curve, nonce: bytes, sk_map: int, pk_map_ic: tuple[int, int]) -> tuple[int, int]:
    """Generic Mapping: G^ = s * G + SK_map * PK_map,IC."""
    shared = curve.multiply(sk_map, pk_map_ic)
    mapped = curve.add(curve.multiply(int.from_bytes(nonce, "big"), curve.g), shared)
    if mapped is None:
        raise PaceError("the mapped generator is the point at infinity")
    return mapped


def auth_token(ks_mac: bytes, oid: str, point: bytes) -> bytes:
    """T = CMAC(KSmac, 7F49 { 06 OID, 86 point })[:8] (9303-11 4.4.3.4, public key data object D.3.4)."""
    oid_value = core.ObjectIdentifier(oid).dump()[2:]
    data = encode_tlv(0x7F49, encode_tlv(0x06, oid_value) + encode_tlv(0x86, point))
    mac = cmac.CMAC(algorithms.AES(ks_mac))
    mac.update(data)
    return mac.finalize()[:8]


@dataclass(frozen=True)
class PaceInfo:
    """One PACE protocol EF.CardAccess offers (9303-11 9.2.1: PACEInfo)."""

    oid: str
    version: int
    parameter_id: int | None


class _SecurityInfo(core.Sequence):
    _fields = [("protocol", core.ObjectIdentifier), ("required", core.Any), ("optional", core.Any, {"optional": True})]


class _SecurityInfos(core.SetOf):
    _child_spec = _SecurityInfo


def parse_card_access(data: bytes) -> list[PaceInfo]:
    """The PACEInfos of EF.CardAccess (a SecurityInfos SET) this reader can run, in the file's
    order; ValueError when the file does not parse."""
    try:
        infos = _SecurityInfos.load(data)
        found = []
        for info in infos:
            oid = info["protocol"].dotted
            if oid not in KEY_SIZES:
                continue
            version = info["required"].parse(core.Integer).native
            optional = info["optional"]
            parameter = None if optional is None or isinstance(optional, core.Void) else optional.parse(
                core.Integer).native
            if version == 2 and (parameter is None or parameter in PARAMETER_IDS):
                found.append(PaceInfo(oid, version, parameter))
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError) as error:
        raise ValueError(f"EF.CardAccess is not a SecurityInfos set: {error}") from error
    return found


@dataclass(frozen=True)
class PaceKeys:
    ks_enc: bytes
    ks_mac: bytes
    chip_token: bytes


def _dynamic(data: bytes, tag: int) -> bytes:
    """The value of ``tag`` inside the dynamic authentication data ``7C { ... }``."""
    try:
        objects: list[Tlv] = list(iter_tlvs(data))
        if len(objects) != 1 or objects[0].tag != 0x7C:
            raise PaceError("GENERAL AUTHENTICATE answer is not dynamic authentication data (7C)")
        inner = {o.tag: o.value for o in iter_tlvs(objects[0].value)}
    except TlvError as error:
        raise PaceError(f"GENERAL AUTHENTICATE answer: {error}") from error
    if tag not in inner:
        raise PaceError(f"GENERAL AUTHENTICATE answer lacks tag {tag:02X}")
    return inner[tag]


def establish(transmit: Callable[[CommandAPDU], ResponseAPDU], oid: str, parameter_id: int, key: bytes, *,
              password: int = MRZ, send_parameter_id: bool = False,
              random_scalar: Callable[[Curve], int] | None = None) -> PaceKeys:
    """Run PACE over ``transmit`` (a plain channel); the session keys, or PaceError.
    ``random_scalar`` gives the terminal's private keys (tests replay the worked example's)."""
    if oid not in KEY_SIZES or parameter_id not in PARAMETER_IDS:
        raise PaceError(f"PACE {oid} with domain parameters {parameter_id} is not supported")
    curve, key_size = PARAMETER_IDS[parameter_id], KEY_SIZES[oid]
    draw = random_scalar or (lambda c: 1 + int.from_bytes(os.urandom(c.size + 8), "big") % (c.n - 1))

    setting = encode_tlv(0x80, core.ObjectIdentifier(oid).dump()[2:]) + encode_tlv(0x83, bytes([password]))
    if send_parameter_id:
        setting += encode_tlv(0x84, bytes([parameter_id]))
    answer = transmit(CommandAPDU(0x00, 0x22, 0xC1, 0xA4, setting))
    if not answer.ok:
        raise PaceError(f"MSE:Set AT answered {answer.sw:04X}", sw=answer.sw)

    def general_authenticate(data: bytes, *, last: bool = False) -> bytes:
        answer = transmit(CommandAPDU(0x00 if last else 0x10, 0x86, 0x00, 0x00, encode_tlv(0x7C, data), le=256))
        if not answer.ok:
            raise PaceError(f"GENERAL AUTHENTICATE answered {answer.sw:04X}", sw=answer.sw)
        return answer.data

    nonce = decrypt_nonce(kdf(key, 3, key_size), _dynamic(general_authenticate(b""), 0x80))
    sk_map = draw(curve)
    pk_map_ic = curve.decode(_dynamic(general_authenticate(encode_tlv(0x81, curve.encode(
        curve.multiply(sk_map, curve.g)))), 0x82))
    mapped = map_generator(curve, nonce, sk_map, pk_map_ic)
    sk = draw(curve)
    pk_ifd = curve.encode(curve.multiply(sk, mapped))
    pk_ic_bytes = _dynamic(general_authenticate(encode_tlv(0x83, pk_ifd)), 0x84)
    pk_ic = curve.decode(pk_ic_bytes)
    if pk_ic_bytes == pk_ifd:
        raise PaceError("the chip sent our own ephemeral key back")
    shared = curve.multiply(sk, pk_ic)[0].to_bytes(curve.size, "big")
    ks_enc, ks_mac = kdf(shared, 1, key_size), kdf(shared, 2, key_size)
    chip_token = _dynamic(general_authenticate(encode_tlv(0x85, auth_token(ks_mac, oid, pk_ic_bytes)), last=True),
                          0x86)
    if not hmac.compare_digest(chip_token, auth_token(ks_mac, oid, pk_ifd)):
        raise PaceError("the chip's authentication token does not check: it does not share our password")
    return PaceKeys(ks_enc, ks_mac, chip_token)
