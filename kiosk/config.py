"""The station's one configuration file (TOML), read once at start-up.

With no file the station is the *simulated* station: simulated devices at the other end of real
wires, and data under the user's data directory, so that the first run just works.  The file is
looked up in this order: ``--config FILE``, ``$ENROL_CONFIG``, ``/etc/enrolment-station/station.toml``,
``~/.config/enrolment-station/station.toml``.  ``docs/station.example.toml`` documents every key.

Device sections are generic (``model`` + ``required`` + the model's own settings), in the manner of
python-can's backends chosen by name: each driver validates its own settings, so adding a model
never changes this module.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.device import DeviceKind

SYSTEM_CONFIG = Path("/etc/enrolment-station/station.toml")
USER_CONFIG = Path("~/.config/enrolment-station/station.toml")


class ConfigError(Exception):
    """The configuration file is unreadable or says something impossible; the message names the key."""


@dataclass(frozen=True)
class DeviceConfig:
    """One configured device: which driver (``model``) and that driver's settings."""

    kind: DeviceKind
    model: str
    required: bool = True
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StationConfig:
    """Everything the station reads from its configuration file."""

    station_id: str
    simulated: bool
    data_dir: Path
    log_dir: Path
    log_level: str = "INFO"
    log_traffic: bool = True
    devices: dict[DeviceKind, DeviceConfig] = field(default_factory=dict)
    source: Path | None = None
    """The file this was read from; ``None`` for the built-in simulated station."""


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/enrolment-station`` (``~/.local/share/...`` by default)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "enrolment-station"


def simulated_station() -> StationConfig:
    """The configuration used when no file exists: the simulated station.

    Device sections are left empty on purpose: the simulators choose their transport addresses
    (pty paths, a pyusb backend) when they start, and fill them in (``hardware_sim.station``).
    """
    data_dir = default_data_dir()
    return StationConfig(station_id="SIM-0001", simulated=True, data_dir=data_dir, log_dir=data_dir / "logs")


def find_config_file(explicit: Path | None = None) -> Path | None:
    """The configuration file to read, or ``None`` when there is none (simulated station)."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"configuration file {explicit} does not exist")
        return explicit
    env = os.environ.get("ENROL_CONFIG")
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise ConfigError(f"ENROL_CONFIG points to {path}, which does not exist")
        return path
    for candidate in (SYSTEM_CONFIG, USER_CONFIG.expanduser()):
        if candidate.is_file():
            return candidate
    return None


def load_config(explicit: Path | None = None) -> StationConfig:
    """Read the configuration (see the module docstring for where it is looked for)."""
    path = find_config_file(explicit)
    if path is None:
        return simulated_station()
    try:
        with path.open("rb") as stream:
            document = tomllib.load(stream)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from error
    return parse_config(document, source=path)


def parse_config(document: dict[str, Any], *, source: Path | None = None) -> StationConfig:
    """Build a :class:`StationConfig` from a parsed TOML document, rejecting unknown keys."""
    where = str(source or "configuration")
    station = _table(document, "station", where)
    paths = _table(document, "paths", where)
    logging_ = _table(document, "logging", where)
    _reject_unknown(document, {"station", "paths", "logging", "devices"}, where)
    _reject_unknown(station, {"id", "simulated"}, f"{where} [station]")
    _reject_unknown(paths, {"data_dir", "log_dir"}, f"{where} [paths]")
    _reject_unknown(logging_, {"level", "traffic"}, f"{where} [logging]")

    station_id = station.get("id")
    if not isinstance(station_id, str) or not station_id:
        raise ConfigError(f"{where}: [station] id must be set to this station's identifier")
    data_dir = Path(paths.get("data_dir", default_data_dir())).expanduser()
    log_level = str(logging_.get("level", "INFO")).upper()
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError(f"{where}: [logging] level must be DEBUG, INFO, WARNING or ERROR, not {log_level}")

    devices: dict[DeviceKind, DeviceConfig] = {}
    for kind_name, section in _table(document, "devices", where).items():
        try:
            kind = DeviceKind(kind_name)
        except ValueError:
            known = ", ".join(kind.value for kind in DeviceKind)
            raise ConfigError(f"{where}: unknown device kind [devices.{kind_name}]; known: {known}") from None
        if not isinstance(section, dict) or not isinstance(section.get("model"), str):
            raise ConfigError(f"{where}: [devices.{kind_name}] needs a model = \"...\" line")
        settings = {key: value for key, value in section.items() if key not in {"model", "required"}}
        devices[kind] = DeviceConfig(kind, section["model"], bool(section.get("required", True)), settings)

    return StationConfig(
        station_id=station_id,
        simulated=bool(station.get("simulated", False)),
        data_dir=data_dir,
        log_dir=Path(paths.get("log_dir", data_dir / "logs")).expanduser(),
        log_level=log_level,
        log_traffic=bool(logging_.get("traffic", True)),
        devices=devices,
        source=source,
    )


def _table(document: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = document.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{key}] must be a table")
    return value


def _reject_unknown(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
