"""The citizen's enrolment number: the packet id in a form a person can write down, read out and type.

The receipt carries one number, printed and in its QR code alike.  It is *derived* from the packet
id, so the station stores nothing more and the registry can find the packet from the number alone:

* the first 48 bits of the packet id (a UUID4: those bits are random) as 15 decimal digits,
* followed by one Damm check digit (H. M. Damm, 2004), which catches every single wrong digit and
  every swap of two neighbouring digits, the two commonest slips of a hand copying a number,
* grouped in fours for reading: ``0281 4749 7671 0656``.

Digits only, because they read the same in Vietnamese and English and on any phone keypad.  The
registry looks a number up as the range of packet ids starting with those 48 bits
(:func:`packet_id_prefix`, :meth:`receiver.store.PacketStore.find_by_number`).  48 bits make two
enrolments of one station sharing a number negligible (a chance of about 1 in 14 000 over a busy
station's 200 000 enrolments); across a whole country's hundred million some 18 pairs will share
one, and the station printed on the receipt tells them apart (``docs/decisions.md``, entry 18).
"""

from __future__ import annotations

import uuid

PREFIX_BITS = 48
DIGITS = 15
"""Decimal digits that hold 48 bits (2**48 - 1 has 15 digits), before the check digit."""

# The Damm algorithm's table: a totally anti-symmetric quasigroup of order 10 (Damm's thesis; the
# table published with it and reproduced on Wikipedia's "Damm algorithm" page).
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)


class EnrolmentNumberError(ValueError):
    """What was typed is not an enrolment number; the message says what is wrong with it."""


def check_digit(digits: str) -> str:
    """The Damm check digit of a string of decimal digits."""
    interim = 0
    for digit in digits:
        interim = _DAMM[interim][int(digit)]
    return str(interim)


def enrolment_number(packet_id: uuid.UUID | str) -> str:
    """The citizen's number of the packet ``packet_id``, grouped in fours."""
    prefix = uuid.UUID(str(packet_id)).int >> (128 - PREFIX_BITS)
    digits = f"{prefix:0{DIGITS}d}"
    return _grouped(digits + check_digit(digits))


def packet_id_prefix(number: str) -> str:
    """The start of the canonical packet id (``xxxxxxxx-xxxx``) that ``number`` was made from.

    Spaces and hyphens are ignored, as people write them where they like.  Raises
    :class:`EnrolmentNumberError` for anything that is not 16 digits with a right check digit.
    """
    digits = "".join(char for char in number if char not in " -")
    if len(digits) != DIGITS + 1 or not digits.isascii() or not digits.isdigit():
        raise EnrolmentNumberError(f"an enrolment number has {DIGITS + 1} digits, not {number!r}")
    if check_digit(digits) != "0":  # Damm: a number followed by its check digit checks to 0
        raise EnrolmentNumberError(f"{number!r} is mistyped: its last digit does not match the others")
    prefix = int(digits[:DIGITS])
    if prefix >= 2**PREFIX_BITS:
        raise EnrolmentNumberError(f"{number!r} is not a number this system issues")
    hex_digits = f"{prefix:012x}"
    return f"{hex_digits[:8]}-{hex_digits[8:]}"


def _grouped(digits: str) -> str:
    return " ".join(digits[start:start + 4] for start in range(0, len(digits), 4))
