"""Every ``enrol`` test runs as on a machine without a station configuration, with its data in the test's folder."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No station configuration or locale of this machine leaks in; data and logs go to the test's folder."""
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("ENROL_CONFIG", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr("station.config.SYSTEM_CONFIG", tmp_path / "absent.toml")
    monkeypatch.setattr("station.config.USER_CONFIG", tmp_path / "absent-user.toml")
