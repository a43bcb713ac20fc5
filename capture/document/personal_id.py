"""Vietnam's 12-digit personal identification number (số định danh cá nhân) and its rules.

Structure (Decree 137/2015/ND-CP, article 13): three digits for the province (or country) where the
birth was registered, one digit for the century of birth and the sex, two digits for the year of
birth, six random digits.  Century-and-sex digit: 1900s male 0 / female 1, 2000s 2 / 3,
2100s 4 / 5, 2200s 6 / 7, 2300s 8 / 9.

Province codes: Circular 07/2016/TT-BCA (Ministry of Public Security), appendix on the codes of the
provinces where birth is registered - the 63 provinces as they were before the 2025 mergers, which
is what every number issued so far carries.  Codes the circular reserves for citizens born
abroad are not in this table; a number that uses one is reported as an unknown province, not as
invalid, because the station cannot tell a reserved code from a typing error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from drivers.errors import N_

#: Circular 07/2016/TT-BCA: province code -> province.
PROVINCE_CODES: dict[str, str] = {
    "001": "Hà Nội", "002": "Hà Giang", "004": "Cao Bằng", "006": "Bắc Kạn", "008": "Tuyên Quang",
    "010": "Lào Cai", "011": "Điện Biên", "012": "Lai Châu", "014": "Sơn La", "015": "Yên Bái",
    "017": "Hòa Bình", "019": "Thái Nguyên", "020": "Lạng Sơn", "022": "Quảng Ninh", "024": "Bắc Giang",
    "025": "Phú Thọ", "026": "Vĩnh Phúc", "027": "Bắc Ninh", "030": "Hải Dương", "031": "Hải Phòng",
    "033": "Hưng Yên", "034": "Thái Bình", "035": "Hà Nam", "036": "Nam Định", "037": "Ninh Bình",
    "038": "Thanh Hóa", "040": "Nghệ An", "042": "Hà Tĩnh", "044": "Quảng Bình", "045": "Quảng Trị",
    "046": "Thừa Thiên Huế", "048": "Đà Nẵng", "049": "Quảng Nam", "051": "Quảng Ngãi", "052": "Bình Định",
    "054": "Phú Yên", "056": "Khánh Hòa", "058": "Ninh Thuận", "060": "Bình Thuận", "062": "Kon Tum",
    "064": "Gia Lai", "066": "Đắk Lắk", "067": "Đắk Nông", "068": "Lâm Đồng", "070": "Bình Phước",
    "072": "Tây Ninh", "074": "Bình Dương", "075": "Đồng Nai", "077": "Bà Rịa - Vũng Tàu", "079": "Hồ Chí Minh",
    "080": "Long An", "082": "Tiền Giang", "083": "Bến Tre", "084": "Trà Vinh", "086": "Vĩnh Long",
    "087": "Đồng Tháp", "089": "An Giang", "091": "Kiên Giang", "092": "Cần Thơ", "093": "Hậu Giang",
    "094": "Sóc Trăng", "095": "Bạc Liêu", "096": "Cà Mau",
}


class PersonalIdError(ValueError):
    """Not a 12-digit personal ID number at all (wrong length or characters)."""

    citizen_message = N_("The personal ID number must have 12 digits.")


@dataclass(frozen=True)
class PersonalId:
    """A personal ID number taken apart."""

    number: str
    province_code: str
    province: str | None
    """None when the code is not in Circular 07/2016's table."""
    century: int
    """The first year of the century of birth: 1900, 2000, ..."""
    sex: str
    """``"M"`` or ``"F"``."""
    birth_year: int


@dataclass(frozen=True)
class Mismatch:
    """One way the number disagrees with what else is known about the person; ``message`` is
    marked for translation and formatted with ``values``."""

    field: str
    message: str
    values: dict[str, str]

    def __str__(self) -> str:
        return self.message.format(**self.values)


def parse_personal_id(number: str) -> PersonalId:
    """Take ``number`` apart; PersonalIdError if it is not 12 digits."""
    number = number.strip()
    if not re.fullmatch(r"\d{12}", number):
        raise PersonalIdError(f"{number!r} is not a 12-digit personal ID number")
    code, digit = number[:3], int(number[3])
    century = 1900 + 100 * (digit // 2)
    return PersonalId(number, code, PROVINCE_CODES.get(code), century, "F" if digit % 2 else "M",
                      century + int(number[4:6]))


def check_personal_id(number: str, *, birth_date: date | None = None, sex: str | None = None,
                      birth_year: int | None = None) -> list[Mismatch]:
    """Every disagreement between ``number`` and the birth date (or only its year, for a date
    known in part) and sex from the card or the form (``sex`` as ``"M"``/``"F"``, or the card's
    ``"Nam"``/``"Nữ"``).  Empty when all agree."""
    parsed = parse_personal_id(number)
    if birth_date is not None:
        birth_year = birth_date.year
    problems = []
    if parsed.province is None:
        problems.append(Mismatch("province", N_("Province code {code} is not in the table of Circular 07/2016/TT-BCA."),
                                 {"code": parsed.province_code}))
    if birth_year is not None and birth_year != parsed.birth_year:
        problems.append(Mismatch(
            "birth_date",
            N_("Digits 4-6 ({digits}) mean born in {id_year}, but the birth date is in {year}."),
            {"digits": number[3:6], "id_year": str(parsed.birth_year), "year": str(birth_year)}))
    if sex is not None:
        normalised = {"nam": "M", "m": "M", "nữ": "F", "nu": "F", "f": "F"}.get(sex.strip().lower())
        if normalised is None:
            problems.append(Mismatch("sex", N_("Sex {sex!r} is neither male nor female."), {"sex": sex}))
        elif normalised != parsed.sex:
            problems.append(Mismatch(
                "sex", N_("Digit 4 ({digit}) means {id_sex}, but the sex given is {sex}."),
                {"digit": number[3], "id_sex": "male" if parsed.sex == "M" else "female",
                 "sex": "male" if normalised == "M" else "female"}))
    return problems
