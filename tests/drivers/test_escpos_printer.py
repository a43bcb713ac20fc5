"""The ESC/POS printer driver over a serial line, against the simulated printer and python-escpos's Dummy."""

from __future__ import annotations

import time

import pytest
from PIL import Image

from drivers.errors import DeviceNotFound, DeviceTimeout
from drivers.printer.escpos import EscPosPrinter
from drivers.printer.models import create_printer
from drivers.settings import SettingsError
from hardware_sim.escpos_printer import SimulatedPrinter

IMAGE = Image.new("1", (384, 120), 1)


def test_a_slip_goes_out_as_raster_image_qr_code_and_cut():
    with SimulatedPrinter() as simulated, create_printer("escpos", {"port": simulated.port}) as printer:
        printer.print_slip(IMAGE, "0b7e3f5c-3c55-4d4b-9d55-1f1d2b8b2a10")
        assert printer.info().address == simulated.port
        deadline = time.monotonic() + 10
        while b"\x1dV" not in simulated.received and time.monotonic() < deadline:
            time.sleep(0.02)
        received = bytes(simulated.received)
    # GS v 0 raster images: the text, then the QR code (printed as an image); GS V: the cut, last.
    images = [index for index in range(len(received)) if received.startswith(b"\x1dv0", index)]
    assert len(images) >= 2 and images[-1] < received.rindex(b"\x1dV")


def test_the_slip_is_centred_on_the_paper():
    from escpos.printer import Dummy

    printer = EscPosPrinter(port="/dev/null")
    printer._printer = Dummy()  # python-escpos's own in-memory printer: what the driver sends, as bytes
    printer._printer.profile.profile_data["media"]["width"]["pixels"] = 576
    printer.print_slip(Image.new("1", (384, 40), 1), "x")
    header = printer._printer.output[printer._printer.output.index(b"\x1dv0"):][4:8]
    assert int.from_bytes(header[:2], "little") == 576 // 8  # centred: the raster is the paper's width


@pytest.mark.parametrize(("online", "paper", "passed", "problem"), [
    (True, "ok", True, ""), (True, "near end", True, ""), (True, "out", False, "no paper"),
    (False, "ok", False, "offline"),
])
def test_self_test_reads_the_real_time_status(online, paper, passed, problem):
    with SimulatedPrinter() as simulated:
        simulated.online, simulated.paper = online, paper
        with EscPosPrinter(port=simulated.port) as printer:
            result = printer.self_test()
    assert result.passed is passed and problem in result.problem
    assert result.checks["paper"] == paper and result.checks["online"] == ("yes" if online else "no")


def test_an_absent_printer_is_device_not_found():
    with pytest.raises(DeviceNotFound, match="cannot open the printer"):
        EscPosPrinter(port="/dev/does-not-exist").open()


def test_settings_are_checked_by_name():
    with pytest.raises(SettingsError, match="unknown printer model"):
        create_printer("parallel", {})
    with pytest.raises(SettingsError, match="speed: unknown key"):
        create_printer("escpos", {"port": "/dev/ttyUSB0", "speed": 9600})
    with pytest.raises(SettingsError, match="either on a serial port"):
        create_printer("escpos", {"port": "/dev/ttyUSB0", "vendor_id": 0x0416, "product_id": 0x5011})
    with pytest.raises(SettingsError, match="both vendor_id and product_id"):
        create_printer("escpos", {"vendor_id": 0x0416})
    assert create_printer("escpos", {"vendor_id": 0x0416, "product_id": 0x5011}).info().address == "usb:0416:5011"


def test_a_printer_that_does_not_answer_times_out():
    import os
    import pty

    master, slave = pty.openpty()  # a line with nothing at the far end
    try:
        with EscPosPrinter(port=os.ttyname(slave), timeout=0.2) as printer, pytest.raises(DeviceTimeout):
            printer.self_test()
    finally:
        os.close(master)
        os.close(slave)
