"""The whole chip-reading flow over the CCID driver and the simulated reader and chip, with its faults."""

import dataclasses
import threading

import pytest

from capture.document.bac import BacError
from capture.document.reader import NotAnEmrtd, ReadOptions, cccd_access, read_identity_document
from capture.document.secure_messaging import SecureMessagingError
from crypto.csca import CscaStore
from drivers.errors import Cancelled, ProtocolError
from drivers.smartcard import ccid
from drivers.smartcard.base import CardRemoved
from hardware_sim.citizens import Citizen, make_citizen
from hardware_sim.emrtd import EmrtdChip, build_files, run_pki


@pytest.fixture(scope="module")
def citizen():
    return make_citizen(21)


def access(citizen):
    birth, expiry = citizen.birth_date.strftime("%y%m%d"), citizen.expiry_date.strftime("%y%m%d")
    return cccd_access(citizen.personal_id, birth, expiry)


def trust():
    return CscaStore([run_pki().csca_certificate])


def read(sim, citizen, **options):
    with ccid.CcidReader(ccid.find(sim.backend)) as reader:
        return read_identity_document(reader, access(citizen), trust(), options=ReadOptions(**options))


@pytest.mark.parametrize("options", [{}, {"chunk_size": 0xFF}, {"extended": True}, {"use_short_ef_id": False}])
def test_reads_and_verifies_a_cccd(sim, citizen, options):
    sim.insert_card(EmrtdChip(citizen))
    document = read(sim, citizen, **options)
    assert document.verified, [s for s in document.verification if not s.passed]
    assert document.personal_id == citizen.personal_id
    assert document.demographics["place_of_residence"] == citizen.place_of_residence
    assert document.mrz.startswith("IDVNM") and set(document.data_groups) == {"COM", "DG1", "DG2", "DG13", "SOD"}
    assert document.portrait_jpeg[:2] == b"\xff\xd8" and document.data_groups_present == ("DG1", "DG2", "DG13")


def test_apdu_counts_follow_the_chunk_size(sim, citizen):
    sim.insert_card(EmrtdChip(citizen))
    counts = {}
    for label, options in {"0xDF": {}, "0xFF": {"chunk_size": 0xFF}, "extended": {"extended": True}}.items():
        before = sim.apdus
        read(sim, citizen, **options)
        counts[label] = sim.apdus - before
    # READ BINARY of EF.CardAccess (no PACE offered), SELECT, GET CHALLENGE, EXTERNAL AUTHENTICATE,
    # one READ BINARY x 5 files
    assert counts["extended"] == 9
    assert counts["0xDF"] < counts["0xFF"]  # every 0xFF chunk needs a GET RESPONSE round


def test_jpeg2000_portrait_comes_out_as_jpeg(sim, citizen):
    sim.insert_card(EmrtdChip(citizen, files=build_files(citizen, jpeg2000=True)))
    document = read(sim, citizen)
    assert document.verified and document.portrait_jpeg[:2] == b"\xff\xd8"
    assert document.data_groups["DG2"].find(b"jP  ") > 0


def test_wrong_mrz_is_refused_by_bac(sim, citizen):
    sim.insert_card(EmrtdChip(citizen))
    with ccid.CcidReader(ccid.find(sim.backend)) as reader, pytest.raises(BacError) as raised:
        read_identity_document(reader, cccd_access(citizen.personal_id, "991231", "301231"), trust())
    assert raised.value.sw == 0x6300 and citizen.personal_id[3:] in str(raised.value)


def test_a_tampered_data_group_reads_but_does_not_verify(sim, citizen):
    sim.insert_card(EmrtdChip(citizen, files=build_files(citizen, tamper="DG2")))
    document = read(sim, citizen)
    assert not document.verified
    assert [s.name for s in document.verification if s.passed is False] == ["DG2 hash"]


def test_card_removed_mid_read(sim, citizen):
    sim.insert_card(EmrtdChip(citizen))
    sim.remove_card(after_apdus=30)  # inside DG2
    with pytest.raises(CardRemoved):
        read(sim, citizen)


def test_slow_card_is_read_with_time_extensions(sim, citizen):
    sim.insert_card(EmrtdChip(citizen, busy_s=0.12))
    document = read(sim, citizen, extended=True)
    assert document.verified and sim.time_extensions >= 8


def test_garbage_reply_ends_the_session(sim, citizen):
    chip = EmrtdChip(citizen)
    chip.garbage_next(skip=8)
    sim.insert_card(chip)
    with pytest.raises((SecureMessagingError, ProtocolError)):
        read(sim, citizen)


def test_reading_can_be_cancelled(sim, citizen):
    sim.insert_card(EmrtdChip(citizen))
    cancel = threading.Event()
    cancel.set()
    with ccid.CcidReader(ccid.find(sim.backend)) as reader, pytest.raises(Cancelled):
        read_identity_document(reader, access(citizen), trust(), cancel=cancel)


def test_a_card_without_the_emrtd_application(sim, citizen):
    chip = EmrtdChip(citizen)
    chip.process = lambda command: b"\x6a\x82"
    sim.insert_card(chip)
    with pytest.raises(NotAnEmrtd):
        read(sim, citizen)


class FirstNineDigits(Citizen):
    """A card following the other convention seen in community code: the first nine ID digits."""

    @property
    def document_number(self) -> str:
        return self.personal_id[:9]


def test_the_document_number_convention_is_derived_from_the_card(sim, citizen):
    other = FirstNineDigits(**{f.name: getattr(citizen, f.name) for f in dataclasses.fields(Citizen)})
    sim.insert_card(EmrtdChip(other))
    document = read(sim, other)
    steps = {s.name: s for s in document.verification}
    assert steps["BAC"].passed and f"refused first: {citizen.personal_id[3:]}" in steps["BAC"].detail
    assert steps["MRZ and DG13 agree"].passed is False and "first nine" in steps["MRZ and DG13 agree"].detail
    assert steps["DG1 hash"].passed  # genuine data, unusual convention: flagged, not hidden
