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

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capture.face.checks import FacePolicy
from capture.finger.positions import FingerPosition
from capture.finger.tenprint import TenPrintPolicy
from drivers.device import DeviceKind

SYSTEM_CONFIG = Path("/etc/enrolment-station/station.toml")
COLLECTION_MAX_CHARS = 300
"""The longest ``[kiosk] collection_*`` text: what fits beside the receipt's number and on a slip."""
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
class KeysConfig:
    """``[keys]``: the station's signing key and the certificates it trusts.  All empty: the development
    PKI on the simulated station; refused on a real one (``station.identity.load_identity``).

    The key is either a file (encrypted PKCS#8; passphrase from ``passphrase_file`` or the systemd
    credential ``passphrase_credential``, never from this file) or a PKCS#11 token
    (``pkcs11_module`` + ``pkcs11_token`` + ``pkcs11_label``, PIN from ``pin_file``/``pin_credential``).
    """

    key_file: Path | None = None
    certificate: Path | None = None
    passphrase_file: Path | None = None
    passphrase_credential: str | None = None
    pkcs11_module: str | None = None
    pkcs11_token: str | None = None
    pkcs11_label: str = "station"
    pin_file: Path | None = None
    pin_credential: str | None = None
    station_ca: Path | None = None
    """The CA that issues station certificates: ``keys install`` checks against it; sent along in packets."""
    registry_certificate: Path | None = None
    """The registry's encryption certificate: every packet is sealed for it."""
    receipt_certificate: Path | None = None
    """The receiver's receipt-signing certificate (pinned): only receipts it signs acknowledge packets."""
    tls_ca: Path | None = None
    """The CA of the receiver's TLS server certificate."""
    tls_certificate: Path | None = None
    tls_key_file: Path | None = None
    """A separate TLS client identity for the upload (encrypted PKCS#8, same passphrase source as
    ``key_file``).  Needed when the signing key is on a PKCS#11 token, which Python's TLS stack cannot
    use; the packets stay signed by the token's key, so a stolen transport key cannot forge them."""
    province: str = ""
    district: str = ""

    @property
    def configured(self) -> bool:
        """False when nothing is set: the station then uses the development PKI under its data directory."""
        return self.key_file is not None or self.pkcs11_module is not None


@dataclass(frozen=True)
class OutboxConfig:
    """``[outbox]``: where packets go and how long acknowledged ones are kept."""

    receiver_url: str = "https://127.0.0.1:8443"
    retention_days: float = 30.0
    """Acknowledged packets are purged after this many days (the receipt stays in the index)."""
    min_free_mb: float = 200.0
    """A new enrolment is refused while less than this is free on the data directory's file system."""
    max_backoff_s: float = 900.0
    """Upper bound of the retry delay while the receiver cannot be reached."""


@dataclass(frozen=True)
class KioskConfig:
    """``[kiosk]``: the touchscreen: language, privacy timers, PINs, the CSCA trust store, the receipt.

    PINs are never written here, only their scrypt hashes (``station.pin.hash_pin``).  Empty PIN
    hashes are allowed only on the simulated station, which then uses its documented development
    PINs (``station.bringup.DEVELOPMENT_PINS``).
    """

    language: str = "vi"
    high_contrast: bool = False
    inactivity_warning_s: float = 60.0
    """Idle seconds before the citizen is asked whether they are still there."""
    inactivity_wipe_s: float = 90.0
    """Idle seconds before the session is wiped and the kiosk returns to the welcome screen."""
    officer_pin: str = ""
    technician_pin: str = ""
    pin_lockout_s: float = 60.0
    """Lockout after five wrong PINs in a row (doubling with each further lockout)."""
    trust_store: Path | None = None
    """Folder of CSCA certificates and ICAO master lists the chips' signatures are checked against."""
    card_timeout_s: float = 60.0
    """How long the identify screen waits for a card to be put on the reader."""
    operator_id: str = ""
    """The officer on duty, written into each record."""
    collection_vi: str = ""
    """What happens next, on the receipt (screen and slip): when and where the card can be collected,
    in Vietnamese.  Empty: the built-in text (``kiosk.slip.COLLECTION``), translated."""
    collection_en: str = ""
    """The same in English.  When only one language is set, the receipt shows it in both."""


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
    keys: KeysConfig = field(default_factory=KeysConfig)
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    kiosk: KioskConfig = field(default_factory=KioskConfig)
    fingers: TenPrintPolicy = field(default_factory=TenPrintPolicy)
    """``[capture.fingers]``: order, quality thresholds (per position too), attempts, timeouts."""
    face: FacePolicy = field(default_factory=FacePolicy)
    """``[capture.face]``: the portrait checks' thresholds (keys of ``capture.face.checks.FacePolicy``)."""


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/enrolment-station`` (``~/.local/share/...`` by default)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "enrolment-station"


def simulated_station() -> StationConfig:
    """The configuration used when no file exists: the simulated station.

    Device sections are left empty on purpose: the simulators choose their transport addresses
    (pty paths, a pyusb backend) when they start, and fill them in (``hardware_sim.simulated_station``).
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
    sections = {"station", "paths", "logging", "devices", "capture", "keys", "outbox", "kiosk"}
    _reject_unknown(document, sections, where)
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
        required = _boolean(section, "required", True, f"{where} [devices.{kind_name}]")
        devices[kind] = DeviceConfig(kind, section["model"], required, settings)

    return StationConfig(
        station_id=station_id,
        simulated=_boolean(station, "simulated", False, f"{where} [station]"),
        data_dir=data_dir,
        log_dir=Path(paths.get("log_dir", data_dir / "logs")).expanduser(),
        log_level=log_level,
        log_traffic=_boolean(logging_, "traffic", True, f"{where} [logging]"),
        devices=devices,
        source=source,
        keys=_section(KeysConfig, _table(document, "keys", where), f"{where} [keys]"),
        outbox=_section(OutboxConfig, _table(document, "outbox", where), f"{where} [outbox]"),
        kiosk=_kiosk_section(_table(document, "kiosk", where), f"{where} [kiosk]"),
        **_capture_sections(_table(document, "capture", where), f"{where} [capture"),
    )


def _capture_sections(table: dict[str, Any], where: str) -> dict[str, Any]:
    """``[capture.fingers]`` and ``[capture.face]``: the capture policies."""
    _reject_unknown(table, {"fingers", "face"}, f"{where}]")
    sections: dict[str, Any] = {}
    if "face" in table:
        try:
            sections["face"] = FacePolicy.from_mapping(_table(table, "face", where))
        except (TypeError, ValueError) as error:
            raise ConfigError(f"{where}.face]: {error}") from None
    if "fingers" in table:
        sections["fingers"] = _fingers_section(_table(table, "fingers", where), f"{where}.fingers]")
    return sections


def _fingers_section(table: dict[str, Any], where: str) -> TenPrintPolicy:
    allowed = {"order", "threshold", "thresholds", "max_attempts", "finger_timeout_s", "lift_timeout_s",
               "sequence_threshold"}
    _reject_unknown(table, allowed, where)
    values: dict[str, Any] = {}
    try:
        if "order" in table:
            values["order"] = tuple(FingerPosition(int(code)) for code in table["order"])
            if len(set(values["order"])) != len(values["order"]):
                raise ValueError("order names a finger twice")
        if "thresholds" in table:
            values["thresholds"] = {FingerPosition(int(code)): _score(v) for code, v in table["thresholds"].items()}
        if "threshold" in table:
            values["threshold"] = _score(table["threshold"])
        if "max_attempts" in table:
            values["max_attempts"] = int(table["max_attempts"])
            if values["max_attempts"] < 1:
                raise ValueError("max_attempts must be at least 1")
        for key in ("finger_timeout_s", "lift_timeout_s", "sequence_threshold"):
            if key in table:
                values[key] = float(table[key])
    except (TypeError, ValueError, AttributeError) as error:
        raise ConfigError(f"{where}: {error} (finger positions are ISO/IEC 19794-4 codes 1-10)") from None
    return TenPrintPolicy(**values)


def _score(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise ValueError(f"a quality threshold is a whole number 0-100, not {value!r}")
    return value


def _kiosk_section(table: dict[str, Any], where: str) -> KioskConfig:
    kiosk = _section(KioskConfig, table, where)
    if kiosk.language not in ("vi", "en"):
        raise ConfigError(f"{where}: language must be vi or en, not {kiosk.language}")
    if kiosk.inactivity_wipe_s <= kiosk.inactivity_warning_s:
        raise ConfigError(f"{where}: inactivity_wipe_s must be longer than inactivity_warning_s")
    for name in ("officer_pin", "technician_pin"):
        value = getattr(kiosk, name)
        if value and not value.startswith("scrypt$"):
            raise ConfigError(f"{where}: {name} must be a PIN hash (scrypt$...), never the PIN itself")
    texts = {}
    for name in ("collection_vi", "collection_en"):
        text = " ".join(getattr(kiosk, name).split())  # one paragraph, however the TOML string was wrapped
        if len(text) > COLLECTION_MAX_CHARS:
            raise ConfigError(f"{where}: {name} has {len(text)} characters; the receipt has room for "
                              f"{COLLECTION_MAX_CHARS}")
        texts[name] = text
    return dataclasses.replace(kiosk, **texts)


def _section(kind: type, table: dict[str, Any], where: str) -> Any:
    """A flat dataclass section: unknown keys refused by name, each value checked against its field's type."""
    fields_ = {item.name: item for item in dataclasses.fields(kind)}
    _reject_unknown(table, set(fields_), where)
    values: dict[str, Any] = {}
    for key, value in table.items():
        wanted = str(fields_[key].type)
        if "Path" in wanted:
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{where}: {key} must be a file path")
            values[key] = Path(value).expanduser()
        elif wanted.startswith("float"):
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ConfigError(f"{where}: {key} must be a non-negative number")
            values[key] = float(value)
        elif wanted == "bool":
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: {key} must be true or false")
            values[key] = value
        elif wanted.startswith("int"):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
                raise ConfigError(f"{where}: {key} must be a port number (1-65535)")
            values[key] = value
        else:
            if not isinstance(value, str):
                raise ConfigError(f"{where}: {key} must be a string")
            values[key] = value
    return kind(**values)


def _boolean(table: dict[str, Any], key: str, default: bool, where: str) -> bool:
    """A TOML boolean (``true`` / ``false``), nothing else: ``simulated = "false"`` is a string,
    and read with ``bool()`` it made a production station simulated (development PINs, a local
    receiver); ``required = "no"`` made a device required."""
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: {key} must be true or false (without quotes), not {value!r}")
    return value


def _table(document: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = document.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{key}] must be a table")
    return value


def _reject_unknown(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
