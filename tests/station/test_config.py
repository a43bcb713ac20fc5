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
        ({}, "[station] id: must be set"),
        ({"station": {"id": "A", "colour": "red"}}, "[station] colour: unknown key"),
        ({"station": {"id": "A"}, "devices": {"toaster": {"model": "x"}}}, "[devices.toaster]: unknown kind of device"),
        ({"station": {"id": "A"}, "devices": {"fingerprint": {"port": "/dev/x"}}},
         "[devices.fingerprint] model: must be set"),
        ({"station": {"id": "A"}, "logging": {"level": "LOUD"}},
         "[logging] level: should be 'DEBUG', 'INFO', 'WARNING' or 'ERROR', not 'LOUD'"),
        ({"station": {"id": "A"}, "paths": "nowhere"}, "[paths]: must be a table"),
        # strings are not booleans: bool("false") is True, and made a production station simulated
        ({"station": {"id": "A", "simulated": "false"}},
         "[station] simulated: must be true or false (without quotes), not 'false'"),
        ({"station": {"id": "A", "simulated": 0}}, "[station] simulated: must be true or false"),
        ({"station": {"id": "A"}, "logging": {"traffic": "no"}}, "[logging] traffic: must be true or false"),
        ({"station": {"id": "A"}, "devices": {"fingerprint": {"model": "r30x", "required": "no", "port": "/dev/x"}}},
         "[devices.fingerprint] required: must be true or false"),
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
            "face": {"min_eye_distance": 100, "head_size": [0.3, 0.5], "consecutive_frames": 3,
                     "use_68_points": True},
        },
    })
    fingers = config.fingers
    assert [int(p) for p in fingers.order] == [2, 3, 1] and fingers.max_attempts == 4
    assert fingers.threshold_for(FingerPosition(3)) == 35 and fingers.threshold_for(FingerPosition(2)) == 50
    assert config.face.min_eye_distance == 100.0 and config.face.head_size == (0.3, 0.5)
    assert config.face.consecutive_frames == 3 and config.face.use_68_points is True


@pytest.mark.parametrize(
    ("capture", "message"),
    [
        ({"fingers": {"order": [1, 11]}}, "19794-4 codes"),
        ({"fingers": {"order": [1, 1]}}, "names a finger twice"),
        ({"fingers": {"threshold": 150}}, "[capture.fingers] threshold: should be less than or equal to 100, not 150"),
        ({"fingers": {"max_attempts": 0}}, "[capture.fingers] max_attempts: should be greater than or equal to 1"),
        ({"fingers": {"speed": 1}}, "[capture.fingers] speed: unknown key"),
        ({"face": {"tilt": 3}}, "[capture.face] tilt: unknown key; allowed: min_eye_distance,"),
        ({"face": {"use_68_points": "no"}}, "[capture.face] use_68_points: must be true or false (without quotes)"),
        ({"face": {"consecutive_frames": 2.7}}, "[capture.face] consecutive_frames: must be a whole number"),
        ({"face": {"consecutive_frames": 0}}, "[capture.face] consecutive_frames: should be greater than or equal"),
        ({"face": {"max_yaw": "5"}}, "[capture.face] max_yaw: must be a number (without quotes)"),
        ({"face": {"max_yaw": -5}}, "[capture.face] max_yaw: should be greater than or equal to 0"),
        ({"face": {"head_size": [0.5]}}, "[capture.face] head_size:"),
        ({"face": {"head_size": [0.5, 0.3]}}, "[capture.face]: head_size: [low, high] with low first"),
        ({"face": []}, "[capture.face]: must be a table"),
        ({"iris": {}}, "[capture.iris]: unknown section"),
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
    ({"collection_vi": 7}, "[kiosk] collection_vi: must be a string in quotes, not 7"),
    ({"collection_en": "x" * 301}, "[kiosk] collection_en: has 301 characters; the receipt has room for 300"),
    ({"collection": "Nhận thẻ sau 7 ngày"}, "[kiosk] collection: unknown key; allowed: language, "),
    ({"colection_vi": "Nhận thẻ"}, "[kiosk] colection_vi: unknown key"),
])
def test_what_happens_next_mistakes_are_named(kiosk, message):
    with pytest.raises(ConfigError) as caught:
        parse_config({"station": {"id": "A"}, "kiosk": kiosk})
    assert message in str(caught.value) and "[kiosk]" in str(caught.value)


R30X = {"model": "r30x", "port": "/dev/ttyUSB0"}


@pytest.mark.parametrize(("settings", "message"), [
    ({"baudrate": 0}, "baudrate: must be 9600 × N for N = 1..12"),
    ({"baudrate": -1}, "not -1"),
    ({"baudrate": "57600"}, "baudrate: must be a whole number (without quotes), not '57600'"),
    ({"baudrate": 99999999999}, "not 99999999999"),
    ({"baudrate": 57601}, "not 57601"),
    ({"max_baudrate": True}, "max_baudrate: must be a whole number"),
    ({"address": -5}, "address: should be greater than or equal to 0, not -5"),
    ({"address": 0x1_0000_0000}, "address: should be less than or equal to 4294967295"),
    ({"password": "secret"}, "password: must be a whole number (without quotes), not 'secret'"),
    ({"timeout": 0}, "timeout: should be greater than 0"),
    ({"packet_size": 7}, "packet_size: unknown key"),
    ({"port": ""}, "port: should have at least 1 character"),
])
def test_device_settings_are_checked_at_load(settings, message):
    """Before: any value reached the driver, which failed at the first citizen (or opened the port
    at 0 baud, or sent a password of the wrong width)."""
    with pytest.raises(ConfigError) as caught:
        parse_config({"station": {"id": "A"}, "devices": {"fingerprint": {**R30X, **settings}}})
    assert message in str(caught.value) and "[devices.fingerprint]" in str(caught.value)


@pytest.mark.parametrize(("section", "message"), [
    ({"camera": {"model": "opencv", "source": True}}, "[devices.camera] source: must be a V4L2 index"),
    ({"camera": {"model": "opencv", "source": 0, "fps": -30}}, "[devices.camera] fps: should be greater than 0"),
    ({"card_reader": {"model": "ccid", "vendor_id": 0x10000}}, "[devices.card_reader] vendor_id: should be less"),
    ({"card_reader": {"model": "pcsc", "extended": "yes"}}, "[devices.card_reader] extended: must be true or false"),
    ({"printer": {"model": "escpos", "port": "/dev/ttyS0", "baudrate": 1200}}, "[devices.printer] baudrate: must be"),
    ({"printer": {"model": "escpos"}}, "[devices.printer]: an ESC/POS printer is either on a serial port"),
    ({"printer": {"model": "thermal"}}, "[devices.printer]: unknown printer model 'thermal'; known: escpos"),
])
def test_every_kind_of_device_is_checked_at_load(section, message):
    with pytest.raises(ConfigError) as caught:
        parse_config({"station": {"id": "A"}, "devices": section})
    assert message in str(caught.value)


def test_good_device_settings_are_kept_as_written():
    config = parse_config({"station": {"id": "A"}, "devices": {
        "fingerprint": {**R30X, "baudrate": 115200, "address": 0xFFFFFFFF, "password": 0, "timeout": 2},
        "printer": {"model": "escpos", "vendor_id": 0x0416, "product_id": 0x5011, "required": False}}})
    assert config.devices[DeviceKind.FINGERPRINT].settings == {"port": "/dev/ttyUSB0", "baudrate": 115200,
                                                               "address": 0xFFFFFFFF, "password": 0, "timeout": 2}
    assert not config.devices[DeviceKind.PRINTER].required


@pytest.mark.parametrize(("kiosk", "message"), [
    ({"inactivity_warning_s": 0}, "[kiosk] inactivity_warning_s: should be greater than or equal to 5"),
    ({"inactivity_warning_s": 60, "inactivity_wipe_s": 30}, "inactivity_wipe_s must be longer than"),
    ({"language": "fr"}, "[kiosk] language: should be 'vi' or 'en', not 'fr'"),
    ({"pin_lockout_s": -1}, "[kiosk] pin_lockout_s: should be greater than or equal to 1"),
    ({"high_contrast": "true"}, "[kiosk] high_contrast: must be true or false"),
    ({"trust_store": 5}, "[kiosk] trust_store: must be a path in quotes, not 5"),
])
def test_kiosk_values_have_ranges(kiosk, message):
    with pytest.raises(ConfigError) as caught:
        parse_config({"station": {"id": "A"}, "kiosk": kiosk})
    assert message in str(caught.value)


@pytest.mark.parametrize(("outbox", "message"), [
    ({"receiver_url": "registry.example"}, "[outbox] receiver_url: must be the receiver's address"),
    ({"receiver_url": "https://registry.example:99999"}, "[outbox] receiver_url: "),
    ({"retention_days": -1}, "[outbox] retention_days: should be greater than or equal to 0"),
    ({"max_backoff_s": 0}, "[outbox] max_backoff_s: should be greater than or equal to 1"),
])
def test_outbox_values_have_ranges(outbox, message):
    with pytest.raises(ConfigError) as caught:
        parse_config({"station": {"id": "A"}, "outbox": outbox})
    assert message in str(caught.value)


def _pin_hash_with(**parts: str) -> str:
    fields = {"n": "16384", "r": "8", "p": "1", "salt": "ab" * 16, "digest": "cd" * 32, **parts}
    return "scrypt${n}${r}${p}${salt}${digest}".format(**fields)


@pytest.mark.parametrize(("stored", "message"), [
    ("scrypt$16384$8$1$...", "scrypt$n$r$p$salt$hash"),  # the documentation's placeholder
    (_pin_hash_with(salt="..."), "hexadecimal"),
    ("1234", "never the PIN itself"),
    (_pin_hash_with(n="1024"), "scrypt n must be a power of two from 16384"),
    (_pin_hash_with(n="20000"), "power of two"),
    (_pin_hash_with(n="1073741824"), "power of two from 16384 to 1048576"),
    (_pin_hash_with(r="1"), "scrypt r must be 8-64"),
    (_pin_hash_with(p="x"), "whole numbers"),
    (_pin_hash_with(salt="ab"), "salt of at least 16 bytes"),
    (_pin_hash_with(digest="cd" * 8), "hash of at least 32"),
    ("bcrypt$16384$8$1$" + "ab" * 16 + "$" + "cd" * 32, "scrypt$n$r$p$salt$hash"),
])
def test_pin_hashes_are_parsed_in_full_at_load(stored, message):
    """Before: anything starting with scrypt$ passed, and locked the officer out at the first PIN."""
    with pytest.raises(ConfigError) as caught:
        parse_config({"station": {"id": "A"}, "kiosk": {"officer_pin": stored}})
    assert "[kiosk] officer_pin: " in str(caught.value) and message in str(caught.value)


def test_a_real_pin_hash_is_accepted():
    from station.pin import hash_pin, verify_pin

    stored = hash_pin("2468")
    config = parse_config({"station": {"id": "A"}, "kiosk": {"officer_pin": stored}})
    assert verify_pin("2468", config.kiosk.officer_pin) and not verify_pin("1357", config.kiosk.officer_pin)


def test_every_problem_of_a_file_is_reported_together():
    with pytest.raises(ConfigError) as caught:
        parse_config({"station": {"id": "A", "simulated": "false"}, "logging": {"level": "LOUD"},
                      "devices": {"fingerprint": {**R30X, "baudrate": 0, "address": -5}},
                      "kiosk": {"officer_pin": "scrypt$16384$8$1$..."}, "outbox": {"min_free_mb": -1},
                      "colour": {}})
    problems = caught.value.problems
    assert len(problems) == 7 and str(caught.value).startswith("7 problems:")
    for where in ("[station] simulated", "[logging] level", "[devices.fingerprint] baudrate",
                  "[devices.fingerprint] address", "[kiosk] officer_pin", "[outbox] min_free_mb", "[colour]"):
        assert sum(problem.startswith(where) for problem in problems) == 1, where


@pytest.mark.parametrize(("content", "message"), [
    (b"\xff\xfe[\x00s\x00", "not a text file in UTF-8"),
    ("[station]\nid = \"Tr\u01b0\u1eddng\"\n".encode("cp1258", errors="replace") + b"\xd2", "UTF-8"),
    (bytes(range(256)), "UTF-8"),
])
def test_a_file_that_is_not_utf8_text_is_a_config_error(tmp_path, content, message):
    path = tmp_path / "station.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_a_folder_given_as_the_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path)


def test_the_example_shows_every_key():
    """docs/station.example.toml is the technician's reference: every key of every section and of every
    device model's settings is in it (commented out where it is optional)."""
    import dataclasses
    import re

    from drivers.settings import DeviceModel
    from station import config as station_config

    text = EXAMPLE.read_text(encoding="utf-8")
    classes = [station_config.KeysConfig, station_config.OutboxConfig, station_config.KioskConfig,
               station_config._StationTable, station_config._PathsTable, station_config._LoggingTable,
               station_config._DeviceTable, station_config._FingersTable]
    classes += [entry.settings for registry, _ in station_config._DEVICE_MODELS.values()
                for entry in registry.values() if isinstance(entry, DeviceModel)]
    missing = [f"{kind.__name__}.{field.name}" for kind in classes for field in dataclasses.fields(kind)
               if not re.search(rf"(^|: )(# )*{field.name} = |\.{field.name}\]", text, re.MULTILINE)]
    assert not missing
    for section in ("[station]", "[paths]", "[logging]", "[devices.fingerprint]", "[devices.camera]",
                    "[devices.card_reader]", "[devices.printer]", "[keys]", "[outbox]", "[capture.fingers]",
                    "[capture.face]", "[kiosk]"):
        assert section in text, section
