"""MRZ parsing and check digits, BER-TLV's rejection of malformed lengths, and the personal ID rules."""

from datetime import date

import pytest

from capture.document.mrz import (
    MrzError,
    MrzInformation,
    cccd_document_numbers,
    cccd_personal_id,
    check_digit,
    mrz_date,
    parse_mrz,
)
from capture.document.personal_id import PersonalIdError, check_personal_id, parse_personal_id
from capture.document.tlv import TlvError, encode_tlv, header, iter_tlvs, read_single, read_tlv

#: A CCCD MRZ as published in a public project's test data (docs/cccd.md, evidence 1).
CCCD = "IDVNM0930470641001093047064<<2\n9301054M3301052VNM<<<<<<<<<<<8\nUNG<<HOANG<HIEP<<<<<<<<<<<<<<<"


def test_check_digits_of_the_9303_examples():
    assert check_digit("D23145890") == 7 and check_digit("740812") == 2 and check_digit("L898902C<") == 3
    with pytest.raises(MrzError, match="not allowed"):
        check_digit("abc")


def test_cccd_mrz_follows_the_last_nine_digits_convention():
    mrz = parse_mrz(CCCD)
    assert mrz.document_number == "093047064" and cccd_personal_id(mrz) == "001093047064"
    assert cccd_document_numbers("001093047064") == ("093047064", "001093047")
    assert mrz.information.key_seed_input == "0930470641" + "9301054" + "3301052"


@pytest.mark.parametrize("position, field", [(14, "document_number"), (36, "birth_date"), (44, "expiry_date"),
                                              (59, "composite"), (29, "composite")])  # the composite covers line 1
def test_every_check_digit_is_checked(position, field):
    text = CCCD.replace("\n", "")
    broken = text[:position] + str((int(text[position]) + 1) % 10) + text[position + 1 :]
    with pytest.raises(MrzError) as raised:
        mrz = parse_mrz(broken)
        cccd_personal_id(mrz)
    assert raised.value.field == field


def test_long_document_number_continues_in_the_optional_data():
    line1 = "I<UTOD23145890<7349<<<<<<<<<<<"
    line2 = "3407127M9507122UTO<<<<<<<<<<<"
    composite = check_digit(line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29])
    mrz = parse_mrz(line1 + line2 + str(composite) + "STEVENSON<<PETER<JOHN<<<<<<<<<")
    assert mrz.document_number == "D23145890734"


def test_malformed_mrz_and_mrz_information():
    with pytest.raises(MrzError, match="neither TD1"):
        parse_mrz("I<UTO")
    with pytest.raises(MrzError, match="outside"):
        parse_mrz(CCCD.lower())
    with pytest.raises(MrzError, match="YYMMDD"):
        MrzInformation("093047064", "93-01-05", "330105")
    with pytest.raises(MrzError, match="month 13"):
        MrzInformation("093047064", "931305", "330105")


def test_two_digit_years_are_placed_in_the_right_century():
    today = date(2025, 6, 1)
    assert mrz_date("930105", future=False, today=today) == date(1993, 1, 5)
    assert mrz_date("050105", future=False, today=today) == date(2005, 1, 5)
    assert mrz_date("330105", future=True, today=today) == date(2033, 1, 5)


def test_tlv_rejects_malformed_lengths():
    assert read_tlv(bytes.fromhex("5F1F03414243")).value == b"ABC"
    assert header(bytes.fromhex("7582123400")) == (4, 0x1234)
    for bad, message in [("6180", "indefinite"), ("618401000000", "length of 4 bytes"), ("6105AABB", "declares 5"),
                         ("5F", "runs past"), ("6182", "length bytes run past")]:
        with pytest.raises(TlvError, match=message):
            read_tlv(bytes.fromhex(bad))
    with pytest.raises(TlvError, match="unexpected byte"):
        read_single(bytes.fromhex("610100FF"), 0x61)
    assert [t.tag for t in iter_tlvs(encode_tlv(0x5F01, b"01") + encode_tlv(0x5C, b"\x61" * 200))] == [0x5F01, 0x5C]


@pytest.mark.parametrize("number, province, year, sex", [
    ("037153000257", "Ninh Bình", 1953, "F"),   # examples from a public decoder's tests
    ("080205000257", "Long An", 2005, "M"),
    ("001093047064", "Hà Nội", 1993, "M"),
])
def test_personal_id_is_taken_apart(number, province, year, sex):
    parsed = parse_personal_id(number)
    assert (parsed.province, parsed.birth_year, parsed.sex) == (province, year, sex)
    assert check_personal_id(number, birth_date=date(year, 3, 1), sex=sex) == []


def test_personal_id_mismatches_are_explained():
    problems = check_personal_id("037153000257", birth_date=date(1963, 1, 1), sex="Nam")
    assert [p.field for p in problems] == ["birth_date", "sex"]
    assert "born in 1953" in str(problems[0]) and "means female" in str(problems[1])
    assert [p.field for p in check_personal_id("003093047064")] == ["province"]
    with pytest.raises(PersonalIdError):
        parse_personal_id("12345")
