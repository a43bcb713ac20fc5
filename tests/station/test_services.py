"""The station's services without a screen: the receipt slip printed on an ESC/POS printer, the
[kiosk] configuration, PIN guards, the command without a display."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from hardware_sim.emrtd import run_pki
from hardware_sim.escpos_printer import SimulatedPrinter
from kiosk.slip import render_slip
from station.config import ConfigError, parse_config
from station.services import ReceiptSlip

SLIP = ReceiptSlip("NA-0001-261129-ABCDEF12", str(uuid.UUID(int=7)), "NA-0001",
                  datetime(2026, 11, 29, 9, 30, tzinfo=UTC))


def test_the_slip_is_printed_on_the_configured_printer(tmp_path):
    from station.bringup import StationDevices
    from station.services import StationServices

    image = render_slip(SLIP)
    assert image.width == 384 and image.height > 200 and image.mode == "1"
    with SimulatedPrinter() as simulated:
        config = parse_config({"station": {"id": "A"}, "paths": {"data_dir": str(tmp_path)},
                               "devices": {"printer": {"model": "escpos", "port": simulated.port}}})
        services = StationServices(config, StationDevices(config), trust=None, identity=None, outbox=None,
                                   officer=None, technician=None)
        assert services.print_slip(image, SLIP.packet_id) is True
    assert b"\x1dv0" in simulated.received
    unconfigured = parse_config({"station": {"id": "A"}, "paths": {"data_dir": str(tmp_path)}})
    assert StationServices(unconfigured, StationDevices(unconfigured), trust=None, identity=None, outbox=None,
                           officer=None, technician=None).print_slip(image, SLIP.packet_id) is False


def test_kiosk_section_is_checked():
    config = parse_config({"station": {"id": "A"}, "kiosk": {"language": "en", "high_contrast": True,
                                                              "inactivity_warning_s": 30, "inactivity_wipe_s": 45}})
    assert config.kiosk.language == "en" and config.kiosk.high_contrast and config.kiosk.inactivity_wipe_s == 45
    for table, message in [({"officer_pin": "2468"}, "never the PIN itself"), ({"language": "fr"}, "vi or en"),
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
