"""The station's services: its devices, its trust store, its outbox, its PINs, its printer.

:class:`StationServices` is what the enrolment session asks of the station
(:class:`kiosk.session.SessionServices`: card, PINs, sealing) plus what the screens need beyond one
enrolment (camera and scanner for the capture screens, the diagnosis and live test captures of the
technician screen, the outbox of the officer screen, the USB drives both export to, the receipt
printer).  Every method that touches a device or a drive blocks: the UI calls them from worker
threads only.

The simulated station (``bring_up(config, simulate=True)``) is used exactly like a real one: its
configuration arrives completed with a trust store and PIN hashes (``station.bringup``), so nothing
here asks whether a device is simulated.  The one stand-in chosen here is its USB drive
(:func:`open_services`): a folder of its data directory, labelled as simulated, because a
developer's machine or a CI runner has no stick to write to.
"""

from __future__ import annotations

import enum
import json
import logging
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image

from capture.document.identity import IdentityDocument
from capture.document.passive_auth import TrustStoreError, load_csca_store
from capture.document.reader import cccd_access, read_identity_document
from capture.face.checks import FaceAnalyser
from capture.face.guidance import guidance
from capture.finger.quality import assess
from capture.record import EnrolmentRecord
from crypto.trust import TrustStore
from drivers.camera.base import Camera
from drivers.camera.models import create_camera
from drivers.device import DeviceKind
from drivers.discovery import discover
from drivers.errors import DeviceNotFound, DeviceTimeout
from drivers.fingerprint.base import FingerprintScanner
from drivers.fingerprint.models import create_scanner
from drivers.printer.models import create_printer
from drivers.smartcard.base import NoCard
from drivers.smartcard.models import create_reader
from packet.enrolment_number import enrolment_number
from station.bringup import StationDevices
from station.config import ConfigError, DeviceConfig, StationConfig
from station.diagnostics import DeviceReport, diagnose, diagnose_configured
from station.identity import StationIdentity, load_identity
from station.logs import LOG_FILE_NAME
from station.outbox.sealing import seal_record
from station.outbox.store import Outbox, OutboxStatus, PacketRow
from station.outbox.uploader import Uploader, make_client
from station.pin import PinCheck, PinGuard
from station.removable import DriveFull, RemovableDrive, export_folder, find_removable_drives, writing_to

log = logging.getLogger(__name__)

SIMULATED_DRIVE = "usb"
"""The simulated station's USB drive: this folder of its data directory."""
FILE_SLACK_BYTES = 128 * 1024
"""Room a copied file may take beyond its size: its last cluster (exFAT's usual 128 KiB) and its entry."""


class CardStage(enum.Enum):
    """Where reading the card is: waiting for it to be put on the reader, or reading its chip."""

    WAITING = "waiting"
    READING = "reading"


@dataclass(frozen=True)
class CardAccess:
    """What BAC needs from a CCCD, typed by the citizen or the officer."""

    personal_id: str
    birth_date: str
    """dd/mm/yyyy"""
    expiry_date: str
    """dd/mm/yyyy"""


@dataclass(frozen=True)
class ReceiptSlip:
    """What the citizen takes home on paper (or reads off the screen): not the registry's signed
    receipt (:class:`crypto.receipt.RegistryReceipt`), which acknowledges the packet to the station."""

    enrolment_number: str
    """The one number the citizen has: printed, shown, and all that the QR code holds.  Derived from
    the packet id (:mod:`packet.enrolment_number`), so the registry finds the enrolment from it."""
    packet_id: str
    station_id: str
    created_at: datetime


@dataclass(frozen=True)
class DriveExport:
    """What an export to a USB drive copied, and where."""

    drive: RemovableDrive
    folder: Path | None
    """``None`` when there was nothing to copy (nothing is then written to the drive)."""
    packet_ids: list[str]


@dataclass(frozen=True)
class LiveTestResult:
    """What a technician's live test of one device produced (no citizen is involved)."""

    kind: DeviceKind
    image: np.ndarray | None
    """Grey (fingerprint) or BGR (camera) pixels, or None for a device without pictures."""
    quality: str
    """The quality figure of the picture, or the device's answer, for the technician to read."""
    detail: str = ""


class StationServices:
    """The station's devices, outbox, PINs and printer, for the kiosk (blocking; call from workers)."""

    def __init__(self, config: StationConfig, devices: StationDevices, *, trust: TrustStore,
                 identity: StationIdentity, outbox: Outbox, officer: PinGuard, technician: PinGuard,
                 uploader: Uploader | None = None,
                 drives: Callable[[], list[RemovableDrive]] | None = None) -> None:
        self.config = config
        self.devices = devices
        self.trust = trust
        self.identity = identity
        self.outbox = outbox
        self.officer = officer
        self.technician = technician
        self.uploader = uploader
        self._drives = drives or (lambda: find_removable_drives(exclude=config.data_dir))

    # -- StationServices ------------------------------------------------------------------------

    def read_card(self, access: CardAccess, cancel: threading.Event,
                  stage: Callable[[CardStage], None] | None = None) -> IdentityDocument:
        """Wait for the card, open it with BAC from what was typed, read and verify it.  ``stage``
        hears whether the station waits for a card to be put down or reads one (the screen says which)."""
        device = self._device(DeviceKind.CARD_READER)
        reader = create_reader(device.model, device.settings, usb_backend=self.devices.usb_backend)
        candidates = cccd_access(access.personal_id, _yymmdd(access.birth_date), _yymmdd(access.expiry_date))
        tell = stage or (lambda _stage: None)
        with reader:
            if not reader.card_present():
                tell(CardStage.WAITING)
                try:
                    reader.wait_for_card(self.config.kiosk.card_timeout_s, cancel)
                except DeviceTimeout as error:  # nobody put a card down: the citizen is asked, it is no fault
                    raise NoCard(error.detail, device=error.device) from None
            tell(CardStage.READING)
            return read_identity_document(reader, candidates, self.trust, cancel=cancel)

    def check_officer_pin(self, pin: str) -> PinCheck:
        return self.officer.check(pin)

    def check_technician_pin(self, pin: str) -> PinCheck:
        return self.technician.check(pin)

    def check_space(self) -> None:
        self.outbox.check_space()

    def seal(self, record: EnrolmentRecord) -> ReceiptSlip:
        """Seal and queue the record, wake the uploader, and make the citizen's receipt."""
        row = seal_record(record, self.identity, self.outbox)
        if self.uploader is not None:
            self.uploader.notify()
        return ReceiptSlip(enrolment_number(row.packet_id), row.packet_id, record.station_id, record.created_at)

    def hand_over(self, packet_id: str) -> None:
        """The citizen sees the receipt of ``packet_id`` (or the officer has told them of a recovered one)."""
        self.outbox.hand_over(packet_id)

    def recovered_slip(self, row: PacketRow) -> ReceiptSlip:
        """The receipt of an enrolment kept while its citizen saw none (the station stopped after sealing
        it), to print again: all a receipt holds is known without the packet (its number, time, station)."""
        return ReceiptSlip(enrolment_number(row.packet_id), row.packet_id, self.config.station_id, row.sealed_at)

    # -- capture devices ------------------------------------------------------------------------

    def camera(self) -> Camera:
        """The configured camera, not yet opened."""
        device = self._device(DeviceKind.CAMERA)
        return create_camera(device.model, device.settings)

    def scanner(self) -> FingerprintScanner:
        """The configured fingerprint scanner, not yet opened."""
        device = self._device(DeviceKind.FINGERPRINT)
        return create_scanner(device.model, device.settings, usb_backend=self.devices.usb_backend)

    def _device(self, kind: DeviceKind) -> DeviceConfig:
        device = self.devices.config.devices.get(kind)
        if device is None:
            raise DeviceNotFound(f"no [devices.{kind}] in the configuration", device=str(kind))
        return device

    # -- technician -----------------------------------------------------------------------------

    def diagnose(self) -> list[DeviceReport]:
        """The same diagnosis as ``enrol diag``."""
        found = discover(self.devices.usb_backends, self.devices.serial_ports)
        return diagnose(self.devices.config, found, usb_backend=self.devices.usb_backend)

    def check_devices(self) -> list[DeviceReport]:
        """Self-test the configured devices: the kiosk's periodic check whether it may take citizens."""
        return diagnose_configured(self.devices.config, usb_backend=self.devices.usb_backend)

    def test_capture(self, kind: DeviceKind, cancel: threading.Event) -> LiveTestResult:
        """One live capture from a device, with its quality, for the technician."""
        if kind is DeviceKind.CAMERA:
            with self.camera() as camera:
                frame = camera.latest(timeout=5.0, cancel=cancel)
                analysis = FaceAnalyser(self.config.face).analyse(frame.pixels, frame.sequence, frame.captured_at)
                stats = camera.stats()
            passed = sum(1 for check in analysis.checks if check.passed)
            return LiveTestResult(kind, frame.pixels, f"{passed}/{len(analysis.checks)} checks",
                               f"{frame.width}x{frame.height}, {stats.fps:.1f} fps; {guidance(analysis)}")
        if kind is DeviceKind.FINGERPRINT:
            with self.scanner() as scanner:
                scanner.wait_for_finger(30.0, cancel)
                image = scanner.capture(cancel=cancel)
            report = assess(image.pixels, image.ppi)
            return LiveTestResult(kind, image.pixels, f"{report.score}/100", f"{image.pixels.shape[1]}x"
                               f"{image.pixels.shape[0]} @ {image.ppi} ppi")
        device = self._device(DeviceKind.CARD_READER)
        with create_reader(device.model, device.settings, usb_backend=self.devices.usb_backend) as reader:
            present = reader.card_present()
            atr = reader.power_on() if present else None
            if atr is not None:
                reader.power_off()
        return LiveTestResult(kind, None, "card present" if present else "no card", f"ATR {atr}" if atr else "")

    def recent_log(self, lines: int = 200) -> list[str]:
        """The last lines of the station log, without device traffic (which can hold fingerprint images)."""
        path = self.config.log_dir / LOG_FILE_NAME
        try:
            text = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return []
        return [line for line in text if not _is_traffic(line)][-lines:]

    def export_diagnostics(self, drive: RemovableDrive, reports: list[DeviceReport]) -> Path:
        """Write a diagnostic report onto ``drive``: the device reports and the logs, nothing of a citizen.

        Left out on purpose: device traffic lines (they carry fingerprint images and chip
        exchanges in hex) and the outbox's packets.  What remains is device identities,
        self-tests, warnings and errors.  A failed write raises the
        :class:`station.removable.DriveError` that says what happened to the drive.
        """
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        status = self.outbox.status()
        document = {
            "station": self.config.station_id, "simulated": self.devices.config.simulated,
            "created_at": datetime.now(UTC).isoformat(),
            "devices": [report.to_dict() for report in reports],
            "outbox": {"counts": {str(k): v for k, v in status.counts.items()}, "free_bytes": status.free_bytes,
                       "oldest_pending": status.oldest_pending.isoformat() if status.oldest_pending else None},
        }
        files = {"devices.json": json.dumps(document, indent=2, ensure_ascii=False)}
        for log_file in sorted(self.config.log_dir.glob(f"{LOG_FILE_NAME}*")):
            lines = log_file.read_text(encoding="utf-8", errors="replace").splitlines()
            files[log_file.name] = "\n".join(line for line in lines if not _is_traffic(line)) + "\n"
        target = drive.mount_point / f"diagnostic-{self.config.station_id}-{stamp}"
        with writing_to(drive):  # everything is read from the station first: what fails now is the drive
            target.mkdir(exist_ok=False)
            for name, text in files.items():
                (target / name).write_text(text, encoding="utf-8")
        log.info("diagnostic report exported to %s", target)
        return target

    # -- officer --------------------------------------------------------------------------------

    def outbox_status(self) -> OutboxStatus:
        return self.outbox.status()

    def retry_uploads(self) -> int:
        count = self.outbox.retry()
        if self.uploader is not None:
            self.uploader.notify()
        return count

    def removable_drives(self) -> list[RemovableDrive]:
        """The USB drives an export may go to (:func:`station.removable.find_removable_drives`)."""
        return self._drives()

    def export_outbox(self, drive: RemovableDrive) -> DriveExport:
        """Copy every enrolment the registry has not acknowledged onto ``drive``, sealed as in the outbox.

        They go into a folder named after the station and the day, which ``enrol receiver import``
        reads as it is; they stay in the outbox until their receipt arrives.  A drive too small is
        refused before anything is copied; any failed write raises the
        :class:`station.removable.DriveError` that says what happened, and the outbox loses nothing.
        """
        waiting = self.outbox.exportable()
        if not waiting:
            return DriveExport(drive, None, [])
        needed = sum(row.size + FILE_SLACK_BYTES for row in waiting)
        with writing_to(drive):
            free = shutil.disk_usage(drive.mount_point).free
            if free < needed:
                raise DriveFull(f"{needed // 2**20} MiB to copy, {free // 2**20} MiB free on {drive.mount_point}",
                                drive=drive)
            folder = export_folder(drive, self.config.station_id, datetime.now().astimezone())
            exported = self.outbox.export(folder)
        log.info("%d packet(s) exported to %s (%s)", len(exported), folder, drive.device)
        return DriveExport(drive, folder, exported)

    # -- receipt --------------------------------------------------------------------------------

    def print_slip(self, image: Image.Image, qr_text: str) -> bool:
        """Print the citizen's receipt slip when a printer is configured; False when there is none
        (the citizen then reads the receipt off the screen).  A printer fault raises its DeviceError."""
        device = self.devices.config.devices.get(DeviceKind.PRINTER)
        if device is None:
            return False
        with create_printer(device.model, device.settings) as printer:
            printer.print_slip(image, qr_text)
        return True

    def close(self) -> None:
        if self.uploader is not None:
            self.uploader.stop()
        self.outbox.close()


def outbox_dir(config: StationConfig) -> Path:
    return config.data_dir / "outbox"


def open_outbox(config: StationConfig) -> Outbox:
    """The outbox as ``[outbox]`` describes it: under the data directory, with its space floor and retention."""
    return Outbox(outbox_dir(config), min_free_bytes=int(config.outbox.min_free_mb * 2**20),
                  retention=timedelta(days=config.outbox.retention_days))


def make_uploader(config: StationConfig, outbox: Outbox, identity: StationIdentity | None = None) -> Uploader:
    """The uploader to ``[outbox] receiver_url`` with the station's TLS identity (not started)."""
    identity = identity or load_identity(config)
    client = make_client(config.outbox.receiver_url, identity.ssl_context())
    return Uploader(outbox, client, identity.receipt_trust, max_backoff_s=config.outbox.max_backoff_s)


def open_services(config: StationConfig, devices: StationDevices, *, upload: bool = True) -> StationServices:
    """Everything the kiosk needs from a brought-up station; ``upload`` starts the outbox's uploader thread."""
    kiosk = config.kiosk
    if kiosk.trust_store is None:
        raise ConfigError("[kiosk] trust_store must name the folder of CSCA certificates the cards are checked "
                          "against")
    try:
        trust = load_csca_store(kiosk.trust_store)
    except TrustStoreError as error:
        raise ConfigError(f"[kiosk] trust_store: {error}") from error
    guards = {}
    for role in ("officer", "technician"):
        stored = getattr(kiosk, f"{role}_pin")
        if not stored:
            raise ConfigError(f"[kiosk] {role}_pin must be set (a hash from `enrol pin hash`)")
        guards[role] = PinGuard(stored, lockout_s=kiosk.pin_lockout_s)
    identity = load_identity(config)
    outbox = open_outbox(config)
    uploader = None
    if upload:
        uploader = make_uploader(config, outbox, identity)
        uploader.start()
    drives = (lambda: [simulated_drive(config)]) if config.simulated else None
    return StationServices(config, devices, trust=trust, identity=identity, outbox=outbox,
                         officer=guards["officer"], technician=guards["technician"], uploader=uploader,
                         drives=drives)


def simulated_drive(config: StationConfig) -> RemovableDrive:
    """The simulated station's USB drive, always inserted: the folder :data:`SIMULATED_DRIVE` of its data directory.

    Only the simulated station has it, and only it: a demo never writes to a developer's own stick,
    and the tests do not depend on what the machine running them has plugged in.
    """
    folder = config.data_dir / SIMULATED_DRIVE
    folder.mkdir(parents=True, exist_ok=True)
    return RemovableDrive(folder, "simulated USB drive", "simulated", writable=True,
                          free_bytes=shutil.disk_usage(folder).free, simulated=True)


def _yymmdd(ddmmyyyy: str) -> str:
    """dd/mm/yyyy (as typed) -> YYMMDD (as in the MRZ)."""
    return datetime.strptime(ddmmyyyy, "%d/%m/%Y").strftime("%y%m%d")


def _is_traffic(line: str) -> bool:
    return ".traffic:" in line or ".traffic." in line
