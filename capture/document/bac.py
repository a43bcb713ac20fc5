"""Basic Access Control (ICAO Doc 9303-11 section 4.3 and Appendix D), as plain functions.

Each building block is exposed on its own so that it can be tested against the standard's worked
example (Appendix D.2-D.3) value by value; :func:`authenticate` runs them in order over a reader.

* Key seed: the first 16 bytes of SHA-1(MRZ_information).
* Key derivation (9303-11 9.7.1): ``SHA-1(seed || counter)``, counter 1 for Kenc and 2 for Kmac,
  first 16 bytes, each byte's least significant bit set for odd parity (DES keys).
* Mutual authentication: GET CHALLENGE gives RND.IC (8 bytes); the terminal sends
  ``E_IFD || M_IFD`` with ``S = RND.IFD || RND.IC || K.IFD``, ``E_IFD = 3DES-CBC(Kenc, S)`` (zero IV)
  and ``M_IFD = MAC(Kmac, E_IFD)``; the chip answers ``E_IC || M_IC`` over
  ``RND.IC || RND.IFD || K.IC``.
* Session keys: derived like the access keys from ``K.IFD xor K.IC``; the send sequence counter
  starts as the last four bytes of RND.IC followed by the last four of RND.IFD.
* MAC: ISO/IEC 9797-1 MAC algorithm 3 (single-DES CBC, then 3DES on the last block) with padding
  method 2 (``80`` then zeros to a multiple of 8).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from capture.document.mrz import MrzInformation
from drivers.errors import N_, ExplainedError
from drivers.smartcard.base import CardReader, CommandAPDU

BLOCK = 8
ENC_COUNTER = 1
MAC_COUNTER = 2


class BacError(ExplainedError):
    """The chip refused BAC (wrong MRZ information) or answered it inconsistently."""

    citizen_message = N_("The card could not be opened with these details. Please check the numbers typed in.")
    technician_hint = ("BAC was refused: the document number, birth date or expiry date does not match "
                       "the card's MRZ (for a CCCD: the document number is 9 digits of the 12-digit ID).")

    def __init__(self, detail: str, *, sw: int | None = None) -> None:
        self.sw = sw
        super().__init__(detail)


@dataclass(frozen=True)
class SessionKeys:
    """What secure messaging starts from."""

    ks_enc: bytes
    ks_mac: bytes
    ssc: bytes


def key_seed(mrz_information: str) -> bytes:
    """Kseed = the first 16 bytes of SHA-1(MRZ_information)."""
    return hashlib.sha1(mrz_information.encode("ascii")).digest()[:16]


def adjust_parity(key: bytes) -> bytes:
    """Set each byte's least significant bit so that it has an odd number of 1 bits (DES)."""
    return bytes((b & 0xFE) | (bin(b >> 1).count("1") + 1) % 2 for b in key)


def derive_key(seed: bytes, counter: int) -> bytes:
    """A 2-key 3DES key from ``seed``: SHA-1(seed || counter as 4 bytes)[:16], parity adjusted."""
    return adjust_parity(hashlib.sha1(seed + counter.to_bytes(4, "big")).digest()[:16])


def pad(data: bytes) -> bytes:
    """ISO/IEC 9797-1 padding method 2: ``80``, then zeros to a multiple of 8 bytes."""
    padded = data + b"\x80"
    return padded + bytes(-len(padded) % BLOCK)


def unpad(data: bytes) -> bytes:
    """Remove padding method 2; ValueError if it is not there."""
    stripped = data.rstrip(b"\x00")
    if not stripped.endswith(b"\x80") or len(data) % BLOCK:
        raise ValueError("padding method 2 not found")
    return stripped[:-1]


def _des3(key: bytes) -> TripleDES:
    return TripleDES(key + key[:8] if len(key) == 16 else key)


def encrypt(key: bytes, data: bytes, iv: bytes = bytes(BLOCK)) -> bytes:
    """2-key 3DES in CBC mode (data already a multiple of 8 bytes)."""
    encryptor = Cipher(_des3(key), modes.CBC(iv)).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def decrypt(key: bytes, data: bytes, iv: bytes = bytes(BLOCK)) -> bytes:
    decryptor = Cipher(_des3(key), modes.CBC(iv)).decryptor()
    return decryptor.update(data) + decryptor.finalize()


def retail_mac(key: bytes, data: bytes) -> bytes:
    """ISO/IEC 9797-1 MAC algorithm 3 over ``pad(data)`` with the 16-byte key Ka || Kb: single-DES
    CBC with Ka over every block, then the last result decrypted with Kb and encrypted with Ka."""
    padded = pad(data)
    ka = key[:8]
    chained = encrypt(ka * 3, padded)[-BLOCK:]  # single DES = 3DES with K1 = K2 = K3
    ecb = Cipher(_des3(ka * 3), modes.ECB())
    kb = Cipher(_des3(key[8:16] * 3), modes.ECB())
    step = kb.decryptor().update(chained)
    return ecb.encryptor().update(step)


def mutual_auth_data(rnd_icc: bytes, rnd_ifd: bytes, k_ifd: bytes, k_enc: bytes, k_mac: bytes) -> bytes:
    """The EXTERNAL AUTHENTICATE command data E_IFD || M_IFD."""
    e_ifd = encrypt(k_enc, rnd_ifd + rnd_icc + k_ifd)
    return e_ifd + retail_mac(k_mac, e_ifd)


def check_mutual_auth_response(response: bytes, rnd_icc: bytes, rnd_ifd: bytes, k_enc: bytes, k_mac: bytes) -> bytes:
    """Check the chip's E_IC || M_IC and return K.IC.  BacError if the MAC or the nonces are wrong."""
    if len(response) != 40:
        raise BacError(f"EXTERNAL AUTHENTICATE answered {len(response)} bytes, expected 40")
    e_ic, m_ic = response[:32], response[32:]
    if not hmac.compare_digest(retail_mac(k_mac, e_ic), m_ic):
        raise BacError("the chip's authentication MAC does not check: it does not share our keys")
    plain = decrypt(k_enc, e_ic)
    if plain[:8] != rnd_icc or plain[8:16] != rnd_ifd:
        raise BacError("the chip's answer does not carry our challenge back")
    return plain[16:32]


def session_keys(k_ifd: bytes, k_icc: bytes, rnd_icc: bytes, rnd_ifd: bytes) -> SessionKeys:
    """KSenc, KSmac from K.IFD xor K.IC, and the initial send sequence counter."""
    seed = bytes(a ^ b for a, b in zip(k_ifd, k_icc, strict=True))
    return SessionKeys(derive_key(seed, ENC_COUNTER), derive_key(seed, MAC_COUNTER), rnd_icc[4:] + rnd_ifd[4:])


def authenticate(reader: CardReader, info: MrzInformation, *, rng: bytes | None = None) -> SessionKeys:
    """Run BAC over ``reader`` (eMRTD application already selected).  ``rng`` (24 bytes: RND.IFD
    then K.IFD) is for tests that replay the standard's example; normally both are random."""
    seed = key_seed(info.key_seed_input)
    k_enc, k_mac = derive_key(seed, ENC_COUNTER), derive_key(seed, MAC_COUNTER)
    challenge = reader.transmit(CommandAPDU(0x00, 0x84, 0x00, 0x00, le=8))
    if not challenge.ok or len(challenge.data) != 8:
        raise BacError(f"GET CHALLENGE failed: {challenge}", sw=challenge.sw)
    rnd_icc = challenge.data
    random = rng if rng is not None else os.urandom(24)
    rnd_ifd, k_ifd = random[:8], random[8:24]
    answer = reader.transmit(CommandAPDU(0x00, 0x82, 0x00, 0x00,
                                         mutual_auth_data(rnd_icc, rnd_ifd, k_ifd, k_enc, k_mac), le=40))
    if not answer.ok:
        # 6300 (9303-11 4.3.4.2: authentication failed) is what a wrong MRZ gets.
        raise BacError(f"the chip refused EXTERNAL AUTHENTICATE (SW {answer.sw:04X})", sw=answer.sw)
    k_icc = check_mutual_auth_response(answer.data, rnd_icc, rnd_ifd, k_enc, k_mac)
    return session_keys(k_ifd, k_icc, rnd_icc, rnd_ifd)
