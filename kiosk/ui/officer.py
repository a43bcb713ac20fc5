"""Officer: the outbox (waiting, uploaded, refused; the oldest waiting packet's age), retry now,
and export of the packets not yet acknowledged to a USB stick."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kivy.clock import Clock
from kivy.properties import StringProperty

from kiosk.i18n import _
from kiosk.ui.widgets import KioskScreen
from station.outbox.store import OutboxStatus, PacketState


class OfficerScreen(KioskScreen):
    message = StringProperty("")
    summary = StringProperty("")

    def on_kv_post(self, _base: Any) -> None:
        self._refresher: Any = None

    def on_pre_enter(self, *_args: Any) -> None:
        self.message = ""
        self.refresh()
        self._refresher = Clock.schedule_interval(lambda _dt: self.refresh(), 5.0)

    def on_leave(self, *_args: Any) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            self._refresher = None

    def clear(self) -> None:
        self.message = ""

    def refresh(self) -> None:
        self.app.jobs.start("outbox-status", lambda _cancel: self.app.services.outbox_status(), self._show,
                            self._failed)

    def _show(self, status: OutboxStatus) -> None:
        counts = status.counts
        waiting = counts[PacketState.SEALED] + counts[PacketState.UPLOADING]
        uploaded = counts[PacketState.ACKNOWLEDGED] + counts[PacketState.PURGED]
        lines = [
            _("Waiting to be sent: {count}").format(count=waiting),
            _("Uploaded (receipt received): {count}").format(count=uploaded),
            _("Refused by the registry: {count}").format(count=counts[PacketState.REFUSED]),
        ]
        if status.oldest_pending is not None:
            lines.append(_("Oldest waiting: {age}").format(age=_age(datetime.now(UTC) - status.oldest_pending)))
        lines.append(_("Free disk space: {free} MiB (enrolment stops below {floor} MiB)").format(
            free=status.free_bytes // 2**20, floor=status.min_free_bytes // 2**20))
        self.summary = "\n".join(lines)

    def retry(self) -> None:
        self.app.jobs.start("retry", lambda _cancel: self.app.services.retry_uploads(), self._retried, self._failed)

    def _retried(self, count: int) -> None:
        self.message = _("{count} packet(s) will be tried again now.").format(count=count)
        self.refresh()

    def export(self) -> None:
        folder: Path = self.app.export_dir
        self.app.jobs.start("export", lambda _cancel: (self.app.services.export_outbox(folder), folder),
                            self._exported, self._failed)

    def _exported(self, result: tuple[list[str], Path]) -> None:
        exported, folder = result
        self.message = _("{count} packet(s) copied to {path}; they stay in the outbox until a receipt arrives.").format(
            count=len(exported), path=folder)
        self.refresh()

    def _failed(self, error: BaseException) -> None:
        self.message = _("Failed: {error}").format(error=error)

    def leave(self) -> None:
        self.app.go("welcome")


def _age(delta: Any) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return _("{minutes} min").format(minutes=minutes)
    return _("{hours} h {minutes} min").format(hours=minutes // 60, minutes=minutes % 60)
