"""The NB-1010-U simulator checked against the real sensor's recording, with plain pyusb calls (no
driver code): given the recorded image, it must answer the recorded commands with the recorded bytes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import usb.core

from hardware_sim.nb1010 import NB1010Simulator, fit_to_sensor
from hardware_sim.usb_replay import parse_device_file, parse_ioctl_file

RECORDING = Path(__file__).parents[1] / "data" / "usb" / "nb1010"


def find(sim: NB1010Simulator) -> usb.core.Device:
    dev = usb.core.find(idVendor=0x298D, idProduct=0x1010, backend=sim.backend)
    assert dev is not None
    return dev


def test_simulator_answers_the_recorded_commands_with_the_recorded_bytes() -> None:
    sim = NB1010Simulator()
    sim.place_finger(cv2.imread(str(RECORDING / "capture.png"))[:, :, 0])
    dev = find(sim)
    for transfer in parse_ioctl_file((RECORDING / "capture.ioctl").read_text()):
        if transfer.direction_in:
            got = bytes(dev.read(transfer.endpoint, transfer.buffer_length, 1000))
            assert got == transfer.data, f"line {transfer.line}: {got[:25].hex()} vs {transfer.data[:25].hex()}"
        else:
            assert dev.write(transfer.endpoint, transfer.data, 1000) == len(transfer.data)


def test_simulator_carries_the_recorded_descriptors_and_strings() -> None:
    recorded = parse_device_file((RECORDING / "device").read_text())
    dev = find(NB1010Simulator())
    raw = bytes(usb.control.get_descriptor(dev, 18, 1, 0)) + bytes(usb.control.get_descriptor(dev, 255, 2, 0))
    assert raw == recorded.descriptors
    assert (dev.manufacturer, dev.product) == ("NEXT Biometrics", "NB-1010-U")


def test_interrupt_endpoint_stays_silent() -> None:
    with pytest.raises(usb.core.USBTimeoutError):
        find(NB1010Simulator()).read(0x81, 64, 50)


def test_unknown_command_stalls() -> None:
    dev = find(NB1010Simulator())
    with pytest.raises(usb.core.USBError, match="unknown command 0x07"):
        dev.write(0x02, bytes.fromhex("8007050008000000"))


def test_fit_crops_the_centre_and_pads_with_background() -> None:
    big = np.arange(300 * 400, dtype=np.uint32).reshape(300, 400).astype(np.uint8)
    np.testing.assert_array_equal(fit_to_sensor(big), big[60:240, 72:328])
    small = np.zeros((100, 100), np.uint8)
    fitted = fit_to_sensor(small)
    assert fitted.shape == (180, 256)
    assert (fitted[40:140, 78:178] == 0).all() and fitted[0, 0] == 0xE5
    assert fit_to_sensor(small, fit="resize").shape == (180, 256)
    with pytest.raises(ValueError, match="2-D uint8"):
        fit_to_sensor(np.zeros((180, 256, 3), np.uint8))
