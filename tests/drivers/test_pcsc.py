"""The PC/SC driver against a real pcscd: vsmartcard's vpcd reader driver with the simulated chip
connected to its socket, so pyscard talks to a real daemon through the real client library.

The fixture starts its own pcscd in the foreground with a reader configuration of its own (vpcd on
a free port), so it needs no daemon beforehand and never touches a system one's readers.  pcscd's
client socket is fixed (/run/pcscd/pcscd.comm), so only one pcscd can run: a stale one left by
an earlier run of this fixture (its owner process gone) is stopped; one that belongs to a live
run is waited for; any other pcscd is reported, not killed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from capture.document.bac import BacError
from capture.document.reader import ReadOptions, cccd_access, read_identity_document
from capture.document.secure_messaging import SecureMessagingError
from crypto.csca import CscaStore
from drivers.errors import DeviceBusy, DeviceNotFound, ProtocolError
from drivers.smartcard import pcsc
from drivers.smartcard.base import CardRemoved, CommandAPDU
from drivers.smartcard.models import create_reader
from hardware_sim.citizens import make_citizen
from hardware_sim.emrtd import EmrtdChip, run_pki
from hardware_sim.vpcd import VirtualCard

PID_FILE = Path("/run/pcscd/pcscd.pid")
MARKER = "enrolment-pcscd-"
VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
READER = "Virtual PCD 00 00"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _running_pcscd() -> tuple[int, str] | None:
    """(pid, command line) of the pcscd that owns the socket, if one runs."""
    try:
        pid = int(PID_FILE.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    return (pid, command) if "pcscd" in command else None


def _clear_the_way(timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while (running := _running_pcscd()) is not None:
        pid, command = running
        owner = command.split(MARKER, 1)[1].split("-", 1)[0] if MARKER in command else None
        if owner is None:
            pytest.fail(f"a pcscd not started by these tests runs (pid {pid}: {command}); stop it "
                        "(systemctl stop pcscd.socket pcscd) to run the PC/SC tests")
        if not _alive(int(owner)):
            os.kill(pid, signal.SIGTERM)  # stale: its test run is gone
        elif time.monotonic() > deadline:
            pytest.fail(f"another test run's pcscd (pid {pid}) did not finish within {timeout:g} s")
        time.sleep(0.2)


def _free_port_pair() -> int:
    """A port p with p and p + 1 free (vpcd listens on one port per reader, two readers)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        try:
            with socket.socket() as second:
                second.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no two consecutive free ports")


@pytest.fixture(scope="module")
def vpcd_port():
    """A pcscd with the vpcd reader driver, running for this module; yields vpcd's port."""
    if shutil.which("pcscd") is None or not VPCD_DRIVER.exists():
        pytest.fail("pcscd and vsmartcard-vpcd are needed (scripts/setup.sh installs them)")
    _clear_the_way()
    directory = Path(tempfile.mkdtemp(prefix=f"{MARKER}{os.getpid()}-"))
    port = _free_port_pair()
    config = directory / "reader.conf.d"
    config.mkdir()
    (config / "vpcd").write_text(f'FRIENDLYNAME "Virtual PCD"\nDEVICENAME /dev/null:0x{port:04X}\n'
                                 f"LIBPATH {VPCD_DRIVER}\nCHANNELID 0x{port:04X}\n")
    log = (directory / "pcscd.log").open("w")
    daemon = subprocess.Popen(["pcscd", "--foreground", "--config", str(config), "--auto-exit"],
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 15
        while True:
            if daemon.poll() is not None:
                pytest.fail(f"pcscd exited ({daemon.returncode}): {(directory / 'pcscd.log').read_text()[-2000:]}")
            try:
                if READER in pcsc.list_readers():
                    break
            except DeviceNotFound:
                pass
            if time.monotonic() > deadline:
                pytest.fail("pcscd did not list the vpcd reader within 15 s")
            time.sleep(0.05)
        yield port
    finally:
        daemon.terminate()
        try:
            daemon.wait(10)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()
        shutil.rmtree(directory, ignore_errors=True)


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
