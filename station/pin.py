"""PINs for the technician and the officer: stored as scrypt hashes, locked out after failures.

A PIN is short, so its hash must be slow: scrypt (RFC 7914) with n=2**14, r=8, p=1 costs about
50 ms and 16 MiB per guess, and a per-PIN random salt stops precomputed tables.  The lockout
makes online guessing pointless: after ``max_failures`` wrong PINs in a row the PIN is refused for
``lockout_s`` seconds, doubling with each further lockout.  The stored form is one line,
``scrypt$n$r$p$salt_hex$hash_hex``, so a PIN can be set in the configuration file without ever
writing the PIN itself there (``enrol pin hash`` prints it).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

_N, _R, _P, _LENGTH = 2**14, 8, 1, 32


def hash_pin(pin: str) -> str:
    """The stored form of ``pin``."""
    if not pin.isdigit() or not 4 <= len(pin) <= 12:
        raise ValueError("a PIN is 4 to 12 digits")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=_LENGTH)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


@dataclass(frozen=True)
class PinHash:
    """A stored PIN hash, parsed: ``scrypt$n$r$p$salt_hex$hash_hex``."""

    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes


MIN_N, MIN_R, MIN_P = _N, _R, _P
"""The weakest scrypt accepted: what :func:`hash_pin` makes (RFC 7914 §2's parameters; n=2**14,
r=8 is the "interactive login" cost of the scrypt paper).  A weaker stored hash is refused at
load: a 4-digit PIN behind a cheap hash falls to an offline search in seconds."""
MIN_SALT_BYTES, MIN_DIGEST_BYTES = 16, 32
MAX_N = 2**20
"""Above this one check costs over a GiB of memory (128·r·n bytes): a typo, not a policy."""


def parse_pin_hash(stored: str) -> PinHash:
    """``stored`` parsed and checked in full, or a ValueError saying what is wrong with it (so that a
    placeholder such as ``scrypt$16384$8$1$...`` is refused at start-up, not at the first PIN)."""
    fields_ = stored.split("$")
    if len(fields_) != 6 or fields_[0] != "scrypt":
        raise ValueError("must be a PIN hash as `enrol pin hash` prints it: scrypt$n$r$p$salt$hash, "
                         "never the PIN itself")
    _, n, r, p, salt, digest = fields_
    if not (n.isdigit() and r.isdigit() and p.isdigit()):
        raise ValueError("the scrypt parameters n, r, p of a PIN hash are whole numbers")
    parsed_n, parsed_r, parsed_p = int(n), int(r), int(p)
    if parsed_n & (parsed_n - 1) or not MIN_N <= parsed_n <= MAX_N:
        raise ValueError(f"scrypt n must be a power of two from {MIN_N} to {MAX_N}, not {parsed_n}")
    if not MIN_R <= parsed_r <= 64 or not MIN_P <= parsed_p <= 16:
        raise ValueError(f"scrypt r must be {MIN_R}-64 and p {MIN_P}-16, not r={parsed_r} p={parsed_p}")
    try:
        salt_bytes, digest_bytes = bytes.fromhex(salt), bytes.fromhex(digest)
    except ValueError:
        raise ValueError("the salt and hash of a PIN hash are hexadecimal; copy the whole line "
                         "`enrol pin hash` printed") from None
    if len(salt_bytes) < MIN_SALT_BYTES or len(digest_bytes) < MIN_DIGEST_BYTES:
        raise ValueError(f"a PIN hash has a salt of at least {MIN_SALT_BYTES} bytes and a hash of at least "
                         f"{MIN_DIGEST_BYTES}; copy the whole line `enrol pin hash` printed")
    return PinHash(parsed_n, parsed_r, parsed_p, salt_bytes, digest_bytes)


def verify_pin(pin: str, stored: str) -> bool:
    """Whether ``pin`` matches ``stored`` (constant-time comparison)."""
    try:
        parsed = parse_pin_hash(stored)
    except ValueError as error:
        raise ValueError(f"not a stored PIN hash ({error})") from None
    digest = hashlib.scrypt(pin.encode(), salt=parsed.salt, n=parsed.n, r=parsed.r, p=parsed.p,
                            dklen=len(parsed.digest), maxmem=256 * parsed.r * parsed.n)
    return hmac.compare_digest(digest, parsed.digest)


@dataclass(frozen=True)
class PinCheck:
    """The outcome of one PIN entry."""

    accepted: bool
    locked_for_s: float = 0.0
    """When locked out: seconds until another PIN may be tried."""
    attempts_left: int = 0


class PinGuard:
    """Checks PIN entries against one stored hash, with lockout after repeated failures."""

    def __init__(self, stored: str, *, max_failures: int = 5, lockout_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._stored = stored
        self._max_failures = max_failures
        self._lockout_s = lockout_s
        self._clock = clock
        self._failures = 0
        self._lockouts = 0
        self._locked_until = 0.0
        self._lock = threading.Lock()

    def check(self, pin: str) -> PinCheck:
        """Try ``pin``; while locked out nothing is checked at all."""
        with self._lock:
            now = self._clock()
            if now < self._locked_until:
                return PinCheck(False, locked_for_s=self._locked_until - now)
            if verify_pin(pin, self._stored):
                self._failures = 0
                self._lockouts = 0
                return PinCheck(True)
            self._failures += 1
            if self._failures >= self._max_failures:
                self._failures = 0
                self._locked_until = now + self._lockout_s * 2**self._lockouts
                self._lockouts += 1
                return PinCheck(False, locked_for_s=self._locked_until - now)
            return PinCheck(False, attempts_left=self._max_failures - self._failures)
