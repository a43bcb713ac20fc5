"""Cards whose data is unusual or malformed read to a document with failed steps, never an
exception: a malformed DG2 keeps the BAC and passive-authentication results, a DG13 ID that is not
12 digits fails a named check, birth dates known only in part are valid, non-calendar ones fail."""

import dataclasses

import pytest

from capture.document.reader import ReadOptions, cccd_access, read_identity_document
from crypto.csca import CscaStore
from drivers.smartcard import ccid
from hardware_sim.citizens import Citizen, make_citizen
from hardware_sim.emrtd import EmrtdChip, build_files, run_pki, sign_sod, tlv


@pytest.fixture(scope="module")
def citizen():
    return make_citizen(44)


def like(citizen: Citizen, cls: type[Citizen]) -> Citizen:
    return cls(**{f.name: getattr(citizen, f.name) for f in dataclasses.fields(Citizen)})


def read(sim, card: Citizen, *, birth: str | None = None, files=None):
    sim.insert_card(EmrtdChip(card, files=files))
    birth = birth or card.birth_date.strftime("%y%m%d")
    with ccid.CcidReader(ccid.find(sim.backend)) as reader:
        return read_identity_document(reader, cccd_access(card.personal_id, birth, card.expiry_date.strftime("%y%m%d")),
                                      CscaStore([run_pki().csca_certificate]), options=ReadOptions())


def resigned(card: Citizen, **replaced: bytes) -> dict[str, bytes]:
    """The card's files with some data groups replaced, EF.SOD signed over the new ones."""
    files = build_files(card) | replaced
    files["SOD"] = sign_sod({int(n[2:]): d for n, d in files.items() if n.startswith("DG")}, run_pki())
    return files


def steps_of(document):
    return {step.name: step for step in document.verification}


def test_a_malformed_dg2_keeps_bac_and_passive_authentication(sim, citizen):
    broken = tlv(0x75, tlv(0x7F61, tlv(0x02, b"\x01") + tlv(0x7F60, tlv(0x5F2E, b"NOT A FACIAL RECORD"))))
    document = read(sim, citizen, files=resigned(citizen, DG2=broken))
    steps = steps_of(document)
    assert steps["BAC"].passed and steps["SOD signature"].passed and steps["DG2 hash"].passed
    assert steps["DG2 portrait"].passed is False and "facial record" in steps["DG2 portrait"].detail
    assert document.portrait_jpeg is None and not document.verified
    assert document.personal_id == citizen.personal_id


class ShortId(Citizen):
    def dg13_fields(self):
        return super().dg13_fields() | {1: "0791234"}


def test_a_dg13_id_that_is_not_12_digits_fails_a_named_check(sim, citizen):
    card = like(citizen, ShortId)
    document = read(sim, card, files=resigned(card))
    steps = steps_of(document)
    assert document.personal_id == "0791234" and not document.verified
    assert steps["Personal ID number rules"].passed is False
    assert steps["MRZ and DG13 agree"].passed is False and "not 12 digits" in steps["MRZ and DG13 agree"].detail


class YearOnly(Citizen):
    """Born in a year nobody wrote the day and month of: MRZ YY<<<<, DG13 yyyy."""

    @property
    def mrz_lines(self):
        line1, line2, line3 = super().mrz_lines
        return line1, _with_birth(line1, line2, self.birth_date.strftime("%y") + "<<<<"), line3

    def dg13_fields(self):
        return super().dg13_fields() | {3: self.birth_date.strftime("%Y")}


class NotInTheCalendar(Citizen):
    @property
    def mrz_lines(self):
        line1, line2, line3 = super().mrz_lines
        return line1, _with_birth(line1, line2, self.birth_date.strftime("%y") + "0230"), line3

    def dg13_fields(self):
        return super().dg13_fields() | {3: "30/02/" + self.birth_date.strftime("%Y")}


def _with_birth(line1: str, line2: str, birth: str) -> str:
    from capture.document.mrz import check_digit

    line2 = birth + str(check_digit(birth)) + line2[7:29]
    return line2 + str(check_digit(line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29]))


def test_birth_dates_known_only_by_year_are_valid(sim, citizen):
    card = like(citizen, YearOnly)
    document = read(sim, card, birth=card.mrz_lines[1][0:6], files=resigned(card))
    assert document.verified, [s for s in document.verification if not s.passed]
    assert document.demographics["date_of_birth"] == citizen.birth_date.strftime("%Y")


def test_a_birth_date_not_in_the_calendar_fails_a_named_check(sim, citizen):
    card = like(citizen, NotInTheCalendar)
    document = read(sim, card, birth=card.mrz_lines[1][0:6], files=resigned(card))
    steps = steps_of(document)
    assert not document.verified
    assert steps["MRZ dates"].passed is False and "calendar" in steps["MRZ dates"].detail
    assert steps["DG13 birth date"].passed is False
