"""Technician: the device list with self-tests (the same diagnosis as ``enrol diag``), a live test
capture per device with its picture and quality, the recent log, and the diagnostic report export
(device data and logs without device traffic: nothing of a citizen) onto a USB drive, chosen as on
the officer's screen (:mod:`kiosk.ui.drive_choice`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kivy.properties import StringProperty

from drivers.device import DeviceKind
from kiosk.i18n import N_, _
from kiosk.ui.drive_choice import DriveChooser, drive_name
from kiosk.ui.textures import image_texture
from kiosk.ui.widgets import KioskScreen
from station.diagnostics import KIND_LABELS, STATUS_LABELS, DeviceReport, Status
from station.removable import DriveError, RemovableDrive
from station.services import LiveTestResult

log = logging.getLogger(__name__)

REPORT_WRITTEN = N_("Diagnostic report written to the USB drive “{name}”, folder {folder}.")
REPORT_NOT_WRITTEN = N_("The report was not written completely. Check the drive and try again.")


class TechnicianScreen(KioskScreen):
    message = StringProperty("")
    test_result = StringProperty("")

    def on_kv_post(self, _base: Any) -> None:
        self.reports: list[DeviceReport] = []
        self._live_test: threading.Event | None = None
        self.chooser = DriveChooser(self.app, self.ids.drives, self.ids.export, self._export_to, self._say)

    def on_pre_enter(self, *_args: Any) -> None:
        self.message = self.test_result = ""
        self.ids.test_image.texture = None
        self.run_self_tests()
        self.show_log()

    def on_leave(self, *_args: Any) -> None:
        """A live test still waiting (for a finger, up to 30 s) is cancelled: it holds its device, which the
        device check that follows the technician's visit would find busy, and put the station out of service."""
        if self._live_test is not None:
            self._live_test.set()

    def clear(self) -> None:
        self.message = self.test_result = ""
        self.ids.test_image.texture = None
        self.chooser.clear()

    def run_self_tests(self) -> None:
        self.ids.devices.text = _("Testing the devices...")
        services = self.app.services  # the work holds the services, not this screen (it may be dropped meanwhile)
        self.app.jobs.start("diagnose", lambda _cancel: services.diagnose(), self._diagnosed,
                            self._job_failed)

    def _diagnosed(self, reports: list[DeviceReport]) -> None:
        self.reports = reports
        lines = []
        for report in reports:
            colour = "44aa55" if report.status is Status.OK else "dd3333"
            mark = _("works") if report.status is Status.OK else _(STATUS_LABELS[report.status])
            kind = _(KIND_LABELS[report.kind])
            line = f"[b]{kind}[/b]  {report.model}  [color={colour}]{mark}[/color]  {report.address}"
            if report.problem:
                line += f"\n    {report.problem}"
            if report.hint and report.status is not Status.OK:
                line += f"\n    {report.hint}"
            lines.append(line)
        self.ids.devices.text = "\n".join(lines) or _("no devices found")

    def test(self, kind: str) -> None:
        self.test_result = _("Testing...")
        self.ids.test_image.texture = None
        device = DeviceKind(kind)
        self._live_test = self.app.jobs.start(f"test-{kind}",
                                              lambda cancel: self.app.services.test_capture(device, cancel),
                                              self._tested, self._job_failed)

    def _tested(self, result: LiveTestResult) -> None:
        self.test_result = f"{result.kind}: {result.quality}\n{result.detail}"
        self.ids.test_image.texture = image_texture(result.image) if result.image is not None else None

    def show_log(self) -> None:
        self.app.jobs.start("log", lambda _cancel: self.app.services.recent_log(60), self._log, self._job_failed)

    def _log(self, lines: list[str]) -> None:
        self.ids.log.text = "\n".join(lines)

    def export(self) -> None:
        """Find the USB drive, then write (:class:`DriveChooser` calls :meth:`_export_to`)."""
        self.chooser.start()

    def _say(self, message: Callable[[], str]) -> None:
        self.message = message()

    def _export_to(self, drive: RemovableDrive) -> None:
        self.message = _("Writing the report...")
        reports = self.reports
        self.app.jobs.start("export", lambda _cancel: (drive, self.app.services.export_diagnostics(drive, reports)),
                            self._exported, self._export_failed)

    def _exported(self, result: tuple[RemovableDrive, Path]) -> None:
        drive, folder = result
        self.ids.export.disabled = False
        self.message = _(REPORT_WRITTEN).format(name=drive_name(drive), folder=folder.name)

    def _export_failed(self, error: BaseException) -> None:
        self.ids.export.disabled = False
        if not isinstance(error, DriveError):
            self._job_failed(error)
            return
        log.warning("diagnostic report: %s", error, exc_info=error)
        self.message = f"{_(error.citizen_message).format(name=drive_name(error.drive))} {_(REPORT_NOT_WRITTEN)}"

    def _job_failed(self, error: BaseException) -> None:
        self.message = _("Failed: {error}").format(error=error)
        self.test_result = ""

    def leave(self) -> None:
        self.app.go("welcome")
