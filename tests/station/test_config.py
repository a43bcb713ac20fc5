"""The configuration file: defaults, validation that names the wrong key, lookup order."""

from pathlib import Path

import pytest

from capture.finger.positions import FingerPosition
from drivers.device import DeviceKind
from station.config import ConfigError, load_config, parse_config

EXAMPLE = Path(__file__).parents[2] / "docs" / "station.example.toml"


def test_no_file_means_the_simulated_station(monkeypatch, tmp_path):
    monkeypatch.delenv("ENROL_CONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setattr("station.config.SYSTEM_CONFIG", tmp_path / "absent.toml")
    config = load_config()
    assert config.simulated and config.source is None
    assert config.data_dir == tmp_path / "data" / "enrolment-station"


def test_example_file_parses():
    config = load_config(EXAMPLE)
    assert config.station_id == "NA-HUNGDUNG-01" and not config.simulated
    scanner = config.devices[DeviceKind.FINGERPRINT]
    assert scanner.model == "r30x" and scanner.required
    assert scanner.settings["address"] == 0xFFFFFFFF and scanner.settings["max_baudrate"] == 115200


def test_environment_variable_is_used(monkeypatch, tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[station]\nid = "X1"\n')
    monkeypatch.setenv("ENROL_CONFIG", str(path))
    assert load_config().station_id == "X1"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({}, "id must be set"),
        ({"station": {"id": "A", "colour": "red"}}, "unknown key(s) colour"),
        ({"station": {"id": "A"}, "devices": {"toaster": {"model": "x"}}}, "unknown device kind [devices.toaster]"),
        ({"station": {"id": "A"}, "devices": {"fingerprint": {"port": "/dev/x"}}}, "needs a model"),
        ({"station": {"id": "A"}, "logging": {"level": "LOUD"}}, "level must be"),
        ({"station": {"id": "A"}, "paths": "nowhere"}, "[paths] must be a table"),
        # strings are not booleans: bool("false") is True, and made a production station simulated
        ({"station": {"id": "A", "simulated": "false"}}, "[station]: simulated must be true or false"),
        ({"station": {"id": "A", "simulated": 0}}, "simulated must be true or false"),
        ({"station": {"id": "A"}, "logging": {"traffic": "no"}}, "[logging]: traffic must be true or false"),
        ({"station": {"id": "A"}, "devices": {"fingerprint": {"model": "r30x", "required": "no"}}},
         "[devices.fingerprint]: required must be true or false"),
    ],
)
def test_mistakes_are_named(document, message):
    with pytest.raises(ConfigError, match=None) as caught:
        parse_config(document)
    assert message in str(caught.value)


def test_broken_toml_is_a_config_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[station\nid=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_missing_explicit_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_capture_policies_are_read():
    config = parse_config({
        "station": {"id": "A"},
        "capture": {
            "fingers": {"order": [2, 3, 1], "threshold": 50, "thresholds": {"3": 35}, "max_attempts": 4},
            "face": {"min_eye_distance": 100.0},
        },
    })
    fingers = config.fingers
    assert [int(p) for p in fingers.order] == [2, 3, 1] and fingers.max_attempts == 4
    assert fingers.threshold_for(FingerPosition(3)) == 35 and fingers.threshold_for(FingerPosition(2)) == 50
    assert config.face.min_eye_distance == 100.0


@pytest.mark.parametrize(
    ("capture", "message"),
    [
        ({"fingers": {"order": [1, 11]}}, "19794-4 codes"),
        ({"fingers": {"order": [1, 1]}}, "names a finger twice"),
        ({"fingers": {"threshold": 150}}, "0-100"),
        ({"fingers": {"max_attempts": 0}}, "at least 1"),
        ({"fingers": {"speed": 1}}, "unknown key(s) speed"),
        ({"face": {"tilt": 3}}, "unknown face policy key(s) tilt"),
        ({"iris": {}}, "unknown key(s) iris"),
    ],
)
def test_capture_policy_mistakes_are_named(capture, message):
    with pytest.raises(ConfigError) as caught:
        parse_config({"station": {"id": "A"}, "capture": capture})
    assert message in str(caught.value)


def test_what_happens_next_is_read_in_both_languages():
    config = parse_config({"station": {"id": "A"}, "kiosk": {
        "collection_vi": "Nhận thẻ tại Công an phường\n   Hưng Dũng sau 7 ngày làm việc.",
        "collection_en": "Collect your card at Hưng Dũng ward police after 7 working days."}})
    assert config.kiosk.collection_vi == "Nhận thẻ tại Công an phường Hưng Dũng sau 7 ngày làm việc."
    assert config.kiosk.collection_en.startswith("Collect your card")
    assert parse_config({"station": {"id": "A"}}).kiosk.collection_vi == ""  # the built-in text, translated


@pytest.mark.parametrize(("kiosk", "message"), [
    ({"collection_vi": 7}, "collection_vi must be a string"),
    ({"collection_en": "x" * 301}, "collection_en has 301 characters; the receipt has room for 300"),
    ({"collection": "Nhận thẻ sau 7 ngày"}, "unknown key(s) collection; allowed: "),
    ({"colection_vi": "Nhận thẻ"}, "unknown key(s) colection_vi"),
])
def test_what_happens_next_mistakes_are_named(kiosk, message):
    with pytest.raises(ConfigError) as caught:
        parse_config({"station": {"id": "A"}, "kiosk": kiosk})
    assert message in str(caught.value) and "[kiosk]" in str(caught.value)
