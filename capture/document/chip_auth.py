"""Chip Authentication (ICAO Doc 9303-11 section 6.2, version 1 as BSI TR-03110 part 1 gives it):
the chip proves it holds the private key whose public half DG14 carries (DG14 is covered by the
SOD), by agreeing new secure-messaging keys with the terminal from that key - a clone without it
cannot answer under the new keys.

DG14 (tag 6E) is a ``SecurityInfos ::= SET OF SecurityInfo``; this module reads
``ChipAuthenticationInfo ::= SEQUENCE { protocol OID, version INTEGER, keyId INTEGER OPTIONAL }``
and ``ChipAuthenticationPublicKeyInfo ::= SEQUENCE { protocol OID (id-PK-ECDH / id-PK-DH),
chipAuthenticationPublicKey SubjectPublicKeyInfo, keyId INTEGER OPTIONAL }``.

Supported: id-CA-ECDH-3DES-CBC-CBC (0.4.0.127.0.7.2.2.3.2.1) with a named curve.  The terminal
makes an ephemeral key pair on the chip's curve, sends its public point in MSE:Set KAT
(``0C 22 41 A6``, data ``91 L point [84 L keyId]``, under the BAC session); both sides compute
K = the x coordinate of the ECDH shared point, and restart secure messaging with
KSenc = KDF(K, 1), KSmac = KDF(K, 2) (the BAC key derivation of 9303-11 9.7.1) and SSC = 0.
A protected SELECT of EF.COM under the new keys then must verify: that answer is
the proof.  DH and the AES variants are not implemented (they are reported, not guessed).
"""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import core
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from capture.document import bac
from capture.document.identity import VerificationStep
from capture.document.secure_messaging import SecureMessaging, SecureMessagingError, UnauthenticatedStatus
from capture.document.tlv import TlvError, encode_tlv, read_single
from drivers.smartcard.base import CardReader, CommandAPDU

STEP = "Chip Authentication"
ID_PK_ECDH = "0.4.0.127.0.7.2.2.1.2"
ID_PK_DH = "0.4.0.127.0.7.2.2.1.1"
ID_CA = "0.4.0.127.0.7.2.2.3"
ID_CA_ECDH_3DES = "0.4.0.127.0.7.2.2.3.2.1"
EF_COM = bytes.fromhex("011E")


class Dg14Error(ValueError):
    """DG14 holds no Chip Authentication this reader can run."""


class _SecurityInfo(core.Sequence):
    _fields = [("protocol", core.ObjectIdentifier), ("required", core.Any), ("optional", core.Any, {"optional": True})]


class _SecurityInfos(core.SetOf):
    _child_spec = _SecurityInfo


@dataclass(frozen=True)
class ChipAuthentication:
    """What DG14 offers: the protocol OID, the chip's public key, and its key id (if any)."""

    protocol: str
    public_key: ec.EllipticCurvePublicKey
    key_id: int | None


def parse_dg14(data: bytes) -> ChipAuthentication:
    """The Chip Authentication DG14 offers (Dg14Error when none this reader runs)."""
    try:
        infos = _SecurityInfos.load(read_single(data, 0x6E))
        entries = [(info["protocol"].dotted, info["required"], info["optional"]) for info in infos]
    except (TlvError, ValueError, TypeError, KeyError, AttributeError, IndexError) as error:
        raise Dg14Error(f"DG14 is not a SecurityInfos set: {error}") from error
    protocols = [(oid, required, optional) for oid, required, optional in entries if oid.startswith(ID_CA + ".")]
    keys = [(required, optional) for oid, required, optional in entries if oid in (ID_PK_ECDH, ID_PK_DH)]
    if not keys:
        raise Dg14Error("DG14 holds no ChipAuthenticationPublicKeyInfo")
    if any(oid == ID_PK_DH for oid, _, _ in entries) and not any(oid == ID_PK_ECDH for oid, _, _ in entries):
        raise Dg14Error("DG14 offers Chip Authentication with DH only, which this reader does not run")
    protocol = next((oid for oid, _, _ in protocols if oid == ID_CA_ECDH_3DES), None)
    if protocol is None:
        # 9303-11: without a ChipAuthenticationInfo, ECDH keys mean id-CA-ECDH-3DES-CBC-CBC.
        if protocols:
            raise Dg14Error(f"DG14 offers {', '.join(o for o, _, _ in protocols)}; this reader runs only "
                            f"{ID_CA_ECDH_3DES} (ECDH, 3DES)")
        protocol = ID_CA_ECDH_3DES
    required, optional = next((r, o) for oid, r, o in entries if oid == ID_PK_ECDH)
    try:
        key = serialization.load_der_public_key(required.dump())
        key_id = optional.parse(core.Integer).native if optional is not None and not isinstance(
            optional, core.Void) else None
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise Dg14Error(f"DG14's Chip Authentication key cannot be loaded: {error}") from error
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise Dg14Error(f"DG14's Chip Authentication key is a {type(key).__name__}, not an EC key")
    return ChipAuthentication(protocol, key, key_id)


def chip_authentication(reader: CardReader, sm: SecureMessaging, dg14: bytes
                        ) -> tuple[VerificationStep, SecureMessaging | None]:
    """Run Chip Authentication over ``reader`` in the session ``sm``: the step, and the new
    secure-messaging session when the chip proved it holds DG14's key (None otherwise: the old
    session may be gone too, so nothing more is read)."""
    try:
        offer = parse_dg14(dg14)
    except Dg14Error as error:
        return VerificationStep(STEP, False, str(error)), None
    ephemeral = ec.generate_private_key(offer.public_key.curve)
    point = ephemeral.public_key().public_bytes(serialization.Encoding.X962,
                                                serialization.PublicFormat.UncompressedPoint)
    data = encode_tlv(0x91, point)
    if offer.key_id is not None:
        data += encode_tlv(0x84, offer.key_id.to_bytes(max(1, (offer.key_id.bit_length() + 7) // 8), "big"))
    answer = sm.transmit(reader, CommandAPDU(0x00, 0x22, 0x41, 0xA6, data))
    if not answer.ok:
        return VerificationStep(STEP, False, f"MSE:Set KAT answered {answer.sw:04X}: the chip refused Chip "
                                             "Authentication"), None
    shared = ephemeral.exchange(ec.ECDH(), offer.public_key)
    restarted = SecureMessaging(bac.derive_key(shared, bac.ENC_COUNTER), bac.derive_key(shared, bac.MAC_COUNTER),
                                bytes(8))
    try:
        proof = restarted.transmit(reader, CommandAPDU(0x00, 0xA4, 0x02, 0x0C, EF_COM))
    except SecureMessagingError as error:
        return VerificationStep(STEP, False, f"the chip's answer under the agreed keys does not verify ({error}): "
                                             "it does not hold DG14's private key (a copy?)"), None
    if not proof.ok or isinstance(proof, UnauthenticatedStatus):
        return VerificationStep(STEP, False, f"under the agreed keys the chip answered {proof.sw:04X} without "
                                             "proof: it does not hold DG14's private key (a copy?)"), None
    curve = offer.public_key.curve.name
    return VerificationStep(STEP, True, f"the chip agreed new session keys with DG14's key (ECDH {curve}, "
                                        "3DES)"), restarted
