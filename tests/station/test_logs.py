"""Logging: traffic reaches the rotating file only, and a read-only log directory is survivable."""

import logging

from station.config import StationConfig
from station.logs import setup_logging


def _config(tmp_path, **overrides):
    values = {"station_id": "T", "simulated": True, "data_dir": tmp_path, "log_dir": tmp_path / "logs"}
    values.update(overrides)
    return StationConfig(**values)


def test_traffic_goes_to_the_file_not_the_console(tmp_path, capsys):
    log_file = setup_logging(_config(tmp_path, log_level="DEBUG"))
    logging.getLogger("drivers.fingerprint.r30x.traffic").debug("tx ef01ffffffff")
    logging.getLogger("drivers.fingerprint.r30x").info("switched to 115200 baud")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = log_file.read_text()
    assert "tx ef01ffffffff" in text and "switched to 115200 baud" in text
    console = capsys.readouterr().err
    assert "switched to 115200 baud" in console and "tx ef01" not in console


def test_traffic_can_be_switched_off(tmp_path):
    log_file = setup_logging(_config(tmp_path, log_traffic=False))
    logging.getLogger("drivers.fingerprint.nb1010.traffic").debug("bulk in 540 bytes")
    logging.getLogger("drivers.fingerprint.nb1010").warning("short read")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = log_file.read_text()
    assert "short read" in text and "bulk in" not in text


def test_unwritable_log_directory_falls_back_to_the_console(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert setup_logging(_config(tmp_path, log_dir=blocker / "logs")) is None


def test_setting_up_twice_does_not_duplicate_handlers(tmp_path):
    setup_logging(_config(tmp_path))
    count = len(logging.getLogger().handlers)
    setup_logging(_config(tmp_path))
    assert len(logging.getLogger().handlers) == count


def test_the_console_follows_a_replaced_stderr(tmp_path, monkeypatch):
    """The console writes to the current ``sys.stderr``: after the stream it was made with is closed
    (a test's capture ending, a terminal gone), a record is neither lost nor a "--- Logging error ---"."""
    import io
    import sys

    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    setup_logging(_config(tmp_path))
    first.close()
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    logging.getLogger("station.test").warning("still shown")
    assert "still shown" in second.getvalue() and "Logging error" not in second.getvalue()
