"""The citizen's enrolment number: derived from the packet id, checked by a Damm digit, and turned
back into the packet id's start so that the registry finds the packet."""

from __future__ import annotations

import re
import uuid

import pytest

from packet.enrolment_number import EnrolmentNumberError, check_digit, enrolment_number, packet_id_prefix


def test_damm_check_digit_of_the_published_example():
    """Wikipedia's "Damm algorithm" worked example: 572 gets the check digit 4, and 5724 checks to 0."""
    assert check_digit("572") == "4" and check_digit("5724") == "0"


def test_the_number_is_sixteen_digits_in_fours_from_the_packet_ids_first_48_bits():
    packet_id = uuid.UUID("ffffffff-ffff-4fff-bfff-ffffffffffff")
    assert enrolment_number(packet_id) == f"2814 7497 6710 655{check_digit('281474976710655')}"  # 2**48 - 1
    assert enrolment_number(uuid.UUID(int=0)) == "0000 0000 0000 0000"
    number = enrolment_number(uuid.uuid4())
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", number)
    assert enrolment_number(str(packet_id)) == enrolment_number(packet_id)


def test_the_registry_gets_the_packet_ids_start_back():
    for _ in range(200):
        packet_id = uuid.uuid4()
        number = enrolment_number(packet_id)
        assert packet_id_prefix(number) == str(packet_id)[:13]
        assert packet_id_prefix(number.replace(" ", "-")) == packet_id_prefix(number.replace(" ", ""))


def test_every_single_slip_of_the_pen_is_caught():
    digits = enrolment_number(uuid.UUID("0b7e3f5c-3c55-4d4b-9d55-1f1d2b8b2a10")).replace(" ", "")
    for position in range(len(digits)):
        for wrong in "0123456789":
            if wrong != digits[position]:
                with pytest.raises(EnrolmentNumberError, match="mistyped|not a number"):
                    packet_id_prefix(digits[:position] + wrong + digits[position + 1:])
    for position in range(len(digits) - 1):
        swapped = digits[:position] + digits[position + 1] + digits[position] + digits[position + 2:]
        if swapped != digits:
            with pytest.raises(EnrolmentNumberError):
                packet_id_prefix(swapped)


@pytest.mark.parametrize(("typed", "message"), [("1234", "16 digits"), ("", "16 digits"),
                                                ("1234 5678 9012 345A", "16 digits"),
                                                ("١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦", "16 digits"),
                                                ("9999 9999 9999 999" + check_digit("999999999999999"),
                                                 "not a number this system issues")])
def test_what_is_not_a_number_is_said_so(typed, message):
    with pytest.raises(EnrolmentNumberError, match=message):
        packet_id_prefix(typed)
