"""The receiver's own configuration file: typed, unknown keys refused by name, gaps filled from the development PKI."""

from __future__ import annotations

from pathlib import Path

import pytest

from crypto.pki import DevPki
from receiver.config import ReceiverConfigError, load_receiver_config, receiver_settings


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "receiver.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_means_the_development_defaults(tmp_path):
    settings = receiver_settings(load_receiver_config(None), dev_pki=lambda: DevPki(tmp_path / "dev-pki"),
                                 default_data_dir=tmp_path / "rx")
    assert settings.port == 8443 and settings.data_dir == tmp_path / "rx"
    assert settings.decryption_key == tmp_path / "dev-pki" / "registry-encryption.key"


def test_a_complete_file_does_not_touch_the_development_pki(tmp_path):
    names = ("tls_certificate", "tls_key", "station_ca", "decryption_certificate", "decryption_key",
             "receipt_certificate", "receipt_key")
    lines = "\n".join(f'{name} = "{tmp_path / name}"' for name in names)
    config = load_receiver_config(_write(tmp_path, f'[receiver]\nport = 9443\nname = "registry-40"\n{lines}\n'))

    def no_dev_pki():
        raise AssertionError("a receiver with every path set must not make a development PKI")

    settings = receiver_settings(config, dev_pki=no_dev_pki, default_data_dir=tmp_path / "rx")
    assert settings.port == 9443 and settings.name == "registry-40" and settings.station_ca == tmp_path / "station_ca"


def test_the_trust_policy_reaches_the_settings(tmp_path):
    from datetime import timedelta

    config = load_receiver_config(_write(tmp_path, '[receiver]\nstale_crl = "refuse"\nclock_skew_s = 60\n'
                                                   'expiry_grace_days = 7\nidle_timeout_s = 10\n'))
    settings = receiver_settings(config, dev_pki=lambda: DevPki(tmp_path / "dev-pki"), default_data_dir=tmp_path)
    assert settings.stale_crl == "refuse" and settings.idle_timeout_s == 10
    assert settings.timing.clock_skew == timedelta(seconds=60) and settings.timing.expiry_grace == timedelta(days=7)


@pytest.mark.parametrize(("text", "message"), [
    ("[receiver]\nprot = 8443\n", "prot"),
    ('[receiver]\nstale_crl = "ignore"\n', "stale_crl"),
    ("[receiver]\nclock_skew_s = -1\n", "clock_skew_s"),
    ('[receiver]\nexpiry_grace_days = "30"\n', "expiry_grace_days"),
    ("[receiver]\nidle_timeout_s = 0\n", "idle_timeout_s"),
    ('[receiver]\nport = "8443"\n', "port"),
    ("[receiver]\nport = 70000\n", "port"),
    ("[receiver]\nport = true\n", "port"),
    ("[receiver]\nstation_ca = 5\n", "station_ca"),
    ("[station]\nid = \"A\"\n", "unknown table"),
    ("[receiver\n", "not valid TOML"),
    ("receiver = 1\n", "must be a table"),
])
def test_mistakes_are_named(tmp_path, text, message):
    with pytest.raises(ReceiverConfigError, match=message):
        load_receiver_config(_write(tmp_path, text))


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ReceiverConfigError, match="cannot read"):
        load_receiver_config(tmp_path / "absent.toml")


def test_the_example_file_is_valid():
    example = Path(__file__).parents[2] / "docs" / "receiver.example.toml"
    assert load_receiver_config(example).name == "registry-nghe-an"
