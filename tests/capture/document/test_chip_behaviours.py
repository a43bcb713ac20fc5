"""What real chips do that a by-the-book chip does not, one behaviour at a time (the simulated
chip's ChipQuirks; vicc, tests/peers, shows them all), over the CCID driver and reader simulator."""

import pytest

from capture.document import bac
from capture.document.reader import ChipError, ReadOptions, cccd_access, read_identity_document
from capture.document.secure_messaging import (
    SecureMessaging,
    SecureMessagingError,
    UnauthenticatedData,
    UnauthenticatedStatus,
)
from capture.document.tlv import encode_tlv
from crypto.csca import CscaStore
from drivers.smartcard import ccid
from drivers.smartcard.base import ResponseAPDU
from hardware_sim.citizens import make_citizen
from hardware_sim.emrtd import VICC_LIKE, ChipQuirks, EmrtdChip, build_files, run_pki


@pytest.fixture(scope="module")
def citizen():
    return make_citizen(33)


def read(sim, citizen, **options):
    birth, expiry = citizen.birth_date.strftime("%y%m%d"), citizen.expiry_date.strftime("%y%m%d")
    with ccid.CcidReader(ccid.find(sim.backend)) as reader:
        return read_identity_document(reader, cccd_access(citizen.personal_id, birth, expiry),
                                      CscaStore([run_pki().csca_certificate]), options=ReadOptions(**options))


def assert_verified(document):
    assert document.verified, [step for step in document.verification if not step.passed]


def test_a_chip_without_short_ef_ids_is_read_by_select(sim, citizen):
    """6A82 to READ BINARY by SFI means "no file with that short id", not "no such file"."""
    chip = EmrtdChip(citizen, quirks=ChipQuirks(short_ef_ids=False))
    sim.insert_card(chip)
    assert_verified(read(sim, citizen))
    by_sfi = chip.commands
    sim.insert_card(chip := EmrtdChip(citizen, quirks=ChipQuirks(short_ef_ids=False)))
    read(sim, citizen, use_short_ef_id=False)
    assert by_sfi - chip.commands == 1  # one refused SFI read, then SELECT for the rest of the session


def test_end_of_file_warning_6282_comes_with_data(sim, citizen):
    sim.insert_card(EmrtdChip(citizen, quirks=ChipQuirks(end_of_file_warning=True)))
    assert_verified(read(sim, citizen))
    sim.insert_card(EmrtdChip(citizen, quirks=ChipQuirks(end_of_file_warning=True)))
    assert_verified(read(sim, citizen, chunk_size=0x10))


def test_protected_responses_without_do99(sim, citizen):
    sim.insert_card(EmrtdChip(citizen, quirks=ChipQuirks(do99=False)))
    assert_verified(read(sim, citizen))


@pytest.mark.parametrize("options", [{}, {"use_short_ef_id": False}, {"chunk_size": 0xFF}])
def test_a_chip_that_behaves_like_vicc(sim, citizen, options):
    sim.insert_card(EmrtdChip(citizen, quirks=VICC_LIKE))
    assert_verified(read(sim, citizen, **options))


def test_a_file_listed_in_ef_com_but_refused_is_a_failed_step(sim, citizen):
    """An error status word without MAC could be anyone's: it may make a file missing - reported as a
    failed step that names the concession - but never makes the document verified."""
    files = build_files(citizen)
    del files["DG2"]
    for quirks in (ChipQuirks(), VICC_LIKE):
        sim.insert_card(EmrtdChip(citizen, files=dict(files), quirks=quirks))
        document = read(sim, citizen)
        assert not document.verified
        step = next(s for s in document.verification if s.name == "DG2 read")
        assert step.passed is False and "EF.COM lists it" in step.detail
        assert ("without MAC" in step.detail) == (quirks is VICC_LIKE)
        assert document.personal_id == citizen.personal_id  # what was read is kept


# ---- secure messaging, response by response (keys and SSC of ICAO 9303-11 Appendix D.4)

KS_ENC, KS_MAC = bytes.fromhex("979EC13B1CBFE9DCD01AB0FED307EAE5"), bytes.fromhex("F1CB1F1FB5ADF208806B89DC579DC1F8")
SSC = bytes.fromhex("887022120C06C226")


def chip_response(data: bytes, sw: bytes, *, ssc: int, do99: bool = True, mac: bool = True) -> ResponseAPDU:
    """A protected response as a chip builds it (encryption and MAC from capture.document.bac's
    primitives, which the Appendix D example holds)."""
    do87 = encode_tlv(0x87, b"\x01" + bac.encrypt(KS_ENC, bac.pad(data))) if data else b""
    do99_bytes = encode_tlv(0x99, sw) if do99 else b""
    body = do87 + do99_bytes
    if mac:
        body += encode_tlv(0x8E, bac.retail_mac(KS_MAC, ssc.to_bytes(8, "big") + body))
    return ResponseAPDU.from_bytes(body + sw)


def session_after_one_command() -> SecureMessaging:
    sm = SecureMessaging(KS_ENC, KS_MAC, SSC)
    sm._next_ssc()  # the command's increment
    return sm


def test_a_response_without_do99_is_accepted_with_its_mac():
    sm = session_after_one_command()
    plain = sm.unprotect(chip_response(b"\x60\x14", b"\x90\x00", ssc=sm.ssc + 1, do99=False))
    assert (plain.data, plain.sw) == (b"\x60\x14", 0x9000)


def test_a_warning_with_data_but_no_mac_is_never_used():
    sm = session_after_one_command()
    before = sm.ssc
    with pytest.raises(UnauthenticatedData) as raised:
        sm.unprotect(chip_response(b"forged", b"\x62\x82", ssc=sm.ssc + 1, do99=False, mac=False))
    assert raised.value.sw == 0x6282 and raised.value.length == 8
    assert sm.ssc == before  # the chip computed no MAC, so spent no counter value


def test_a_bare_error_status_word_is_marked_unauthenticated():
    sm = session_after_one_command()
    before = sm.ssc
    answer = sm.unprotect(ResponseAPDU(b"", 0x6A, 0x82))
    assert isinstance(answer, UnauthenticatedStatus) and answer.sw == 0x6A82 and sm.ssc == before


def test_9000_with_data_but_no_mac_is_refused():
    sm = session_after_one_command()
    with pytest.raises(SecureMessagingError):
        sm.unprotect(chip_response(b"forged", b"\x90\x00", ssc=sm.ssc + 1, do99=False, mac=False))


def test_a_wrong_mac_without_do99_is_refused():
    sm = session_after_one_command()
    with pytest.raises(SecureMessagingError, match="MAC"):
        sm.unprotect(chip_response(b"\x60\x14", b"\x90\x00", ssc=sm.ssc + 2, do99=False))


def test_a_6282_read_twice_without_mac_is_a_chip_error(sim, citizen, monkeypatch):
    """The re-read after an unusable 6282 must itself be authenticated."""
    from capture.document import reader as reader_module

    calls = []

    def always_unusable(session, command):
        calls.append(command)
        raise UnauthenticatedData("test", sw=0x6282, length=40)

    monkeypatch.setattr(reader_module._Session, "send", always_unusable)
    with pytest.raises(ChipError, match="twice"):
        reader_module._read_binary(reader_module._Session.__new__(reader_module._Session),
                                   reader_module.CommandAPDU(0, 0xB0, 0, 0, le=0xDF))
    assert [c.le for c in calls] == [0xDF, 32]


# ---- extended length when both ends carry it

def test_the_atr_says_whether_the_chip_takes_extended_length():
    from drivers.smartcard.base import ATR
    from hardware_sim.emrtd import EXTENDED_HISTORICAL_BYTES, HISTORICAL_BYTES, atr

    assert ATR.parse(atr(EXTENDED_HISTORICAL_BYTES)).extended_length
    assert not ATR.parse(atr(HISTORICAL_BYTES)).extended_length
    assert not ATR.parse(atr(bytes.fromhex("80 73 00 00 00"))).extended_length


@pytest.mark.parametrize(("chip_can", "forced", "whole_files"), [(True, None, True), (False, None, False),
                                                                  (True, False, False)])
def test_extended_length_is_used_when_reader_and_chip_both_carry_it(sim, citizen, chip_can, forced, whole_files):
    chip = EmrtdChip(citizen, extended_length=chip_can)
    sim.insert_card(chip)
    assert_verified(read(sim, citizen, extended=forced))
    assert (chip.commands <= 12) == whole_files, chip.commands
