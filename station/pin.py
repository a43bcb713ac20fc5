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


def verify_pin(pin: str, stored: str) -> bool:
    """Whether ``pin`` matches ``stored`` (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != "scrypt":
            raise ValueError(scheme)
        digest = hashlib.scrypt(pin.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                                dklen=len(expected) // 2)
    except ValueError as error:
        raise ValueError(f"not a stored PIN hash ({error})") from None
    return hmac.compare_digest(digest.hex(), expected)


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
