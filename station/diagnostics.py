"""The station's device diagnosis: what is connected, and does each device pass its self-test.

Shared by ``enrol diag``, the technician screen and the kiosk's watch over its required devices
(:func:`diagnose_configured`), so all three always agree.  A configured device that cannot be
opened is reported with the driver's own error text and technician hint; a device that is
connected but not configured is still self-tested when a driver exists for it, because a
technician replacing a scanner wants to know the new one works before editing the file.  One
diagnosis runs at a time (:data:`_ONE_AT_A_TIME`): two self-tests of one device at once would each
find it busy and report a working device as failed.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import usb.backend

from drivers.camera.models import create_camera
from drivers.device import DeviceInfo, DeviceKind
from drivers.discovery import FoundDevice
from drivers.errors import N_, DeviceError, DeviceNotFound
from drivers.fingerprint.models import SCANNER_MODELS, create_scanner
from drivers.printer.models import create_printer
from drivers.settings import SettingsError
from drivers.smartcard.models import READER_MODELS, create_reader
from station.config import DeviceConfig, StationConfig

log = logging.getLogger(__name__)


class Status(enum.StrEnum):
    """The verdict on one device."""

    OK = "ok"
    FAILED = "failed"
    MISSING = "missing"
    MISCONFIGURED = "misconfigured"
    """The configuration file's section for this device is wrong (unknown model or setting)."""
    NO_DRIVER = "no driver"
    """Recognised, but this version of the station has no driver for it yet."""


class ContextMessage(str):
    """A gettext message id with its context (``msgctxt``), which :func:`kiosk.i18n._` translates in."""

    context: str

    def __new__(cls, context: str, message: str) -> ContextMessage:
        marked = super().__new__(cls, message)
        marked.context = context
        return marked


def NC_(context: str, message: str) -> ContextMessage:
    """Mark ``message`` for translation in ``context`` without translating it now: the ``N_`` of a word
    with two meanings ("missing" device, "missing" finger), which Vietnamese says differently."""
    return ContextMessage(context, message)


#: What a person reads for each status and kind of device (gettext message ids; the statuses in their
#: own context, so that a device's "missing" or "failed" is never translated as a finger's).
STATUS_LABELS = {Status.OK: NC_("device status", "ok"), Status.FAILED: NC_("device status", "failed"),
                 Status.MISSING: NC_("device status", "missing"),
                 Status.MISCONFIGURED: NC_("device status", "misconfigured"),
                 Status.NO_DRIVER: NC_("device status", "no driver")}
KIND_LABELS = {DeviceKind.FINGERPRINT: N_("fingerprint scanner"), DeviceKind.CAMERA: N_("camera"),
               DeviceKind.CARD_READER: N_("card reader"), DeviceKind.PRINTER: N_("printer")}


@dataclass
class DeviceReport:
    """One line of the diagnosis."""

    kind: DeviceKind
    model: str
    address: str
    driver: str
    status: Status
    configured: bool
    required: bool
    info: DeviceInfo | None = None
    checks: dict[str, str] = field(default_factory=dict)
    problem: str = ""
    hint: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``enrol diag --json``)."""
        return {
            "kind": str(self.kind),
            "model": self.model,
            "address": self.address,
            "driver": self.driver,
            "status": str(self.status),
            "configured": self.configured,
            "required": self.required,
            "info": self.info.to_dict() if self.info else None,
            "checks": self.checks,
            "problem": self.problem,
            "hint": self.hint,
        }

    @property
    def blocks_station(self) -> bool:
        """A required device that is not working stops the station from enrolling."""
        return self.required and self.status is not Status.OK


_ONE_AT_A_TIME = threading.Lock()
"""Held by every diagnosis: the technician's self-tests and the kiosk's periodic check may be asked for
at the same moment, and the second would find the first's devices busy."""


def diagnose(
    config: StationConfig, found: Iterable[FoundDevice], *, usb_backend: usb.backend.IBackend | None = None
) -> list[DeviceReport]:
    """Self-test every configured device and every recognised one; configured devices first."""
    found = list(found)
    with _ONE_AT_A_TIME:
        reports = [_diagnose_configured(device_config, usb_backend) for device_config in config.devices.values()]
        claimed = {report.address for report in reports}
        reports += [_diagnose_found(device, usb_backend) for device in found if device.info.address not in claimed]
    return reports


def diagnose_configured(
    config: StationConfig, *, usb_backend: usb.backend.IBackend | None = None
) -> list[DeviceReport]:
    """Self-test the configured devices only: whether the station can enrol (:attr:`DeviceReport.blocks_station`)
    without the search for other devices, which only the technician needs."""
    with _ONE_AT_A_TIME:
        return [_diagnose_configured(device_config, usb_backend) for device_config in config.devices.values()]


def _diagnose_configured(device_config: DeviceConfig, usb_backend: usb.backend.IBackend | None) -> DeviceReport:
    address = str(device_config.settings.get("port", ""))
    report = DeviceReport(
        device_config.kind, device_config.model, address, device_config.model, Status.FAILED,
        configured=True, required=device_config.required,
    )
    if device_config.kind is DeviceKind.CAMERA:
        return _diagnose_camera(device_config, report)
    factories = {DeviceKind.FINGERPRINT: create_scanner, DeviceKind.CARD_READER: create_reader,
                 DeviceKind.PRINTER: lambda model, settings, usb_backend: create_printer(model, settings)}
    try:
        scanner = factories[device_config.kind](device_config.model, device_config.settings, usb_backend=usb_backend)
    except SettingsError as error:
        report.status = Status.MISCONFIGURED
        report.problem = str(error)
        report.hint = f"Correct the [devices.{device_config.kind}] section of the configuration file."
        return report
    except DeviceNotFound as error:
        report.status = Status.MISSING
        report.problem, report.hint = error.detail, error.technician_hint
        return report
    _self_test(scanner, report)
    return report


def _diagnose_camera(device_config: DeviceConfig, report: DeviceReport) -> DeviceReport:
    report.address = str(device_config.settings.get("source", ""))
    try:
        camera = create_camera(device_config.model, device_config.settings)
    except SettingsError as error:
        report.status = Status.MISCONFIGURED
        report.problem = str(error)
        report.hint = "Correct the [devices.camera] section of the configuration file."
        return report
    report.address = camera.info().address  # before opening: where it is configured (a URL without its password)
    _self_test(camera, report)
    return report


def _diagnose_found(device: FoundDevice, usb_backend: usb.backend.IBackend | None) -> DeviceReport:
    report = DeviceReport(
        device.info.kind, device.info.model, device.info.address, device.driver, Status.FAILED,
        configured=False, required=False, info=device.info,
    )
    if device.info.kind is DeviceKind.CARD_READER and device.driver in READER_MODELS:
        ids = {"vendor_id": device.info.vendor_id, "product_id": device.info.product_id}
        try:
            reader = create_reader(device.driver, ids, usb_backend=usb_backend)
        except DeviceNotFound as error:
            report.status, report.problem, report.hint = Status.MISSING, error.detail, error.technician_hint
            return report
        _self_test(reader, report)
        return report
    if device.driver not in SCANNER_MODELS:
        report.status = Status.NO_DRIVER
        report.problem = f"recognised as {device.driver}; no driver for it in this version"
        return report
    settings = {"port": device.info.address} if device.driver == "r30x" else {}
    _self_test(create_scanner(device.driver, settings, usb_backend=usb_backend), report)
    return report


def _self_test(scanner: Any, report: DeviceReport) -> None:
    """Open the scanner, run its self-test and fill ``report`` in; device errors become the verdict."""
    try:
        with scanner:
            report.info = scanner.info()
            result = scanner.self_test()
    except DeviceError as error:
        report.status = Status.MISSING if isinstance(error, DeviceNotFound) else Status.FAILED
        report.problem, report.hint = error.detail, error.technician_hint
        log.warning("%s %s: %s", report.kind, report.model, error)
        return
    report.model = report.info.model
    report.address = report.info.address
    report.checks = dict(result.checks)
    report.status = Status.OK if result.passed else Status.FAILED
    report.problem = result.problem
