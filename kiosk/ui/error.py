"""A device fault: what happened in plain words, a hint for the officer, retry.  The session and
everything captured stay; retry returns to the screen that failed, which resumes."""

from __future__ import annotations

from typing import Any

from kivy.properties import StringProperty

from drivers.errors import ExplainedError
from kiosk.i18n import N_, _
from kiosk.ui.widgets import KioskScreen

GENERIC = N_("Something went wrong. Please wait for the officer.")


class ErrorScreen(KioskScreen):
    message = StringProperty("")
    hint = StringProperty("")

    def on_kv_post(self, _base: Any) -> None:
        self._message_id = ""
        self.return_to = "welcome"

    def show(self, error: BaseException, return_to: str) -> None:
        if isinstance(error, ExplainedError):
            self._message_id = error.citizen_message or GENERIC
            self.hint = f"{error.technician_hint}\n({error.detail})" if error.technician_hint else error.detail
        else:
            self._message_id, self.hint = GENERIC, str(error)
        self.return_to = return_to
        self._translate()

    def on_pre_enter(self, *_args: Any) -> None:
        self.app.bind(lang=self._translate)

    def on_leave(self, *_args: Any) -> None:
        self.app.unbind(lang=self._translate)

    def _translate(self, *_args: Any) -> None:
        self.message = _(self._message_id) if self._message_id else ""

    def clear(self) -> None:
        self._message_id = ""
        self.message = self.hint = ""
        self.return_to = "welcome"

    def retry(self) -> None:
        """After the officer replugged: continue where the session stopped."""
        self.app.session.clear_fault()
        self.app.go(self.return_to)

    def cancel(self) -> None:
        self.app.finish()
