"""Active Authentication (ICAO Doc 9303-11 section 6.1): the chip proves it holds the private key
whose public half DG15 carries - and DG15 is covered by the SOD - so a copy of the data on another
chip (a clone) fails, where passive authentication alone would pass it.

The terminal sends a random 8-byte challenge in INTERNAL AUTHENTICATE (``00 88 00 00 08 ... 00``,
under secure messaging); the chip answers with a signature:

* RSA - ISO/IEC 9796-2 digital signature scheme 1 (partial message recovery): ``m = s^e mod n``
  must be ``6A || M1 || H || T``; T is ``BC`` (the hash is SHA-1) or two bytes ``hh CC`` naming
  the hash (ISO/IEC 10118-3 identifiers: 33 SHA-1, 34 SHA-256, 35 SHA-512, 36 SHA-384, 38 SHA-224);
  ``H`` must equal ``hash(M1 || challenge)``.
* ECDSA - a signature over the challenge; the hash is the one DG14's ActiveAuthenticationInfo
  names, SHA-256 when the reader is not told otherwise; the signature is plain ``r || s`` (BSI
  TR-03111 5.2.1; the DER form is accepted too).

:func:`active_authentication` never raises for what the chip sends: it returns the step, failed
with the reason.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from capture.document.identity import VerificationStep
from capture.document.tlv import TlvError, read_single
from drivers.smartcard.base import CommandAPDU, ResponseAPDU

STEP = "Active Authentication"
CHALLENGE_SIZE = 8
#: ISO/IEC 10118-3 hash identifiers in a two-byte ISO/IEC 9796-2 trailer ``hh CC``.
TRAILER_HASHES = {0x33: "sha1", 0x34: "sha256", 0x35: "sha512", 0x36: "sha384", 0x38: "sha224"}
_ECDSA_HASHES = {"sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256,
                 "sha384": hashes.SHA384, "sha512": hashes.SHA512}

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


class Dg15Error(ValueError):
    """DG15 does not hold a usable Active Authentication public key."""


def parse_dg15(data: bytes) -> PublicKey:
    """The public key of DG15 (``6F { SubjectPublicKeyInfo }``, 9303-10 4.7.15)."""
    try:
        key = serialization.load_der_public_key(read_single(data, 0x6F))
    except TlvError as error:
        raise Dg15Error(f"DG15: {error}") from error
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise Dg15Error(f"DG15 does not hold a public key: {error}") from error
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise Dg15Error(f"DG15 holds a {type(key).__name__}, not an RSA or EC key")
    return key


def verify_rsa(key: rsa.RSAPublicKey, challenge: bytes, signature: bytes) -> str:
    """The hash used, if ``signature`` is the 9796-2 signature of ``challenge``; ValueError why not."""
    numbers = key.public_numbers()
    size = (key.key_size + 7) // 8
    if len(signature) != size:
        raise ValueError(f"signature of {len(signature)} bytes for a {key.key_size}-bit key")
    value = int.from_bytes(signature, "big")
    if value >= numbers.n:
        raise ValueError("signature is not smaller than the modulus")
    message = pow(value, numbers.e, numbers.n).to_bytes(size, "big")
    if message[-1] == 0xBC:
        algorithm, trailer = "sha1", 1
    elif message[-1] == 0xCC and message[-2] in TRAILER_HASHES:
        algorithm, trailer = TRAILER_HASHES[message[-2]], 2
    else:
        raise ValueError(f"recovered message ends {message[-2:].hex()}, not an ISO/IEC 9796-2 trailer")
    if message[0] != 0x6A:
        raise ValueError(f"recovered message starts {message[0]:02X}, not 6A (partial recovery, no padding)")
    digest_size = hashlib.new(algorithm).digest_size
    m1 = message[1 : size - trailer - digest_size]
    expected = message[size - trailer - digest_size : size - trailer]
    if not hmac.compare_digest(hashlib.new(algorithm, m1 + challenge).digest(), expected):
        raise ValueError("the hash in the signature is not that of the challenge")
    return algorithm


def verify_ecdsa(key: ec.EllipticCurvePublicKey, challenge: bytes, signature: bytes, algorithm: str) -> str:
    order = (key.curve.key_size + 7) // 8
    if len(signature) == 2 * order:
        der = encode_dss_signature(int.from_bytes(signature[:order], "big"), int.from_bytes(signature[order:], "big"))
    else:
        der = signature
    try:
        key.verify(der, challenge, ec.ECDSA(_ECDSA_HASHES[algorithm]()))
    except InvalidSignature:
        raise ValueError("the ECDSA signature does not verify") from None
    return algorithm


def active_authentication(send: Callable[[CommandAPDU], ResponseAPDU], dg15: bytes, *,
                          ecdsa_hash: str = "sha256", challenge: bytes | None = None) -> VerificationStep:
    """Run INTERNAL AUTHENTICATE with ``send`` (the secure-messaging session) against DG15's key."""
    try:
        key = parse_dg15(dg15)
    except Dg15Error as error:
        return VerificationStep(STEP, False, str(error))
    challenge = challenge if challenge is not None else os.urandom(CHALLENGE_SIZE)
    answer = send(CommandAPDU(0x00, 0x88, 0x00, 0x00, challenge, le=256))
    if not answer.ok or not answer.data:
        return VerificationStep(STEP, False, f"INTERNAL AUTHENTICATE answered {answer.sw:04X}: the chip did not "
                                             "prove it holds DG15's key")
    try:
        if isinstance(key, rsa.RSAPublicKey):
            algorithm = verify_rsa(key, challenge, answer.data)
            kind = f"RSA-{key.key_size}, ISO/IEC 9796-2 with {algorithm.upper()}"
        else:
            algorithm = verify_ecdsa(key, challenge, answer.data, ecdsa_hash)
            kind = f"ECDSA {key.curve.name} with {algorithm.upper()}"
    except (ValueError, TypeError, KeyError) as error:
        return VerificationStep(STEP, False, f"{error}: the chip is not the one DG15 belongs to (a copy?)")
    return VerificationStep(STEP, True, f"the chip signed our challenge with DG15's key ({kind})")
