"""Replay of umockdev recordings, driven with plain pyusb calls (the driver's replay test is in
tests/drivers/test_nb1010.py)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import usb.core

from hardware_sim.usb_replay import ReplayBackend, ReplayMismatch, parse_device_file, parse_ioctl_file
from hardware_sim.usb_virtual import parse_descriptors

RECORDING = Path(__file__).parents[1] / "data" / "usb" / "nb1010"

CHECK_FINGER = bytes.fromhex("8038010008000000")
FINGER_REPLY = bytes.fromhex("803701001000000000000000F7000000")
PRE_CAPTURE = bytes.fromhex("800D03000C00000000040000")


@pytest.fixture
def backend() -> ReplayBackend:
    return ReplayBackend.from_directory(RECORDING)


def find(backend: ReplayBackend) -> usb.core.Device:
    dev = usb.core.find(idVendor=0x298D, idProduct=0x1010, backend=backend)
    assert dev is not None
    return dev


def test_device_file_gives_descriptors_address_and_strings() -> None:
    recorded = parse_device_file((RECORDING / "device").read_text())
    assert recorded.descriptors[:4] == bytes.fromhex("12010002")
    assert len(recorded.descriptors) == 18 + 39
    assert (recorded.bus, recorded.address, recorded.configuration) == (1, 3, 1)
    assert recorded.strings == {1: "NEXT Biometrics", 2: "NB-1010-U"}


def test_ioctl_file_gives_the_transfers_in_order() -> None:
    transfers = parse_ioctl_file((RECORDING / "capture.ioctl").read_text())
    assert len(transfers) == 96
    assert [t.endpoint for t in transfers[:6]] == [0x02, 0x83, 0x02, 0x83, 0x02, 0x83]
    assert transfers[0].data == CHECK_FINGER
    assert transfers[1].data == FINGER_REPLY
    assert all(t.endpoint == 0x83 and len(t.data) == 540 for t in transfers[6:])
    assert (transfers[0].line, transfers[95].line) == (3, 98)


def test_pyusb_sees_the_recorded_device(backend: ReplayBackend) -> None:
    dev = find(backend)
    assert (dev.bus, dev.address) == (1, 3)
    assert (dev.manufacturer, dev.product) == ("NEXT Biometrics", "NB-1010-U")
    assert [e.bEndpointAddress for e in dev[0][(0, 0)]] == [0x81, 0x02, 0x83]
    assert dev.get_active_configuration().bConfigurationValue == 1


def test_recorded_exchange_plays_back(backend: ReplayBackend) -> None:
    dev = find(backend)
    assert dev.write(0x02, CHECK_FINGER) == 8
    assert bytes(dev.read(0x83, 16)) == FINGER_REPLY
    assert backend.device.position == 2
    assert not backend.finished


def test_different_out_bytes_are_a_loud_mismatch(backend: ReplayBackend) -> None:
    dev = find(backend)
    with pytest.raises(ReplayMismatch) as mismatch:
        dev.write(0x02, bytes.fromhex("8038020008000000"))
    text = str(mismatch.value)
    assert "transfer 0 (line 3)" in text
    assert "8038010008000000" in text and "8038020008000000" in text
    assert "first difference at byte 2" in text


def test_reading_when_the_host_should_write_is_a_mismatch(backend: ReplayBackend) -> None:
    with pytest.raises(ReplayMismatch, match=r"transfer 0 .*expected bulk OUT 0x02.*read endpoint 0x83"):
        find(backend).read(0x83, 16)


def test_wrong_buffer_size_is_a_mismatch(backend: ReplayBackend) -> None:
    dev = find(backend)
    dev.write(0x02, CHECK_FINGER)
    with pytest.raises(ReplayMismatch, match="transfer 1 .*64-byte buffer"):
        dev.read(0x83, 64)


def test_writing_to_the_wrong_endpoint_is_a_mismatch(backend: ReplayBackend) -> None:
    dev = find(backend)
    dev.write(0x02, CHECK_FINGER)
    with pytest.raises(ReplayMismatch, match="transfer 1 .*expected bulk IN 0x83"):
        dev.write(0x02, PRE_CAPTURE)


def test_mismatch_is_not_a_usb_error() -> None:
    assert issubclass(ReplayMismatch, AssertionError)
    assert not issubclass(ReplayMismatch, usb.core.USBError)


def test_unconsumed_transfers_are_detected(backend: ReplayBackend) -> None:
    dev = find(backend)
    dev.write(0x02, CHECK_FINGER)
    dev.read(0x83, 16)
    with pytest.raises(ReplayMismatch, match=r"made 2 of 96 recorded transfers; next was transfer 2 \(line 5\)"):
        backend.assert_finished()


def write_recording(directory: Path, ioctl: str) -> None:
    directory.mkdir(exist_ok=True)
    (directory / "device").write_text((RECORDING / "device").read_text())
    (directory / "capture.ioctl").write_text("@DEV /dev/bus/usb/001/003\n" + ioctl)


def test_whole_script_then_past_the_end(tmp_path: Path) -> None:
    write_recording(tmp_path, f"USBDEVFS_REAPURBNDELAY 0 3 2 0 0 8 8 0 {CHECK_FINGER.hex()}\n"
                              f" USBDEVFS_REAPURBNDELAY 0 3 131 0 0 16 16 0 {FINGER_REPLY.hex()}\n")
    backend = ReplayBackend.from_directory(tmp_path)
    dev = find(backend)
    dev.write(0x02, CHECK_FINGER)
    dev.read(0x83, 16)
    assert backend.finished
    backend.assert_finished()
    with pytest.raises(ReplayMismatch, match="after the last of the 2 recorded transfers"):
        dev.write(0x02, CHECK_FINGER)


def test_recorded_error_status_is_replayed(tmp_path: Path) -> None:
    write_recording(tmp_path, f"USBDEVFS_REAPURBNDELAY 0 3 2 0 0 8 8 0 {CHECK_FINGER.hex()}\n"
                              f"USBDEVFS_REAPURBNDELAY 0 3 131 -{errno.ETIMEDOUT} 0 16 0 0 \n"
                              f"USBDEVFS_REAPURBNDELAY 0 3 131 -{errno.ENODEV} 0 16 0 0\n")
    dev = find(ReplayBackend.from_directory(tmp_path))
    dev.write(0x02, CHECK_FINGER)
    with pytest.raises(usb.core.USBTimeoutError):
        dev.read(0x83, 16)
    with pytest.raises(usb.core.USBError) as gone:
        dev.read(0x83, 16)
    assert gone.value.errno == errno.ENODEV


@pytest.mark.parametrize(("ioctl", "message"), [
    ("USBDEVFS_REAPURBNDELAY 0 2 0 0 0 8 8 0 8006000100001200\n", "URB type 2"),
    ("USBDEVFS_SETINTERFACE 0 00000000\n", "USBDEVFS_SETINTERFACE cannot be replayed"),
    ("USBDEVFS_REAPURBNDELAY 0 3 2 0 0 8 8 0 80380100\n", "4 bytes of data, the URB says 8"),
    ("USBDEVFS_REAPURBNDELAY 0 1 2 0 0 2 2 0 0102\n", "endpoint 0x02 as interrupt"),
    ("@DEV /dev/bus/usb/001/004\n", "more than one @DEV"),
])
def test_recordings_that_cannot_be_replayed_are_rejected(tmp_path: Path, ioctl: str, message: str) -> None:
    write_recording(tmp_path, ioctl)
    with pytest.raises(ValueError, match=message):
        ReplayBackend.from_directory(tmp_path)


def test_device_is_chosen_by_the_recordings_device_node() -> None:
    text = (RECORDING / "device").read_text()
    root_hub = parse_device_file(text, node="/dev/bus/usb/001/001")
    assert (root_hub.address, parse_descriptors(root_hub.descriptors).device.idVendor) == (1, 0x1D6B)
    assert parse_device_file(text, node="/dev/bus/usb/001/003").address == 3
    with pytest.raises(ValueError, match="bus/usb/001/009"):
        parse_device_file(text, node="/dev/bus/usb/001/009")


def test_device_file_without_a_usb_device_is_rejected() -> None:
    with pytest.raises(ValueError, match="no USB device"):
        parse_device_file("P: /devices/platform/serial8250\nE: SUBSYSTEM=tty\n")
