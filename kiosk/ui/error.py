"""A fault the officer can fix: what happened in plain words, which device, what the officer can
do (plain words: no commands or file names, those stay on the technician screen and in the log),
retry.  The session and everything captured stay; retry returns to the screen that failed, which
resumes.  Cancelling the enrolment from here is the officer's decision: it asks first, then the PIN."""

from __future__ import annotations

from typing import Any

from kivy.properties import StringProperty

from drivers.errors import DeviceError, ExplainedError
from kiosk.i18n import N_, _
from kiosk.ui.widgets import ConfirmDialog, KioskScreen

GENERIC = N_("Something went wrong. Please wait for the officer.")
DEVICES = {"identify": N_("The card reader needs attention"), "face": N_("The camera needs attention"),
           "fingers": N_("The fingerprint scanner needs attention"), "receipt": N_("The printer needs attention")}
"""The title, by the screen that failed (each uses one device)."""
STATION = N_("The station needs attention")


class ErrorScreen(KioskScreen):
    title = StringProperty("")
    message = StringProperty("")
    hint = StringProperty("")

    def on_kv_post(self, _base: Any) -> None:
        self._ids = ("", "", "")
        self.return_to = "welcome"

    def show(self, error: BaseException, return_to: str) -> None:
        title = DEVICES.get(return_to, STATION) if isinstance(error, DeviceError) else STATION
        if isinstance(error, ExplainedError):
            self._ids = (title, error.citizen_message or GENERIC, error.officer_hint)
        else:
            self._ids = (title, GENERIC, ExplainedError.officer_hint)
        self.return_to = return_to
        self._translate()

    def on_pre_enter(self, *_args: Any) -> None:
        self.app.bind(lang=self._translate)

    def on_leave(self, *_args: Any) -> None:
        self.app.unbind(lang=self._translate)

    def _translate(self, *_args: Any) -> None:
        self.title, self.message, self.hint = (_(text) if text else "" for text in self._ids)

    def clear(self) -> None:
        self._ids = ("", "", "")
        self.title = self.message = self.hint = ""
        self.return_to = "welcome"

    def retry(self) -> None:
        """After the officer replugged: continue where the session stopped."""
        self.app.session.clear_fault()
        self.app.go(self.return_to)

    def cancel(self) -> None:
        """Ask, then the officer's PIN, then the enrolment ends without being saved."""
        ConfirmDialog(_("Cancel this enrolment? Everything taken so far is deleted and nothing is saved."),
                      yes_text=_("Yes, cancel the enrolment"), no_text=_("No, keep it"),
                      on_yes=lambda: self.app.officer_action(self.app.cancel_enrolment)).open()
