"""Officer: the enrolments kept on the station (waiting to be sent, received by the registry,
refused; the oldest waiting one's age; the faults the kiosk contained), send again now, and the
copy of those the registry has not confirmed onto a USB drive (:mod:`kiosk.ui.drive_choice`)
for a station without network; and the enrolments kept while their citizen saw no receipt
(:mod:`kiosk.ui.recovered`).

Words are the officer's, not the format's: enrolments, the registry, the USB drive.  What goes
wrong is said in a sentence; its traceback goes to the station log only.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kivy.clock import Clock
from kivy.properties import StringProperty

from drivers.errors import ExplainedError
from kiosk.i18n import N_, _
from kiosk.ui.drive_choice import DriveChooser, drive_name
from kiosk.ui.recovered import RecoveredEnrolments
from kiosk.ui.widgets import KioskScreen
from station.outbox.store import OutboxStatus, PacketState
from station.removable import DriveError, RemovableDrive
from station.services import DriveExport, enrolment_number

log = logging.getLogger(__name__)

COPYING = N_("Copying to the USB drive “{name}”...")
COPIED = N_("{count} enrolment(s) copied to the USB drive “{name}”; they stay on the station until the registry "
            "confirms them.")
NOTHING_TO_COPY = N_("Nothing to copy: the registry has confirmed every enrolment.")
NOTHING_LOST = N_("Nothing was lost: the enrolments stay on the station. Check the drive and try again.")
COPY_FAILED = N_("The enrolments could not be copied. Nothing was lost: they stay on the station. The details "
                 "are in the station log.")
FAILED = N_("That did not work. The details are in the station log.")
FAULTS = N_("Unexpected faults since the station started: {count} (the citizen started again each time; the "
            "details are in the station log)")


class OfficerScreen(KioskScreen):
    message = StringProperty("")
    summary = StringProperty("")

    def on_kv_post(self, _base: Any) -> None:
        self._refresher: Any = None
        self._status: OutboxStatus | None = None
        self._message: Callable[[], str] = str
        self.chooser = DriveChooser(self.app, self.ids.drives, self.ids.export, self._export_to, self._say)
        self.recovered = RecoveredEnrolments(self.app, self.ids.recovered_heading, self.ids.recovered, self._say,
                                             self._failed, self.refresh)

    def on_pre_enter(self, *_args: Any) -> None:
        self.clear()
        self.app.bind(lang=self._translate)
        self.refresh()
        self._refresher = Clock.schedule_interval(lambda _dt: self.refresh(), 5.0)

    def on_leave(self, *_args: Any) -> None:
        self.app.unbind(lang=self._translate)
        if self._refresher is not None:
            self._refresher.cancel()
            self._refresher = None

    def clear(self) -> None:
        self._say(str)
        self.chooser.clear()
        self.recovered.clear()

    def _say(self, message: Callable[[], str]) -> None:
        self._message = message
        self.message = message()

    def _translate(self, *_args: Any) -> None:
        self.message = self._message()
        self.chooser.relabel()
        self.recovered.relabel()
        if self._status is not None:
            self._show(self._status)

    def refresh(self) -> None:
        self.app.jobs.start("outbox-status", lambda _cancel: self.app.services.outbox_status(), self._show,
                            self._failed)

    def _show(self, status: OutboxStatus) -> None:
        self._status = status
        counts = status.counts
        waiting = counts[PacketState.SEALED] + counts[PacketState.UPLOADING]
        received = counts[PacketState.ACKNOWLEDGED] + counts[PacketState.PURGED]
        lines = [
            _("Waiting to be sent: {count}").format(count=waiting),
            _("Received by the registry: {count}").format(count=received),
            _("Refused by the registry: {count}").format(count=counts[PacketState.REFUSED]),
        ]
        if counts[PacketState.QUARANTINED]:
            lines.append(_("Cannot be read, set aside (call the technician): {count}").format(
                count=counts[PacketState.QUARANTINED]))
            lines.extend(f"  {enrolment_number(packet_id)}: {quarantine_reason(error)}"
                         for packet_id, error in status.quarantined.items())
        if status.oldest_pending is not None:
            lines.append(_("Oldest waiting: {age}").format(age=_age(datetime.now(UTC) - status.oldest_pending)))
        lines.append(_("Free space on the station: {free} MB (enrolment stops below {floor} MB)").format(
            free=status.free_bytes // 10**6, floor=status.min_free_bytes // 10**6))
        if self.app.faults:
            lines.append(_(FAULTS).format(count=self.app.faults))
        self.summary = "\n".join(lines)
        self.recovered.show(status.not_handed_over)

    def retry(self) -> None:
        self.app.jobs.start("retry", lambda _cancel: self.app.services.retry_uploads(), self._retried, self._failed)

    def _retried(self, count: int) -> None:
        self._say(lambda: _("{count} enrolment(s) will be sent again now.").format(count=count))
        self.refresh()

    def export(self) -> None:
        """Find the USB drive, then copy (:class:`DriveChooser` calls :meth:`_export_to`)."""
        self.chooser.start()

    def _export_to(self, drive: RemovableDrive) -> None:
        self._say(lambda: _(COPYING).format(name=drive_name(drive)))
        self.app.jobs.start("export", lambda _cancel: self.app.services.export_outbox(drive), self._exported,
                            self._export_failed)

    def _exported(self, result: DriveExport) -> None:
        self.ids.export.disabled = False
        if result.packet_ids:
            self._say(lambda: _(COPIED).format(count=len(result.packet_ids), name=drive_name(result.drive)))
        else:
            self._say(lambda: _(NOTHING_TO_COPY))
        self.refresh()

    def _export_failed(self, error: BaseException) -> None:
        self.ids.export.disabled = False
        log.warning("export to USB failed: %s", error, exc_info=error)
        if isinstance(error, DriveError):
            self._say(lambda: f"{_(error.citizen_message).format(name=drive_name(error.drive))} {_(NOTHING_LOST)}")
        else:
            self._say(lambda: _(COPY_FAILED))

    def _failed(self, error: BaseException) -> None:
        log.warning("officer screen: %s", error, exc_info=error)
        self._say(lambda: _(error.citizen_message) if isinstance(error, ExplainedError) else _(FAILED))

    def leave(self) -> None:
        self.app.go("welcome")


UNREADABLE = {
    "ENOENT": N_("its file is missing"),
    "EIO": N_("the disk cannot read its file"),
    "EACCES": N_("the station may not read its file (permissions)"),
    "EPERM": N_("the station may not read its file (permissions)"),
}
UNREADABLE_OTHER = N_("its file cannot be read ({reason})")


def quarantine_reason(error: str) -> str:
    """Why a packet was set aside, in the officer's words, from the outbox's record of it
    (``unreadable (ENOENT): No such file or directory``, by :mod:`station.outbox.uploader`)."""
    found = re.match(r"unreadable(?: \((\w+)\))?: (.*)", error)
    if found is None:
        return error
    code, reason = found.groups()
    if code in UNREADABLE:
        return _(UNREADABLE[code])
    return _(UNREADABLE_OTHER).format(reason=reason)


def _age(delta: Any) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return _("{minutes} min").format(minutes=minutes)
    return _("{hours} h {minutes} min").format(hours=minutes // 60, minutes=minutes % 60)
