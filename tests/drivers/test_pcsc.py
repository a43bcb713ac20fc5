"""The PC/SC driver against a real pcscd: vsmartcard's vpcd reader driver with the simulated chip
connected to its socket, so pyscard talks to a real daemon through the real client library.

The fixture starts a private pcscd (hardware_sim.pcscd: its own reader configuration, vpcd on a
free port), so it needs no daemon beforehand and never touches a system one's readers.
"""

from __future__ import annotations

import pytest

from capture.document.bac import BacError
from capture.document.reader import ReadOptions, cccd_access, read_identity_document
from capture.document.secure_messaging import SecureMessagingError
from crypto.csca import CscaStore
from drivers.errors import DeviceBusy, DeviceNotFound, ProtocolError
from drivers.smartcard.base import CardRemoved, CommandAPDU
from drivers.smartcard.models import create_reader
from hardware_sim.citizens import make_citizen
from hardware_sim.emrtd import EmrtdChip, run_pki
from hardware_sim.pcscd import MARKER, PID_FILE, READERS, PcscdUnavailable, PrivatePcscd, parse_pid_file, running_pcscd
from hardware_sim.vpcd import VirtualCard

READER = READERS[0]


@pytest.fixture(scope="module")
def vpcd_port():
    """A pcscd with the vpcd reader driver, running for this module; yields vpcd's port."""
    try:
        daemon = PrivatePcscd().start()
    except PcscdUnavailable as error:
        pytest.fail(str(error))
    yield daemon.port
    daemon.stop()


def test_the_running_pcscd_is_seen(vpcd_port):
    """pcsc-lite writes its pid file as "NNNN\\n\\0"; int() of that raised, so the fixture could not
    see a running pcscd (neither its own nor a stale one to stop)."""
    assert PID_FILE.read_bytes().endswith(b"\n\0")
    running = running_pcscd()
    assert running is not None and MARKER in running[1]
    assert parse_pid_file("4242\n\0") == 4242 and parse_pid_file("\0") is None


@pytest.fixture
def citizen():
    return make_citizen(7)


@pytest.fixture
def card(vpcd_port, citizen):
    """The simulated chip in vpcd's first reader; taken out after the test."""
    virtual = VirtualCard(EmrtdChip(citizen), port=vpcd_port).insert()
    yield virtual
    virtual.remove()


def _access(citizen):
    return cccd_access(citizen.personal_id, citizen.birth_date.strftime("%y%m%d"),
                       citizen.expiry_date.strftime("%y%m%d"))


def _trust():
    return CscaStore([run_pki().csca_certificate])


def test_reads_and_verifies_the_card_through_pcscd(card, citizen):
    with create_reader("pcsc", {"reader": READER}) as reader:
        reader.wait_for_card(5)
        assert reader.self_test().passed
        document = read_identity_document(reader, _access(citizen), _trust())
    assert document.verified, document.verification
    assert document.personal_id == citizen.personal_id
    assert document.demographics["full_name"] == citizen.full_name
    assert document.portrait_jpeg[:2] == b"\xff\xd8"


def test_extended_length_whole_files_through_pcscd(card, citizen):
    with create_reader("pcsc", {"reader": READER, "extended": True}) as reader:
        reader.wait_for_card(5)
        before = card.apdus
        document = read_identity_document(reader, _access(citizen), _trust(), options=ReadOptions(extended=True))
    assert document.verified
    assert card.apdus - before <= 10  # SELECT, GET CHALLENGE, EXT AUTH, one READ BINARY per file


def test_card_removed_mid_read_is_card_removed(card, citizen):
    with create_reader("pcsc", {"reader": READER}) as reader:
        reader.wait_for_card(5)
        card.remove(after_apdus=12)
        with pytest.raises(CardRemoved):
            read_identity_document(reader, _access(citizen), _trust())
        assert not reader.card_present()


def test_wrong_mrz_information_is_refused_by_the_chip(card, citizen):
    with create_reader("pcsc", {"reader": READER}) as reader:
        reader.wait_for_card(5)
        with pytest.raises(BacError, match="BAC refused") as raised:
            read_identity_document(reader, cccd_access(citizen.personal_id, "010101", "300101"), _trust())
    assert raised.value.sw == 0x6300


def test_garbage_reply_breaks_secure_messaging(card, citizen):
    card.chip.garbage_next(skip=6)
    with create_reader("pcsc", {"reader": READER}) as reader:
        reader.wait_for_card(5)
        with pytest.raises((SecureMessagingError, ProtocolError)):
            read_identity_document(reader, _access(citizen), _trust())


def test_exclusive_connection_keeps_other_programs_out(card):
    with create_reader("pcsc", {"reader": READER}) as first, create_reader("pcsc", {"reader": READER}) as second:
        first.wait_for_card(5)
        first.power_on()
        assert first.transmit(CommandAPDU(0x00, 0xA4, 0x04, 0x0C, bytes.fromhex("A0000002471001"))).ok
        with pytest.raises(DeviceBusy):
            second.power_on()


def test_unknown_reader_name_is_not_found(vpcd_port):
    with pytest.raises(DeviceNotFound, match="no PC/SC reader"):
        create_reader("pcsc", {"reader": "No Such Reader"}).open()
