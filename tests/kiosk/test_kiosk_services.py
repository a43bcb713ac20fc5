"""The kiosk's services without a screen: receipts printed on an ESC/POS printer, the [kiosk]
configuration, PIN guards, the command without a display."""

from __future__ import annotations

import os
import pty
import threading
import uuid
from datetime import UTC, datetime

import pytest
from escpos.printer import Dummy

from kiosk.config import ConfigError, parse_config
from kiosk.printer import PrinterError, open_printer, print_receipt, render_receipt
from kiosk.session import Receipt

RECEIPT = Receipt("NA-0001-261129-ABCDEF12", str(uuid.UUID(int=7)), "NA-0001",
                  datetime(2026, 11, 29, 9, 30, tzinfo=UTC))


def test_receipt_prints_as_raster_with_qr_code_and_cut():
    printer = Dummy()
    print_receipt(printer, RECEIPT)
    data = printer.output
    assert b"\x1dv0" in data  # GS v 0: raster image (the text, drawn with Vietnamese glyphs)
    assert data.rstrip().endswith(b"\x1dVA\x00") or b"\x1dV" in data  # GS V: cut


def test_receipt_image_is_printer_width():
    image = render_receipt(RECEIPT)
    assert image.width == 384 and image.height > 200 and image.mode == "1"


def test_receipt_over_a_serial_line():
    master, slave = pty.openpty()
    received = bytearray()

    def drain() -> None:  # the printer's end of the line: reads until the cut command
        while b"\x1dV" not in received:
            try:
                received.extend(os.read(master, 65536))
            except OSError:
                return

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        printer = open_printer(f"serial:{os.ttyname(slave)}@19200")
        print_receipt(printer, RECEIPT)
        reader.join(10)
        printer.close()
    finally:
        os.close(slave)
        os.close(master)
    assert b"\x1dv0" in received and b"\x1dV" in received


def test_unknown_or_absent_printer():
    assert open_printer("") is None
    with pytest.raises(PrinterError, match="unknown printer"):
        open_printer("parallel:/dev/lp0")
    with pytest.raises(PrinterError, match="cannot open"):
        open_printer("serial:/dev/does-not-exist")


def test_kiosk_section_is_checked():
    config = parse_config({"station": {"id": "A"}, "kiosk": {"language": "en", "high_contrast": True,
                                                              "inactivity_warning_s": 30, "inactivity_wipe_s": 45}})
    assert config.kiosk.language == "en" and config.kiosk.high_contrast and config.kiosk.inactivity_wipe_s == 45
    for table, message in [({"officer_pin": "2468"}, "never the PIN itself"), ({"language": "fr"}, "vi or en"),
                           ({"high_contrast": "yes"}, "true or false"), ({"colour": 1}, "unknown key"),
                           ({"inactivity_warning_s": 90, "inactivity_wipe_s": 60}, "longer than")]:
        with pytest.raises(ConfigError, match=message):
            parse_config({"station": {"id": "A"}, "kiosk": table})


def test_real_station_needs_pin_hashes_and_a_trust_store(tmp_path):
    from kiosk.services import open_services
    from kiosk.station import StationDevices

    config = parse_config({"station": {"id": "A"}, "paths": {"data_dir": str(tmp_path)}})
    with pytest.raises(ConfigError, match="trust_store"):
        open_services(config, StationDevices(config), upload=False)
    (tmp_path / "csca").mkdir()
    config = parse_config({"station": {"id": "A"}, "paths": {"data_dir": str(tmp_path)},
                           "kiosk": {"trust_store": str(tmp_path / "csca")}})
    with pytest.raises(ConfigError, match="officer_pin"):
        open_services(config, StationDevices(config), upload=False)


def test_without_display_the_command_says_how_to_run_it(monkeypatch, capsys, tmp_path):
    from kiosk.cli import main

    for name in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setattr("shutil.which", lambda _name: None)
    assert main(["kiosk", "--sim"]) == 1
    assert "xvfb-run" in capsys.readouterr().err


def test_without_display_the_command_reexecutes_under_xvfb(monkeypatch, tmp_path):
    from kiosk.cli import main

    for name in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER", "ENROL_KIOSK_UNDER_XVFB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setattr("shutil.which", lambda _name: "/usr/bin/xvfb-run")
    calls = []

    def fake_execv(path, argv):
        calls.append(argv)
        raise SystemExit(0)

    monkeypatch.setattr("os.execv", fake_execv)
    with pytest.raises(SystemExit):
        main(["kiosk", "--sim"])
    assert calls[0][:4] == ["/usr/bin/xvfb-run", "-a", "-s", "-screen 0 1280x800x24"]
    assert os.environ.get("ENROL_KIOSK_UNDER_XVFB") == "1"
