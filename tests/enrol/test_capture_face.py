"""`enrol capture-face` on the simulated station, and the camera in `enrol diag --sim`."""

import json

import cv2
import numpy as np

from enrol.cli import main


def test_capture_face_writes_a_token_image(tmp_path, capsys):
    out = tmp_path / "token.jpg"
    assert main(["--lang", "en", "capture-face", "--sim", "--out", str(out)]) == 0
    assert cv2.imdecode(np.frombuffer(out.read_bytes(), np.uint8), cv2.IMREAD_COLOR).shape == (640, 480, 3)
    assert "480x640 token image" in capsys.readouterr().out


def test_capture_face_reports_what_kept_the_portrait_from_passing(tmp_path, capsys):
    out = tmp_path / "token.jpg"
    assert main(["--lang", "en", "capture-face", "--sim", "--scene", "two_faces", "--timeout", "1",
                 "--out", str(out)]) == 1
    assert "Only one person" in capsys.readouterr().err and not out.exists()


def test_unknown_scene_is_a_usage_error(tmp_path):
    assert main(["capture-face", "--sim", "--scene", "moon", "--out", str(tmp_path / "x.jpg")]) == 2


def test_missing_camera_is_reported_by_diag(tmp_path, capsys):
    config = tmp_path / "station.toml"
    config.write_text(f'[station]\nid = "T"\n[paths]\ndata_dir = "{tmp_path}"\n'
                      f'[devices.camera]\nmodel = "opencv"\nsource = "{tmp_path}/video9"\n')
    assert main(["--config", str(config), "diag", "--json"]) == 1
    (camera,) = [d for d in json.loads(capsys.readouterr().out)["devices"] if d["kind"] == "camera"]
    assert camera["status"] == "missing" and "video9" in camera["problem"]


def test_diag_sim_self_tests_the_camera(capsys):
    assert main(["diag", "--sim", "--json"]) == 0
    (camera,) = [d for d in json.loads(capsys.readouterr().out)["devices"] if d["kind"] == "camera"]
    assert camera["status"] == "ok" and camera["required"] and "MJPG" in camera["checks"]["format"]
