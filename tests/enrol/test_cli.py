"""The `enrol` command line: diag on the simulated station, failing devices, replay of a recording."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from enrol.cli import main

RECORDING = Path(__file__).parents[1] / "data" / "usb" / "nb1010"


def _config(tmp_path: Path, fingerprint: str) -> Path:
    path = tmp_path / "station.toml"
    path.write_text(f'[station]\nid = "TEST-01"\n[paths]\ndata_dir = "{tmp_path}"\n{fingerprint}')
    return path


def test_diag_on_the_simulated_station_as_json(capsys):
    assert main(["diag", "--sim", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["simulated"]
    by_driver = {device["driver"]: device for device in report["devices"]}
    assert by_driver["r30x"]["status"] == "ok" and by_driver["r30x"]["required"]
    assert by_driver["nb1010"]["status"] == "ok" and by_driver["nb1010"]["info"]["vendor_id"] == "298d"
    assert "handshake" in by_driver["r30x"]["checks"]


def test_diag_table_in_english(capsys):
    assert main(["--lang", "en", "diag", "--sim"]) == 0
    out = capsys.readouterr().out
    assert "SIMULATED" in out and "NB-1010-U" in out and "All required devices work." in out


def test_missing_required_scanner_fails_with_a_hint(tmp_path, capsys):
    config = _config(tmp_path, f'[devices.fingerprint]\nmodel = "r30x"\nport = "{tmp_path}/ttyUSB9"\n')
    assert main(["--lang", "en", "--config", str(config), "diag", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    (scanner,) = [d for d in report["devices"] if d["configured"]]
    assert not report["ok"] and scanner["status"] == "missing"
    assert "ttyUSB9" in scanner["problem"] and scanner["hint"]


def test_missing_optional_scanner_does_not_fail(tmp_path, capsys):
    config = _config(
        tmp_path, f'[devices.fingerprint]\nmodel = "r30x"\nrequired = false\nport = "{tmp_path}/ttyUSB9"\n'
    )
    assert main(["--config", str(config), "diag", "--json"]) == 0


def test_unknown_scanner_setting_is_a_configuration_error(tmp_path, capsys):
    config = _config(tmp_path, '[devices.fingerprint]\nmodel = "r30x"\nport = "/dev/null"\nspeed = 9\n')
    assert main(["--lang", "en", "--config", str(config), "diag"]) == 2
    assert "[devices.fingerprint] speed: unknown key" in capsys.readouterr().err  # at load, before any device


def test_capture_finger_replays_the_recording_exactly(tmp_path):
    out = tmp_path / "finger.png"
    assert main(["capture-finger", "--replay", str(RECORDING), "--out", str(out)]) == 0
    expected = cv2.imread(str(RECORDING / "capture.png"), cv2.IMREAD_GRAYSCALE)
    assert np.array_equal(cv2.imread(str(out), cv2.IMREAD_GRAYSCALE), expected)


def test_capture_finger_fails_loudly_on_a_recording_the_driver_does_not_match(tmp_path, capsys):
    recording = tmp_path / "recording"
    recording.mkdir()
    (recording / "device").write_text((RECORDING / "device").read_text())
    # Change the recorded check-finger command: the driver's real bytes no longer match it.
    ioctl = (RECORDING / "capture.ioctl").read_text().replace("8038010008000000", "8038020008000000", 1)
    (recording / "capture.ioctl").write_text(ioctl)
    assert main(["--lang", "en", "capture-finger", "--replay", str(recording), "--out", str(tmp_path / "x.png")]) == 1
    assert "differs from the recording" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_enrol_console_script_runs_the_simulated_station(tmp_path):
    enrol = Path(sys.executable).with_name("enrol")
    result = subprocess.run(
        [str(enrol), "capture-finger", "--sim", "--out", str(tmp_path / "sim.png")],
        capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert cv2.imread(str(tmp_path / "sim.png"), cv2.IMREAD_GRAYSCALE).shape == (288, 256)


def test_the_receiver_reads_its_own_file_and_names_a_wrong_key(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    bad = tmp_path / "receiver.toml"
    bad.write_text("[receiver]\nprot = 8443\n", encoding="utf-8")
    stick = tmp_path / "stick"
    stick.mkdir()
    assert main(["--lang", "en", "receiver", "--receiver-config", str(bad), "import", str(stick)]) == 2
    assert "prot" in capsys.readouterr().err
    assert main(["--lang", "en", "receiver", "import", str(stick)]) == 2  # no file: the development PKI
    assert "No packets (*.p7m) in" in capsys.readouterr().err  # an empty stick is not a success
