"""The NB-1010-U driver against the recorded traffic of a real sensor and against the simulator."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import libusb_package
import numpy as np
import pytest
import usb.backend.libusb1

from drivers.errors import (
    Cancelled,
    DeviceAccessDenied,
    DeviceBusy,
    DeviceDisconnected,
    DeviceNotFound,
    DeviceTimeout,
    ProtocolError,
)
from drivers.fingerprint import nb1010
from drivers.fingerprint.nb1010 import NB1010Scanner, find
from hardware_sim.nb1010 import NB1010Simulator
from hardware_sim.usb_replay import ReplayBackend, ReplayMismatch
from hardware_sim.usb_virtual import EndpointStall

RECORDING = Path(__file__).parents[1] / "data" / "usb" / "nb1010"

# Replies that precede the image reads: check-finger, pre-capture and capture each get one.
REPLIES_BEFORE_IMAGE = 2


def ridges(width: int = 256, height: int = 180) -> np.ndarray:
    """A sine-ridge test pattern (dark ridges on light), different in every row and column."""
    y, x = np.mgrid[0:height, 0:width]
    return (128 + 100 * np.sin(x / 3.1 + y / 7.3) + (x * y) % 7).astype(np.uint8)


@pytest.fixture
def sim() -> NB1010Simulator:
    return NB1010Simulator()


@pytest.fixture
def scanner(sim: NB1010Simulator) -> Iterator[NB1010Scanner]:
    with NB1010Scanner(find(sim.backend), timeout_ms=300) as scanner:
        yield scanner


# ---- replay of the real sensor's traffic


def test_replay_reproduces_libfprints_image_exactly() -> None:
    backend = ReplayBackend.from_directory(RECORDING)
    with NB1010Scanner(find(backend)) as scanner:
        scanner.wait_for_finger(timeout=5)
        image = scanner.capture()
    backend.assert_finished()
    reference = cv2.imread(str(RECORDING / "capture.png"))[:, :, 0]
    assert image.pixels.shape == (180, 256)
    np.testing.assert_array_equal(image.pixels, reference)
    assert image.ppi == 385
    info = image.device
    assert (info.vendor, info.model, info.address, info.firmware) == ("NEXT Biometrics", "NB-1010-U",
                                                                      "usb:1:3", "0.01")
    assert (info.vendor_id, info.product_id, info.serial) == (0x298D, 0x1010, "")


def test_replay_catches_a_driver_sending_other_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nb1010, "SEQ_PRE_CAPTURE", 0x02)
    backend = ReplayBackend.from_directory(RECORDING)
    with NB1010Scanner(find(backend)) as scanner:
        scanner.wait_for_finger(timeout=5)
        with pytest.raises(ReplayMismatch) as mismatch:
            scanner.capture()
    text = str(mismatch.value)
    assert "transfer 2 (line 5)" in text
    assert "800d03000c00000000040000" in text and "800d02000c00000000040000" in text


def test_replay_detects_unconsumed_transfers() -> None:
    backend = ReplayBackend.from_directory(RECORDING)
    with NB1010Scanner(find(backend)) as scanner:
        assert scanner.finger_present()
    assert not backend.finished
    with pytest.raises(ReplayMismatch, match="made 2 of 96"):
        backend.assert_finished()


# ---- the simulator: normal operation


def test_capture_returns_the_placed_image(sim: NB1010Simulator, scanner: NB1010Scanner) -> None:
    pattern = ridges()
    sim.place_finger(pattern)
    image = scanner.capture()
    np.testing.assert_array_equal(image.pixels, pattern)
    assert image.pixels.dtype == np.uint8
    assert image.ppi == 385
    assert image.device.model == "NB-1010-U"
    assert image.captured_at.tzinfo is not None


def test_commands_on_the_wire_are_the_recorded_bytes(sim: NB1010Simulator, scanner: NB1010Scanner) -> None:
    scanner.finger_present()
    scanner.capture()
    assert [c.hex() for c in sim.commands] == [
        "8038010008000000", "800d03000c00000000040000",
        "8012040020000000020000000000000000000000000000000000000020000000"]


def test_finger_present_and_absent(sim: NB1010Simulator, scanner: NB1010Scanner) -> None:
    assert not scanner.finger_present()
    sim.place_finger(ridges())
    assert scanner.finger_present()
    assert scanner.finger_level() == 0xF7
    sim.lift_finger()
    assert not scanner.finger_present()


def test_info_from_the_device(scanner: NB1010Scanner, sim: NB1010Simulator) -> None:
    info = scanner.info()
    assert (info.vendor, info.model, info.firmware) == ("NEXT Biometrics", "NB-1010-U", "0.01")
    assert (info.vendor_id, info.product_id) == (0x298D, 0x1010)
    assert info.address == f"usb:1:{find(sim.backend).address}"


def test_wait_for_finger_returns_once_placed(sim: NB1010Simulator, scanner: NB1010Scanner) -> None:
    threading.Timer(0.2, sim.place_finger, (ridges(),)).start()
    scanner.wait_for_finger(timeout=10)
    assert scanner.finger_present()


def test_wait_for_finger_cancelled_from_another_thread(scanner: NB1010Scanner) -> None:
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        scanner.wait_for_finger(timeout=30, cancel=cancel)
    assert time.monotonic() - started < 2


def test_capture_cancelled_beforehand_sends_nothing(sim: NB1010Simulator, scanner: NB1010Scanner) -> None:
    sim.place_finger(ridges())
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        scanner.capture(cancel=cancel)
    assert sim.commands == []
    np.testing.assert_array_equal(scanner.capture(cancel=threading.Event()).pixels, ridges())


def test_wait_for_finger_times_out(scanner: NB1010Scanner) -> None:
    with pytest.raises(DeviceTimeout, match="no finger"):
        scanner.wait_for_finger(timeout=0.2)


def test_self_test_needs_no_finger(scanner: NB1010Scanner) -> None:
    result = scanner.self_test()
    assert result.passed, result.problem
    assert result.checks["check-finger"] == "level 0x08"
    assert result.checks["image"].startswith("256x180")


def test_traffic_is_logged_in_hex(scanner: NB1010Scanner, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="drivers.fingerprint.nb1010.traffic"):
        scanner.finger_present()
    assert "8038010008000000" in caplog.text
    assert "80 37 01 00 10 00 00 00" in caplog.text


def test_unconfigured_device_gets_configured(sim: NB1010Simulator) -> None:
    sim.backend.detach(sim)
    sim.backend.attach(sim, configuration=0)
    with NB1010Scanner(find(sim.backend)) as scanner:
        assert not scanner.finger_present()


def test_kernel_driver_is_detached_and_given_back(sim: NB1010Simulator) -> None:
    sim.kernel_driver_interfaces.add(0)
    with NB1010Scanner(find(sim.backend)) as scanner:
        assert 0 not in sim.kernel_driver_interfaces
        scanner.finger_present()
    assert 0 in sim.kernel_driver_interfaces


# ---- the simulator: faults


def test_short_reply_is_a_protocol_error(sim: NB1010Simulator, scanner: NB1010Scanner) -> None:
    sim.short_read_next(length=8)
    with pytest.raises(ProtocolError, match="short reply to check-finger: got 8 bytes, expected 16"):
        scanner.finger_present()


def test_short_image_read_is_a_protocol_error(sim: NB1010Simulator, scanner: NB1010Scanner) -> None:
    sim.short_read_next(skip=REPLIES_BEFORE_IMAGE + 10)
    with pytest.raises(ProtocolError, match="short image read 11 of 90: got 270 bytes, expected 540"):
        scanner.capture()


def test_corrupt_line_index_is_a_protocol_error(sim: NB1010Simulator, scanner: NB1010Scanner) -> None:
    sim.corrupt_next(skip=REPLIES_BEFORE_IMAGE + 40, offset=16, xor=0x02)
    with pytest.raises(ProtocolError, match="image read 41 of 90: line index .* is 83, expected 81"):
        scanner.capture()


def test_corrupt_reply_marker_is_a_protocol_error(sim: NB1010Simulator, scanner: NB1010Scanner) -> None:
    sim.corrupt_next()
    with pytest.raises(ProtocolError, match="reply to check-finger: byte 0 is 0x7f, expected 0x80"):
        scanner.finger_present()


def test_wrong_sequence_echo_is_a_protocol_error(sim: NB1010Simulator, scanner: NB1010Scanner) -> None:
    sim.corrupt_next(skip=1, offset=2, xor=0x01)
    with pytest.raises(ProtocolError, match="reply to capture: byte 2 is 0x05, expected 0x04"):
        scanner.capture()


def test_stall_is_a_timeout_and_the_sensor_recovers(sim: NB1010Simulator, scanner: NB1010Scanner) -> None:
    sim.stall(0.5)
    with pytest.raises(DeviceTimeout, match="reply to check-finger: no answer within 300 ms"):
        scanner.finger_present()
    time.sleep(0.5)
    assert not scanner.finger_present()


def test_self_test_reports_a_hung_sensor(sim: NB1010Simulator, scanner: NB1010Scanner) -> None:
    sim.stall(5)
    result = scanner.self_test()
    assert not result.passed
    assert "no answer" in result.problem


def test_unplug_mid_image_is_a_disconnect(sim: NB1010Simulator, scanner: NB1010Scanner) -> None:
    sim.place_finger(ridges())
    sim.unplug(after_reads=40)
    started = time.monotonic()
    with pytest.raises(DeviceDisconnected, match="image read 41 of 90"):
        scanner.capture()
    assert time.monotonic() - started < 2
    scanner.close()
    scanner.close()  # safe twice, and after a disconnect


def test_unplug_while_waiting_in_a_transfer_is_noticed_at_once(sim: NB1010Simulator) -> None:
    with NB1010Scanner(find(sim.backend), timeout_ms=10_000) as scanner:
        sim.stall(30)
        threading.Timer(0.2, sim.unplug).start()
        started = time.monotonic()
        with pytest.raises(DeviceDisconnected):
            scanner.finger_present()
        assert time.monotonic() - started < 5


def test_after_replug_a_new_scanner_works(sim: NB1010Simulator, scanner: NB1010Scanner) -> None:
    old_address = scanner.info().address
    sim.unplug()
    with pytest.raises(DeviceDisconnected):
        scanner.finger_present()
    with pytest.raises(DeviceNotFound):
        find(sim.backend)
    sim.replug()
    sim.place_finger(ridges())
    with NB1010Scanner(find(sim.backend)) as fresh:
        assert fresh.info().address != old_address
        assert fresh.finger_present()
        np.testing.assert_array_equal(fresh.capture().pixels, ridges())


def test_device_not_found_when_absent() -> None:
    sim = NB1010Simulator(plugged_in=False)
    with pytest.raises(DeviceNotFound, match="298d:1010") as absent:
        find(sim.backend)
    assert "lsusb" in absent.value.technician_hint


def test_device_not_found_without_a_usb_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(libusb_package, "get_libusb1_backend", lambda: None)
    monkeypatch.setattr(usb.backend.libusb1, "get_backend", lambda: None)
    with pytest.raises(DeviceNotFound, match="no libusb") as missing:
        find()
    assert "libusb" in missing.value.technician_hint


def test_default_backend_finds_no_scanner_on_this_machine() -> None:
    with pytest.raises(DeviceNotFound):
        find()


def test_second_program_gets_device_busy(sim: NB1010Simulator, scanner: NB1010Scanner) -> None:
    scanner.finger_present()
    with pytest.raises(DeviceBusy, match="interface 0"):
        NB1010Scanner(find(sim.backend)).open()


def test_no_permission_is_access_denied(sim: NB1010Simulator) -> None:
    sim.access_denied = True
    with pytest.raises(DeviceAccessDenied):
        NB1010Scanner(find(sim.backend)).open()


class StallingSimulator(NB1010Simulator):
    """Stalls bulk IN once, optionally unplugging itself first (a cable pulled mid-transfer that
    the host controller reports as a pipe error)."""

    def __init__(self, *, unplug_first: bool) -> None:
        super().__init__()
        self.unplug_first = unplug_first
        self.stall_once = True

    def produce_in(self, endpoint: int) -> bytes | None:
        if self.stall_once:
            self.stall_once = False
            if self.unplug_first:
                self.backend.detach(self)
            raise EndpointStall("test stall")
        return super().produce_in(endpoint)


def test_endpoint_stall_is_a_protocol_error_and_is_cleared() -> None:
    sim = StallingSimulator(unplug_first=False)
    with NB1010Scanner(find(sim.backend)) as scanner:
        with pytest.raises(ProtocolError, match="stalled"):
            scanner.finger_present()
        assert not scanner.finger_present()


def test_pipe_error_from_a_vanished_device_is_a_disconnect() -> None:
    sim = StallingSimulator(unplug_first=True)
    with NB1010Scanner(find(sim.backend)) as scanner:
        with pytest.raises(DeviceDisconnected, match="pipe error"):
            scanner.finger_present()
