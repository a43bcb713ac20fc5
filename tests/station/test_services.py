"""The station's services without a screen: the receipt slip printed on an ESC/POS printer, the
[kiosk] configuration, PIN guards, the command without a display."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import numpy as np
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from hardware_sim.emrtd import run_pki
from hardware_sim.escpos_printer import SimulatedPrinter
from kiosk.i18n import set_language
from kiosk.slip import COLLECTION, collection_notice, render_slip, slip_lines
from packet.enrolment_number import enrolment_number
from station.config import ConfigError, KioskConfig, parse_config
from station.services import ReceiptSlip

PACKET_ID = "0b7e3f5c-3c55-4d4b-9d55-1f1d2b8b2a10"
SLIP = ReceiptSlip(enrolment_number(PACKET_ID), PACKET_ID, "NA-0001", datetime(2026, 11, 29, 9, 30, tzinfo=UTC))


def test_the_slip_is_printed_on_the_configured_printer(tmp_path):
    from station.bringup import StationDevices
    from station.services import StationServices

    image = render_slip(SLIP, "Ready in 7 working days.")
    assert image.width == 384 and image.height > 200 and image.mode == "1"
    with SimulatedPrinter() as simulated:
        config = parse_config({"station": {"id": "A"}, "paths": {"data_dir": str(tmp_path)},
                               "devices": {"printer": {"model": "escpos", "port": simulated.port}}})
        services = StationServices(config, StationDevices(config), trust=None, identity=None, outbox=None,
                                   officer=None, technician=None)
        assert services.print_slip(image, SLIP.enrolment_number) is True
        deadline = time.monotonic() + 5
        while b"\x1dV" not in simulated.received and time.monotonic() < deadline:  # the cut comes last
            time.sleep(0.01)
    slip, qr = _rasters(bytes(simulated.received))
    assert slip.shape == (image.height, 384)
    assert _decode_qr(qr) == SLIP.enrolment_number  # what the citizen reads is all that the code holds
    unconfigured = parse_config({"station": {"id": "A"}, "paths": {"data_dir": str(tmp_path)}})
    assert StationServices(unconfigured, StationDevices(unconfigured), trust=None, identity=None, outbox=None,
                           officer=None, technician=None).print_slip(image, SLIP.enrolment_number) is False


def _rasters(received: bytes) -> list[np.ndarray]:
    """The images of the ESC/POS raster commands (GS v 0 m xL xH yL yH data) sent, as 0/1 pixels."""
    images, start = [], 0
    while (start := received.find(b"\x1dv0", start)) >= 0:
        width_bytes = received[start + 4] + 256 * received[start + 5]
        height = received[start + 6] + 256 * received[start + 7]
        data = np.frombuffer(received[start + 8:start + 8 + width_bytes * height], dtype=np.uint8)
        images.append(np.unpackbits(data.reshape(height, width_bytes), axis=1))
        start += 8 + width_bytes * height
    return images


def _decode_qr(bits: np.ndarray) -> str:
    import cv2

    pixels = cv2.copyMakeBorder(np.where(bits == 1, 0, 255).astype(np.uint8), 20, 20, 20, 20, cv2.BORDER_CONSTANT,
                                value=255)
    return cv2.QRCodeDetector().detectAndDecode(pixels)[0]


def test_the_slip_has_one_number_and_says_what_happens_next():
    set_language("en")
    try:
        assert [label for label, _value in slip_lines(SLIP)] == ["Enrolment number", "Date", "Station"]
        assert slip_lines(SLIP)[0][1] == SLIP.enrolment_number == "0126 3685 6794 1971"
        assert all(PACKET_ID not in value and "packet" not in label.lower() for label, value in slip_lines(SLIP))
        short = render_slip(SLIP, "Ready on Monday.")
        long = render_slip(SLIP, "Ready in 7 working days at the district police office, Monday to Friday, "
                                 "7:30 to 11:30 and 13:30 to 17:00; bring this receipt and your old card.")
        assert long.height >= short.height + 3 * 30  # the longer text is wrapped onto more lines, none cut off
    finally:
        set_language("vi")


def test_what_happens_next_comes_from_the_configuration_in_the_language_shown():
    both = KioskConfig(collection_vi="Nhận thẻ sau 7 ngày.", collection_en="Collect in 7 days.")
    assert collection_notice(both, "vi") == "Nhận thẻ sau 7 ngày."
    assert collection_notice(both, "en") == "Collect in 7 days."
    only_vi = KioskConfig(collection_vi="Nhận thẻ sau 15 ngày.")
    assert collection_notice(only_vi, "en") == "Nhận thẻ sau 15 ngày."  # never a default that may contradict it
    set_language("en")
    try:
        assert collection_notice(KioskConfig(), "en") == COLLECTION
    finally:
        set_language("vi")


def test_kiosk_section_is_checked():
    config = parse_config({"station": {"id": "A"}, "kiosk": {"language": "en", "high_contrast": True,
                                                              "inactivity_warning_s": 30, "inactivity_wipe_s": 45}})
    assert config.kiosk.language == "en" and config.kiosk.high_contrast and config.kiosk.inactivity_wipe_s == 45
    for table, message in [({"officer_pin": "2468"}, "never the PIN itself"), ({"language": "fr"}, "'vi' or 'en'"),
                           ({"printer": "serial:/dev/ttyUSB0"}, "unknown key"),
                           ({"high_contrast": "yes"}, "true or false"), ({"colour": 1}, "unknown key"),
                           ({"inactivity_warning_s": 90, "inactivity_wipe_s": 60}, "longer than")]:
        with pytest.raises(ConfigError, match=message):
            parse_config({"station": {"id": "A"}, "kiosk": table})


def test_real_station_needs_pin_hashes_and_a_trust_store(tmp_path):
    from station.bringup import StationDevices
    from station.services import open_services

    config = parse_config({"station": {"id": "A"}, "paths": {"data_dir": str(tmp_path)}})
    with pytest.raises(ConfigError, match="trust_store"):
        open_services(config, StationDevices(config), upload=False)
    (tmp_path / "csca").mkdir()
    config = parse_config({"station": {"id": "A"}, "paths": {"data_dir": str(tmp_path)},
                           "kiosk": {"trust_store": str(tmp_path / "csca")}})
    with pytest.raises(ConfigError, match="holds no CSCA certificate"):  # an empty folder would fail every card
        open_services(config, StationDevices(config), upload=False)
    (tmp_path / "csca" / "csca.pem").write_bytes(run_pki().csca_certificate.public_bytes(Encoding.PEM))
    with pytest.raises(ConfigError, match="officer_pin"):
        open_services(config, StationDevices(config), upload=False)


def test_without_display_the_command_says_how_to_run_it(monkeypatch, capsys, tmp_path):
    from enrol.cli import main

    for name in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setattr("shutil.which", lambda _name: None)
    assert main(["kiosk", "--sim"]) == 1
    assert "xvfb-run" in capsys.readouterr().err


def test_without_display_the_command_reexecutes_under_xvfb(monkeypatch, tmp_path):
    from enrol.cli import main

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
