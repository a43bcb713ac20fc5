"""Technician: the device list with self-tests (the same diagnosis as ``enrol diag``), a live test
capture per device with its picture and quality, the recent log, and the diagnostic report export
(device data and logs without device traffic: nothing of a citizen)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from kivy.graphics.texture import Texture
from kivy.properties import StringProperty

from drivers.device import DeviceKind
from kiosk.i18n import _
from kiosk.ui.widgets import KioskScreen
from station.diagnostics import KIND_LABELS, STATUS_LABELS, DeviceReport, Status
from station.services import LiveTestResult


class TechnicianScreen(KioskScreen):
    message = StringProperty("")
    test_result = StringProperty("")

    def on_kv_post(self, _base: Any) -> None:
        self.reports: list[DeviceReport] = []

    def on_pre_enter(self, *_args: Any) -> None:
        self.message = self.test_result = ""
        self.ids.test_image.texture = None
        self.run_self_tests()
        self.show_log()

    def clear(self) -> None:
        self.message = self.test_result = ""
        self.ids.test_image.texture = None

    def run_self_tests(self) -> None:
        self.ids.devices.text = _("Testing the devices...")
        self.app.jobs.start("diagnose", lambda _cancel: self.app.services.diagnose(), self._diagnosed,
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
        self.app.jobs.start(f"test-{kind}", lambda cancel: self.app.services.test_capture(device, cancel),
                            self._tested, self._job_failed)

    def _tested(self, result: LiveTestResult) -> None:
        self.test_result = f"{result.kind}: {result.quality}\n{result.detail}"
        self.ids.test_image.texture = _texture(result.image) if result.image is not None else None

    def show_log(self) -> None:
        self.app.jobs.start("log", lambda _cancel: self.app.services.recent_log(60), self._log, self._job_failed)

    def _log(self, lines: list[str]) -> None:
        self.ids.log.text = "\n".join(lines)

    def export(self) -> None:
        folder: Path = self.app.export_dir
        self.message = _("Writing the report...")
        self.app.jobs.start("export", lambda _cancel: self.app.services.export_diagnostics(folder, self.reports),
                            self._exported, self._job_failed)

    def _exported(self, path: Path) -> None:
        self.message = _("Diagnostic report written to {path}").format(path=path)

    def _job_failed(self, error: BaseException) -> None:
        self.message = _("Failed: {error}").format(error=error)
        self.test_result = ""

    def leave(self) -> None:
        self.app.go("welcome")


def _texture(pixels: np.ndarray) -> Texture:
    """A texture of a grey (fingerprint) or BGR (camera) image, the right way up."""
    colorfmt = "luminance" if pixels.ndim == 2 else "bgr"
    height, width = pixels.shape[:2]
    texture = Texture.create(size=(width, height), colorfmt=colorfmt)
    texture.flip_vertical()
    texture.blit_buffer(np.ascontiguousarray(pixels).tobytes(), colorfmt=colorfmt, bufferfmt="ubyte")
    return texture
