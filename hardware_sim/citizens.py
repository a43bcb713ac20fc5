"""Synthetic Vietnamese citizens: the demographics a CCCD chip carries (DG13), its MRZ, and a face.

Deterministic from a seed, so a failing test can be rerun on the same person.  The rules the data
follow are the public ones (written here independently of the product's checking code):

* Personal ID number (Decree 137/2015/ND-CP art. 13; province codes of Circular 07/2016/TT-BCA):
  3-digit province code of birth registration, one digit for century and sex (1900s: 0 male /
  1 female, 2000s: 2 / 3), the last two digits of the birth year, six random digits.
* Card validity (Law on Citizen Identification 2014 art. 21): the card is renewed at 25, 40 and 60;
  a card issued within two years before one of those ages lasts until the next.  Citizens are
  born 1968-2008 here, so every card has an expiry date (cards issued at 58 or later do not, and
  how their MRZ shows that is unconfirmed).
* MRZ (TD1): ``IDVNM`` + the last nine ID digits + check digit + the full ID + ``<<`` + the ID's
  check digit; names upper-case without diacritics (docs/cccd.md).
"""

from __future__ import annotations

import functools
import random
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

#: A few provinces (code, name) from Circular 07/2016/TT-BCA's table.
PROVINCES = (
    ("001", "Hà Nội"), ("031", "Hải Phòng"), ("034", "Thái Bình"), ("036", "Nam Định"), ("038", "Thanh Hóa"),
    ("040", "Nghệ An"), ("046", "Thừa Thiên Huế"), ("048", "Đà Nẵng"), ("079", "Hồ Chí Minh"), ("092", "Cần Thơ"),
)
SURNAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ",
            "Ngô", "Dương", "Lý")
MIDDLE = {"M": ("Văn", "Hữu", "Đức", "Minh", "Quốc", "Thanh"), "F": ("Thị", "Ngọc", "Thu", "Minh", "Thanh")}
GIVEN = {"M": ("An", "Bình", "Cường", "Dũng", "Hiếu", "Khánh", "Nam", "Quang", "Tuấn", "Việt", "Đạt", "Hùng"),
         "F": ("Hà", "Hạnh", "Hương", "Lan", "Linh", "Mai", "Phương", "Thảo", "Yến", "Ngân", "Trang", "Hằng")}
ETHNICITIES = ("Kinh", "Kinh", "Kinh", "Kinh", "Tày", "Thái", "Mường", "Khmer", "Hoa", "Nùng", "H'Mông")
RELIGIONS = ("Không", "Không", "Không", "Phật giáo", "Công giáo")
COMMUNES = ("Xã Hưng Lộc", "Phường Bến Thủy", "Xã Nghi Phú", "Phường Trung Đô", "Xã Diễn Châu", "Phường Cửa Nam")
DISTRICTS = ("Huyện Nghi Lộc", "Thành phố Vinh", "Huyện Yên Thành", "Quận Hoàn Kiếm", "Huyện Diễn Châu")
MARKS = ("Nốt ruồi C:2cm dưới sau đuôi mắt trái", "Sẹo chấm C:1cm trên trước cánh mũi phải",
         "Nốt ruồi C:1,5cm trên đuôi lông mày phải", "Sẹo chấm C:3cm dưới trước mép trái")
RENEWAL_AGES = (25, 40, 60)


def _check_digit(text: str) -> int:
    """ICAO 9303-3 check digit (weights 7, 3, 1)."""
    values = {**{str(d): d for d in range(10)}, **{chr(65 + i): 10 + i for i in range(26)}, "<": 0}
    return sum(values[c] * (7, 3, 1)[i % 3] for i, c in enumerate(text)) % 10


def _mrz_name(text: str) -> str:
    """Upper-case ASCII for the MRZ: diacritics dropped, Đ as D, spaces as ``<``."""
    text = text.replace("Đ", "D").replace("đ", "d")
    ascii_text = unicodedata.normalize("NFD", text).encode("ascii", "ignore").decode()
    return "".join(c if c.isalpha() else "<" for c in ascii_text.upper())


def _birthday(born: date, age: int) -> date:
    try:
        return born.replace(year=born.year + age)
    except ValueError:  # 29 February
        return born.replace(year=born.year + age, day=28)


@dataclass(frozen=True)
class Citizen:
    """One synthetic person and their card's data."""

    seed: int
    full_name: str
    sex: str
    """``"M"`` or ``"F"``."""
    birth_date: date
    province_code: str
    province: str
    personal_id: str
    ethnicity: str
    religion: str
    place_of_origin: str
    place_of_residence: str
    identifying_marks: str
    issue_date: date
    expiry_date: date
    father: str
    mother: str
    spouse: str
    old_id_number: str
    nationality: str = "Việt Nam"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def sex_vi(self) -> str:
        return "Nam" if self.sex == "M" else "Nữ"

    @property
    def document_number(self) -> str:
        return self.personal_id[3:]

    @property
    def mrz_lines(self) -> tuple[str, str, str]:
        number = self.document_number
        line1 = (f"IDVNM{number}{_check_digit(number)}{self.personal_id}<<{_check_digit(self.personal_id)}")
        birth, expiry = self.birth_date.strftime("%y%m%d"), self.expiry_date.strftime("%y%m%d")
        line2 = f"{birth}{_check_digit(birth)}{self.sex}{expiry}{_check_digit(expiry)}VNM" + "<" * 11
        line2 += str(_check_digit(line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29]))
        surname, _, given = self.full_name.partition(" ")
        line3 = (_mrz_name(surname) + "<<" + _mrz_name(given)).ljust(30, "<")[:30]
        return line1, line2, line3

    def dg13_fields(self) -> dict[int, str | tuple[str, ...]]:
        """DG13 field number -> value, as the community decoders number them (docs/cccd.md)."""
        return {
            1: self.personal_id, 2: self.full_name, 3: self.birth_date.strftime("%d/%m/%Y"), 4: self.sex_vi,
            5: self.nationality, 6: self.ethnicity, 7: self.religion, 8: self.place_of_origin,
            9: self.place_of_residence, 10: self.identifying_marks, 11: self.issue_date.strftime("%d/%m/%Y"),
            12: self.expiry_date.strftime("%d/%m/%Y"), 13: (self.father, self.mother), 14: (self.spouse,),
            15: self.old_id_number,
        }


def make_citizen(seed: int, *, today: date = date(2025, 1, 15)) -> Citizen:
    """The citizen ``seed`` (same seed, same person)."""
    rng = random.Random(seed)
    sex = rng.choice("MF")
    born = date(1968, 1, 1) + timedelta(days=rng.randrange((date(2008, 12, 31) - date(1968, 1, 1)).days))
    code, province = rng.choice(PROVINCES)
    century_sex = (born.year // 100 - 19) * 2 + (sex == "F")
    personal_id = f"{code}{century_sex}{born.year % 100:02d}{rng.randrange(10**6):06d}"
    surname = rng.choice(SURNAMES)
    full_name = f"{surname} {rng.choice(MIDDLE[sex])} {rng.choice(GIVEN[sex])}"
    earliest = max(date(2021, 1, 1), _birthday(born, 14))
    issued = earliest + timedelta(days=rng.randrange(max(1, (today - earliest).days)))
    age = issued.year - born.year - ((issued.month, issued.day) < (born.month, born.day))
    renewal = next(a for a in RENEWAL_AGES if a - 2 > age or a == RENEWAL_AGES[-1])
    place = f"{rng.choice(COMMUNES)}, {rng.choice(DISTRICTS)}, {province}"
    father = f"{surname} {rng.choice(MIDDLE['M'])} {rng.choice(GIVEN['M'])}"
    mother = f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE['F'])} {rng.choice(GIVEN['F'])}"
    spouse = "" if age < 22 or rng.random() < 0.3 else (
        f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE['F' if sex == 'M' else 'M'])} "
        f"{rng.choice(GIVEN['F' if sex == 'M' else 'M'])}")
    return Citizen(
        seed=seed, full_name=full_name, sex=sex, birth_date=born, province_code=code, province=province,
        personal_id=personal_id, ethnicity=rng.choice(ETHNICITIES), religion=rng.choice(RELIGIONS),
        place_of_origin=f"{rng.choice(COMMUNES)}, {rng.choice(DISTRICTS)}, {province}",
        place_of_residence=place, identifying_marks=rng.choice(MARKS), issue_date=issued,
        expiry_date=_birthday(born, renewal), father=father, mother=mother, spouse=spouse,
        old_id_number="" if born.year > 2000 else f"{rng.randrange(10**8, 10**9)}",
    )


@functools.lru_cache(maxsize=1)
def _astronaut_portrait() -> np.ndarray:
    import cv2

    from hardware_sim.camera import astronaut

    crop = astronaut()[0:280, 135:345]  # rows, columns around the face
    return cv2.cvtColor(cv2.resize(crop, (240, 320), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)


def face_pixels() -> np.ndarray:
    """A 240 x 320 RGB portrait: scikit-image's astronaut photograph (public domain, NASA) cropped
    to head and shoulders in the ICAO 3:4 shape.  A fresh copy each time."""
    return _astronaut_portrait().copy()
