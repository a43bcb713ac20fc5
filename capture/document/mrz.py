"""Machine readable zone (ICAO Doc 9303 parts 3, 4 and 5): check digits, TD1 and TD3 parsing, the
MRZ information BAC derives its keys from, and the CCCD's use of the TD1 fields.

Check digit (9303-3 4.9): weights 7, 3, 1 repeating over the characters' values (0-9 -> 0-9,
A-Z -> 10-35, ``<`` -> 0), sum modulo 10.

CCCD convention (see docs/cccd.md for the evidence): the 9-character document number field holds
the *last* nine digits of the 12-digit personal ID number, followed by its check digit; the
optional data of line 1 holds the full 12-digit number, ``<<`` and the full number's check digit.
The station does not take this on trust: :mod:`capture.document.reader` checks it against DG13 on
every card and tries the other convention seen in community code (first nine digits) when BAC with
the last nine fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from drivers.errors import N_

_VALUES = {**{str(d): d for d in range(10)}, **{chr(ord("A") + i): 10 + i for i in range(26)}, "<": 0}
_WEIGHTS = (7, 3, 1)
_MRZ_CHARS = re.compile(r"^[0-9A-Z<]*$")


class MrzError(ValueError):
    """An MRZ (or MRZ information typed by the officer) that is malformed or fails a check digit."""

    citizen_message = N_("The card details do not match. Please check the numbers typed in.")

    def __init__(self, detail: str, field: str = "") -> None:
        self.field = field
        super().__init__(detail)


def check_digit(text: str) -> int:
    """The ICAO 9303 check digit of ``text`` (digits, A-Z and ``<``)."""
    total = 0
    for index, char in enumerate(text):
        try:
            total += _VALUES[char] * _WEIGHTS[index % 3]
        except KeyError:
            raise MrzError(f"character {char!r} is not allowed in an MRZ") from None
    return total % 10


def _check(value: str, digit: str, field: str) -> None:
    if not digit.isdigit() or check_digit(value) != int(digit):
        expected = check_digit(value)
        raise MrzError(f"{field} {value!r}: check digit is {digit!r}, expected {expected}", field)


def _yymmdd(value: str, field: str) -> None:
    """Dates in the MRZ are YYMMDD; day or month may be ``<<`` when unknown (9303-3 4.6.2)."""
    if not re.fullmatch(r"\d\d(\d\d|<<)(\d\d|<<)", value):
        raise MrzError(f"{field} {value!r} is not a YYMMDD date", field)
    if value[2:4] != "<<" and not 1 <= int(value[2:4]) <= 12:
        raise MrzError(f"{field} {value!r} has month {value[2:4]}", field)
    if value[4:6] != "<<" and not 1 <= int(value[4:6]) <= 31:
        raise MrzError(f"{field} {value!r} has day {value[4:6]}", field)


@dataclass(frozen=True)
class MrzInformation:
    """What BAC needs (ICAO 9303-11 4.3.2): document number, date of birth and date of expiry, with
    their check digits computed here.  ``document_number`` without filler; dates YYMMDD."""

    document_number: str
    birth_date: str
    expiry_date: str

    def __post_init__(self) -> None:
        if not self.document_number or not _MRZ_CHARS.match(self.document_number) or "<" in self.document_number:
            raise MrzError(f"document number {self.document_number!r} must be digits and capital letters",
                           "document_number")
        _yymmdd(self.birth_date, "birth_date")
        _yymmdd(self.expiry_date, "expiry_date")

    @property
    def key_seed_input(self) -> str:
        """``MRZ_information`` of 9303-11 4.3.2: document number (padded with ``<`` to 9 characters)
        + check digit + birth date + check digit + expiry date + check digit."""
        number = self.document_number.ljust(9, "<")
        return (number + str(check_digit(number)) + self.birth_date + str(check_digit(self.birth_date))
                + self.expiry_date + str(check_digit(self.expiry_date)))


@dataclass(frozen=True)
class Mrz:
    """A parsed and checked MRZ."""

    format: str
    """``"TD1"`` (ID card, 3 x 30) or ``"TD3"`` (passport, 2 x 44)."""
    document_code: str
    issuing_state: str
    document_number: str
    birth_date: str
    sex: str
    expiry_date: str
    nationality: str
    surname: str
    given_names: str
    optional_data: str
    """TD1 line 1 optional data (positions 16-30), or TD3's personal number; fillers kept."""
    optional_data_2: str
    """TD1 line 2 optional data (positions 19-29); empty for TD3."""
    lines: tuple[str, ...]

    @property
    def information(self) -> MrzInformation:
        return MrzInformation(self.document_number, self.birth_date, self.expiry_date)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def parse_mrz(text: str) -> Mrz:
    """Parse a TD1 or TD3 MRZ (lines separated by newlines, or concatenated as DG1 stores them) and
    check every check digit; raises :class:`MrzError` naming the first field that fails."""
    compact = "".join(text.split())
    if not _MRZ_CHARS.match(compact):
        bad = sorted({c for c in compact if not _MRZ_CHARS.match(c)})
        raise MrzError(f"MRZ contains characters outside 0-9, A-Z and '<': {''.join(bad)!r}")
    if len(compact) == 90:
        return _parse_td1(compact)
    if len(compact) == 88:
        return _parse_td3(compact)
    raise MrzError(f"an MRZ of {len(compact)} characters is neither TD1 (90) nor TD3 (88)")


def _names(field: str) -> tuple[str, str]:
    surname, _, given = field.partition("<<")
    return surname.replace("<", " ").strip(), given.replace("<", " ").strip()


def _parse_td1(mrz: str) -> Mrz:
    l1, l2, l3 = mrz[0:30], mrz[30:60], mrz[60:90]
    number, number_check, optional = l1[5:14], l1[14], l1[15:30]
    if number_check == "<":
        # Long document number (9303-5 4.2.2 note j): the rest and its check digit open the
        # optional data, which ends at the first filler.
        rest = optional.split("<", 1)[0]
        if len(rest) < 2:
            raise MrzError("document number continues in the optional data, but nothing is there", "document_number")
        number, number_check = number + rest[:-1], rest[-1]
    _check(number, number_check, "document_number")
    _yymmdd(l2[0:6], "birth_date")
    _check(l2[0:6], l2[6], "birth_date")
    _yymmdd(l2[8:14], "expiry_date")
    _check(l2[8:14], l2[14], "expiry_date")
    _check(l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29], l2[29], "composite")
    surname, given = _names(l3)
    return Mrz("TD1", l1[0:2].rstrip("<"), l1[2:5], number.rstrip("<"), l2[0:6], l2[7], l2[8:14], l2[15:18],
               surname, given, optional, l2[18:29], (l1, l2, l3))


def _parse_td3(mrz: str) -> Mrz:
    l1, l2 = mrz[0:44], mrz[44:88]
    _check(l2[0:9], l2[9], "document_number")
    _yymmdd(l2[13:19], "birth_date")
    _check(l2[13:19], l2[19], "birth_date")
    _yymmdd(l2[21:27], "expiry_date")
    _check(l2[21:27], l2[27], "expiry_date")
    if l2[28:42] != "<" * 14 or l2[42] != "<":
        _check(l2[28:42], l2[42].replace("<", "0"), "personal_number")
    _check(l2[0:10] + l2[13:20] + l2[21:43], l2[43], "composite")
    surname, given = _names(l1[5:44])
    return Mrz("TD3", l1[0:2].rstrip("<"), l1[2:5], l2[0:9].rstrip("<"), l2[13:19], l2[20], l2[21:27],
               l2[10:13], surname, given, l2[28:42], "", (l1, l2))


# --------------------------------------------------------------------------- CCCD convention


def cccd_document_numbers(personal_id: str) -> tuple[str, str]:
    """The document numbers a CCCD with this 12-digit ID may carry in its MRZ, most likely first:
    the last nine digits (seen on cards), then the first nine (one community reader's choice)."""
    if not re.fullmatch(r"\d{12}", personal_id):
        raise MrzError(f"personal ID number {personal_id!r} must be 12 digits", "personal_id")
    return personal_id[3:], personal_id[:9]


def cccd_personal_id(mrz: Mrz) -> str | None:
    """The 12-digit personal ID number a CCCD's MRZ carries in its line-1 optional data (checked
    against the check digit after ``<<``), or None when the optional data holds none."""
    match = re.fullmatch(r"(\d{12})<<(\d)<*", mrz.optional_data) if mrz.format == "TD1" else None
    if match is None:
        return None
    _check(match.group(1), match.group(2), "personal_id")
    return match.group(1)


def mrz_birth_date(yymmdd: str, *, today: date | None = None) -> tuple[int, int | None, int | None]:
    """A birth date YYMMDD as (year, month, day), month and day None where the MRZ has ``<<``
    (9303-3: unknown), the century the latest that is not after today.  MrzError naming the
    date when it is not in the calendar (``900230``)."""
    today = today or date.today()
    if not re.fullmatch(r"\d\d(\d\d|<<)(\d\d|<<)", yymmdd):
        raise MrzError(f"birth date {yymmdd!r} is not a YYMMDD date", "birth_date")
    year = today.year // 100 * 100 + int(yymmdd[0:2])
    month = None if yymmdd[2:4] == "<<" else int(yymmdd[2:4])
    day = None if yymmdd[4:6] == "<<" else int(yymmdd[4:6])
    if (year, month or 1, day or 1) > (today.year, today.month, today.day):
        year -= 100
    try:
        date(year, month or 1, day or 1)
    except ValueError:
        raise MrzError(f"birth date {yymmdd} is not a date in the calendar", "birth_date") from None
    if day is not None and month is None:
        raise MrzError(f"birth date {yymmdd} has a day but no month", "birth_date")
    return year, month, day


def mrz_date(yymmdd: str, *, future: bool, today: date | None = None) -> date:
    """A YYMMDD date as a full date.  The MRZ has no century: a birth date is taken as the latest
    one not after today, an expiry as the earliest within 50 years back (cards expire after
    their holder's 60th birthday at the latest, so nothing is further off)."""
    today = today or date.today()
    year, month, day = int(yymmdd[0:2]), int(yymmdd[2:4]), int(yymmdd[4:6])
    century = today.year // 100 * 100
    candidate = date(century + year, month, day)
    if future:
        if candidate.year < today.year - 50:
            candidate = date(century + 100 + year, month, day)
    elif candidate > today:
        candidate = date(century - 100 + year, month, day)
    return candidate
