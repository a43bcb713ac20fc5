"""The station's one configuration file (TOML), read once at start-up.

With no file the station is the *simulated* station: simulated devices at the other end of real
wires, and data under the user's data directory, so that the first run just works.  The file is
looked up in this order: ``--config FILE``, ``$ENROL_CONFIG``, ``/etc/enrolment-station/station.toml``,
``~/.config/enrolment-station/station.toml``.  ``docs/station.example.toml`` documents every key.

Every section is a pydantic dataclass (strict: TOML's own types, ranges per key, unknown keys
refused), and the whole file is checked at once, so that all its problems are reported together.
Device sections are generic (``model`` + ``required`` + the model's own settings), in the manner of
python-can's backends chosen by name: each driver's registry declares its settings
(``drivers.settings``), checked here at load, so adding a model never changes this module.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, model_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass

from capture.face.checks import FacePolicy
from capture.finger.positions import FingerPosition
from capture.finger.tenprint import TenPrintPolicy
from drivers.camera.models import CAMERA_MODELS
from drivers.device import DeviceKind
from drivers.fingerprint.models import SCANNER_MODELS
from drivers.printer.models import PRINTER_MODELS
from drivers.settings import STRICT, DeviceModel, SettingsError, check_settings, explain, model_of
from drivers.smartcard.models import READER_MODELS
from station.pin import parse_pin_hash

_Section = TypeVar("_Section")

SYSTEM_CONFIG = Path("/etc/enrolment-station/station.toml")
COLLECTION_MAX_CHARS = 300
"""The longest ``[kiosk] collection_*`` text: what fits beside the receipt's number and on a slip."""
USER_CONFIG = Path("~/.config/enrolment-station/station.toml")


class ConfigError(Exception):
    """The configuration file is unreadable or says something impossible; the message names the key.

    ``problems`` lists every problem found in the file, each naming its section and key, so that a
    technician fixes them all in one go rather than one per start."""

    def __init__(self, problems: str | list[str], source: Path | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        where = f"{source}: " if source else ""
        if len(self.problems) == 1:
            super().__init__(where + self.problems[0])
        else:
            super().__init__(f"{where}{len(self.problems)} problems:\n" + "\n".join(f"  {p}" for p in self.problems))


@dataclass(frozen=True)
class DeviceConfig:
    """One configured device: which driver (``model``) and that driver's settings."""

    kind: DeviceKind
    model: str
    required: bool = True
    settings: dict[str, Any] = field(default_factory=dict)


FilePath = Annotated[Path, Field(strict=False), AfterValidator(Path.expanduser)]
"""A path: TOML has no path type, so a string, with ``~`` expanded."""
Seconds = Annotated[float, Field(gt=0, le=86_400)]


@pydantic_dataclass(frozen=True, config=STRICT)
class KeysConfig:
    """``[keys]``: the station's signing key and the certificates it trusts.  All empty: the development
    PKI on the simulated station; refused on a real one (``station.identity.load_identity``).

    The key is either a file (encrypted PKCS#8; passphrase from ``passphrase_file`` or the systemd
    credential ``passphrase_credential``, never from this file) or a PKCS#11 token
    (``pkcs11_module`` + ``pkcs11_token`` + ``pkcs11_label``, PIN from ``pin_file``/``pin_credential``).
    """

    key_file: FilePath | None = None
    certificate: FilePath | None = None
    passphrase_file: FilePath | None = None
    passphrase_credential: str | None = None
    pkcs11_module: str | None = None
    pkcs11_token: str | None = None
    pkcs11_label: str = "station"
    pin_file: FilePath | None = None
    pin_credential: str | None = None
    station_ca: FilePath | None = None
    """The CA that issues station certificates: ``keys install`` checks against it; sent along in packets."""
    registry_certificate: FilePath | None = None
    """The registry's encryption certificate: every packet is sealed for it."""
    receipt_certificate: FilePath | None = None
    """The receiver's receipt-signing certificate (pinned): only receipts it signs acknowledge packets."""
    tls_ca: FilePath | None = None
    """The CA of the receiver's TLS server certificate."""
    tls_certificate: FilePath | None = None
    tls_key_file: FilePath | None = None
    """A separate TLS client identity for the upload (encrypted PKCS#8, same passphrase source as
    ``key_file``).  Needed when the signing key is on a PKCS#11 token, which Python's TLS stack cannot
    use; the packets stay signed by the token's key, so a stolen transport key cannot forge them."""
    province: str = ""
    district: str = ""

    @property
    def configured(self) -> bool:
        """False when nothing is set: the station then uses the development PKI under its data directory."""
        return self.key_file is not None or self.pkcs11_module is not None


def _receiver_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"must be the receiver's address, https://host[:port], not {url!r}")
    parts.port  # noqa: B018 -- raises ValueError for a port out of range
    return url


@pydantic_dataclass(frozen=True, config=STRICT)
class OutboxConfig:
    """``[outbox]``: where packets go and how long acknowledged ones are kept."""

    receiver_url: Annotated[str, AfterValidator(_receiver_url)] = "https://127.0.0.1:8443"
    retention_days: Annotated[float, Field(ge=0, le=3650)] = 30.0
    """Acknowledged packets are purged after this many days (the receipt stays in the index)."""
    min_free_mb: Annotated[float, Field(ge=0, le=10**7)] = 200.0
    """A new enrolment is refused while less than this is free on the data directory's file system."""
    max_backoff_s: Annotated[float, Field(ge=1, le=86_400)] = 900.0
    """Upper bound of the retry delay while the receiver cannot be reached."""


def _pin_hash(stored: str) -> str:
    if stored:
        parse_pin_hash(stored)  # raises ValueError saying what is wrong
    return stored


def _one_paragraph(text: object) -> object:
    """However the TOML string was wrapped, the receipt shows one paragraph."""
    return " ".join(text.split()) if isinstance(text, str) else text


def _fits_the_receipt(text: str) -> str:
    if len(text) > COLLECTION_MAX_CHARS:
        raise ValueError(f"has {len(text)} characters; the receipt has room for {COLLECTION_MAX_CHARS}")
    return text


PinHash = Annotated[str, AfterValidator(_pin_hash)]
CollectionText = Annotated[str, BeforeValidator(_one_paragraph), AfterValidator(_fits_the_receipt)]


@pydantic_dataclass(frozen=True, config=STRICT)
class KioskConfig:
    """``[kiosk]``: the touchscreen: language, privacy timers, PINs, the CSCA trust store, the receipt.

    PINs are never written here, only their scrypt hashes (``station.pin.hash_pin``; ``enrol pin hash``
    prints one), checked in full at load: a placeholder or a weakened hash would lock the officer and
    technician out at the first PIN.  Empty PIN hashes are allowed only on the simulated station,
    which then uses its documented development PINs (``station.bringup.DEVELOPMENT_PINS``).
    """

    language: Literal["vi", "en"] = "vi"
    high_contrast: bool = False
    inactivity_warning_s: Annotated[float, Field(ge=5, le=3600)] = 60.0
    """Idle seconds before the citizen is asked whether they are still there."""
    inactivity_wipe_s: Annotated[float, Field(ge=10, le=7200)] = 90.0
    """Idle seconds before the session is wiped and the kiosk returns to the welcome screen."""
    officer_pin: PinHash = ""
    technician_pin: PinHash = ""
    pin_lockout_s: Annotated[float, Field(ge=1, le=86_400)] = 60.0
    """Lockout after five wrong PINs in a row (doubling with each further lockout)."""
    trust_store: FilePath | None = None
    """Folder of CSCA certificates and ICAO master lists the chips' signatures are checked against."""
    card_timeout_s: Annotated[float, Field(ge=5, le=3600)] = 60.0
    """How long the identify screen waits for a card to be put on the reader."""
    operator_id: Annotated[str, Field(max_length=64)] = ""
    """The officer on duty, written into each record."""
    collection_vi: CollectionText = ""
    """What happens next, on the receipt (screen and slip): when and where the card can be collected,
    in Vietnamese.  Empty: the built-in text (``kiosk.slip.COLLECTION``), translated."""
    collection_en: CollectionText = ""
    """The same in English.  When only one language is set, the receipt shows it in both."""

    @model_validator(mode="after")
    def _wipe_after_warning(self) -> KioskConfig:
        if self.inactivity_wipe_s <= self.inactivity_warning_s:
            raise ValueError("inactivity_wipe_s must be longer than inactivity_warning_s")
        return self


@pydantic_dataclass(frozen=True, config=STRICT)
class _StationTable:
    id: Annotated[str, Field(min_length=1, max_length=64)]
    """This station's identifier, e.g. NA-HUNGDUNG-01 (written into every record and certificate)."""
    simulated: bool = False


@pydantic_dataclass(frozen=True, config=STRICT)
class _PathsTable:
    data_dir: FilePath | None = None
    log_dir: FilePath | None = None


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


@pydantic_dataclass(frozen=True, config=STRICT)
class _LoggingTable:
    level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)] = "INFO"
    traffic: bool = True


@pydantic_dataclass(frozen=True, config=STRICT)
class _DeviceTable:
    """What every ``[devices.KIND]`` section has; the rest are the model's own settings."""

    model: str
    required: bool = True


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
        if explicit.is_dir():
            raise ConfigError(f"{explicit} is a folder; --config names the configuration file (station.toml)")
        if not explicit.exists():
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
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not a text file in UTF-8 (byte {error.start}); save it as UTF-8") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from error
    return parse_config(document, source=path)


def parse_config(document: dict[str, Any], *, source: Path | None = None) -> StationConfig:
    """Build a :class:`StationConfig` from a parsed TOML document: every section checked (types, ranges,
    unknown keys), device settings by their model's driver, and every problem reported together."""
    problems: list[str] = []
    for unknown in sorted(set(document) - set(_SECTIONS)):
        problems.append(f"[{unknown}]: unknown section; the sections are {', '.join(_SECTIONS)}")
    tables = {name: _table(document, name, problems) for name in _SECTIONS}
    station = _checked(_StationTable, tables["station"], "[station]", problems)
    paths = _checked(_PathsTable, tables["paths"], "[paths]", problems)
    logging_ = _checked(_LoggingTable, tables["logging"], "[logging]", problems)
    keys = _checked(KeysConfig, tables["keys"], "[keys]", problems)
    outbox = _checked(OutboxConfig, tables["outbox"], "[outbox]", problems)
    kiosk = _checked(KioskConfig, tables["kiosk"], "[kiosk]", problems)
    devices = _devices(tables["devices"], problems)
    capture = _capture_sections(tables["capture"], problems)
    if problems:
        raise ConfigError(problems, source)
    data_dir = paths.data_dir or default_data_dir()
    return StationConfig(station_id=station.id, simulated=station.simulated, data_dir=data_dir,
                         log_dir=paths.log_dir or data_dir / "logs", log_level=logging_.level,
                         log_traffic=logging_.traffic, devices=devices, source=source, keys=keys, outbox=outbox,
                         kiosk=kiosk, **capture)


_SECTIONS = ("station", "paths", "logging", "devices", "capture", "keys", "outbox", "kiosk")

_DEVICE_MODELS: dict[DeviceKind, tuple[Mapping[str, DeviceModel[Any]], str]] = {
    DeviceKind.FINGERPRINT: (SCANNER_MODELS, "fingerprint scanner"),
    DeviceKind.CAMERA: (CAMERA_MODELS, "camera"),
    DeviceKind.CARD_READER: (READER_MODELS, "card reader"),
    DeviceKind.PRINTER: (PRINTER_MODELS, "printer"),
}
"""Each kind of device and the registry of its models, whose settings classes check its section."""


def _checked(kind: type[_Section], table: dict[str, Any], where: str, problems: list[str]) -> _Section | Any:
    """``table`` as a ``kind`` section, or (its problems added to ``problems``) None."""
    try:
        return kind(**table)
    except ValidationError as error:
        problems.extend(explain(error, where, kind))
        return None


def _devices(table: dict[str, Any], problems: list[str]) -> dict[DeviceKind, DeviceConfig]:
    """``[devices.KIND]`` sections: the kind known, ``model`` one of its models, the settings that model's."""
    devices: dict[DeviceKind, DeviceConfig] = {}
    for kind_name, section in table.items():
        where = f"[devices.{kind_name}]"
        if kind_name not in _DEVICE_MODELS:
            problems.append(f"{where}: unknown kind of device; the kinds are {', '.join(map(str, _DEVICE_MODELS))}")
            continue
        if not isinstance(section, dict):
            problems.append(f"{where}: must be a table")
            continue
        kind = DeviceKind(kind_name)
        settings = {key: value for key, value in section.items() if key not in ("model", "required")}
        common = _checked(_DeviceTable, {key: section[key] for key in ("model", "required") if key in section},
                          where, problems)
        if common is None:
            continue
        registry, what = _DEVICE_MODELS[kind]
        try:
            schema = model_of(registry, what, common.model).settings
        except SettingsError as error:
            problems.append(f"{where}: {error}")
            continue
        try:
            check_settings(schema, settings, where)
        except SettingsError as error:
            problems.extend(error.problems)
            continue
        devices[kind] = DeviceConfig(kind, common.model, common.required, settings)
    return devices


def _capture_sections(table: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    """``[capture.fingers]`` and ``[capture.face]``: the capture policies."""
    sections: dict[str, Any] = {}
    for unknown in sorted(set(table) - {"fingers", "face"}):
        problems.append(f"[capture.{unknown}]: unknown section; the sections are [capture.fingers], [capture.face]")
    for name, parse, schema in (("face", _face_section, FacePolicy), ("fingers", _fingers_section, _FingersTable)):
        where = f"[capture.{name}]"
        if name not in table:
            continue
        if not isinstance(table[name], dict):
            problems.append(f"{where}: must be a table")
            continue
        try:
            sections[name] = parse(table[name])
        except ValidationError as error:
            problems.extend(explain(error, where, schema))
        except (TypeError, ValueError) as error:
            problems.append(f"{where}: {error}")
    return sections


def _face_key(default: object) -> Any:
    """The TOML type of a :class:`FacePolicy` key, from its default: a real boolean, a whole number ≥ 1
    (frame counts, widths, budgets), a number ≥ 0 (every threshold), or a [low, high] pair of them."""
    if isinstance(default, bool):
        return bool | None
    if isinstance(default, int):
        return Annotated[int, Field(ge=1)] | None
    if isinstance(default, tuple):
        return Annotated[list[Annotated[float, Field(ge=0)]], Field(min_length=2, max_length=2)] | None
    return Annotated[float, Field(ge=0)] | None


_FaceTable = pydantic_dataclass(frozen=True, config=STRICT)(dataclasses.make_dataclass(
    "_FaceTable", [(f.name, _face_key(f.default), field(default=None)) for f in dataclasses.fields(FacePolicy)],
    frozen=True))
"""``[capture.face]`` as written: every key of :class:`FacePolicy`, optional, strictly typed (the
policy lives in ``capture/``, which knows nothing of configuration files)."""


def _face_section(table: dict[str, Any]) -> FacePolicy:
    """The portrait policy of ``[capture.face]``; a pydantic ValidationError or ValueError when it is wrong."""
    written = _FaceTable(**table)
    values = {key: getattr(written, key) for key in table}
    for key, value in values.items():
        if isinstance(value, list):
            if value[0] > value[1]:
                raise ValueError(f"{key}: [low, high] with low first, not {value}")
            values[key] = tuple(value)
    return FacePolicy(**values)


def _finger_code(code: int) -> FingerPosition:
    try:
        return FingerPosition(code)
    except ValueError:
        raise ValueError(f"finger positions are ISO/IEC 19794-4 codes 1-10, not {code}") from None


Score = Annotated[int, Field(ge=0, le=100)]
"""An NFIQ 2 quality score (ISO/IEC 29794-4: 0-100)."""
FingerCode = Annotated[int, AfterValidator(_finger_code)]


@pydantic_dataclass(frozen=True, config=STRICT)
class _FingersTable:
    """``[capture.fingers]`` as written; :func:`_fingers_section` makes the policy of it."""

    order: list[FingerCode] | None = None
    threshold: Score | None = None
    thresholds: dict[str, Score] | None = None
    """Per position: TOML keys are strings, ``"3" = 35``."""
    max_attempts: Annotated[int, Field(ge=1, le=20)] | None = None
    finger_timeout_s: Annotated[float, Field(ge=1, le=600)] | None = None
    lift_timeout_s: Annotated[float, Field(ge=1, le=600)] | None = None
    sequence_threshold: Annotated[float, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _each_finger_once(self) -> _FingersTable:
        if self.order is not None and len(set(self.order)) != len(self.order):
            raise ValueError("order names a finger twice")
        for code in self.thresholds or {}:
            if not code.isdigit():
                raise ValueError(f"thresholds are keyed by finger position 1-10, not {code!r}")
            _finger_code(int(code))
        return self


def _fingers_section(table: dict[str, Any]) -> TenPrintPolicy:
    """The ten-print policy of ``[capture.fingers]``; a pydantic ValidationError when it is wrong."""
    written = _FingersTable(**table)
    values = {key: getattr(written, key) for key in table}
    if written.order is not None:
        values["order"] = tuple(written.order)
    if written.thresholds is not None:
        values["thresholds"] = {FingerPosition(int(code)): score for code, score in written.thresholds.items()}
    return TenPrintPolicy(**values)


def _table(document: dict[str, Any], key: str, problems: list[str]) -> dict[str, Any]:
    value = document.get(key, {})
    if not isinstance(value, dict):
        problems.append(f"[{key}]: must be a table ([{key}] on a line of its own, then its keys)")
        return {}
    return value
