"""Consent: the citizen confirms the data and agrees to its use; the officer authorises with a PIN.
Sealing and queueing run in a job; the receipt follows."""

from __future__ import annotations

from typing import Any

from kivy.properties import BooleanProperty, StringProperty

from kiosk.i18n import _
from kiosk.session import SessionError
from kiosk.ui.widgets import KioskScreen, digits_edit
from station.services import ReceiptSlip


class ConsentScreen(KioskScreen):
    confirmed = BooleanProperty(False)
    masked = StringProperty("")

    def on_kv_post(self, _base: Any) -> None:
        self._pin = ""

    def on_pre_enter(self, *_args: Any) -> None:
        self.say("")
        self.ids.authorise.disabled = False

    def clear(self) -> None:
        self.confirmed = False
        self._pin = self.masked = ""
        self.say("")

    def toggle(self) -> None:
        self.confirmed = not self.confirmed

    def set_confirmed(self, confirmed: bool) -> None:
        self.confirmed = confirmed

    def key(self, key: str) -> None:
        self._pin = digits_edit(self._pin, key)
        self.masked = "•" * len(self._pin)

    def authorise(self) -> None:
        session = self.app.session
        confirmed, pin = self.confirmed, self._pin
        self._pin = self.masked = ""
        self.say(_("Saving the enrolment..."), "info")
        self.ids.authorise.disabled = True
        self.app.jobs.start("seal", lambda _cancel: session.authorise(confirmed, pin), self._sealed, self._failed)

    def _sealed(self, _receipt: ReceiptSlip) -> None:
        self.say("")
        self.ids.authorise.disabled = False
        self.app.clear_screens(keep="receipt")  # the session forgot the captures; so do the screens
        self.app.show_step()

    def _failed(self, error: BaseException) -> None:
        self.ids.authorise.disabled = False
        if isinstance(error, SessionError):
            self.say(_(error.message).format(**error.values))
            return
        self.say("")
        self.app.fail(error, "consent")

    def back(self) -> None:
        self.app.session.back()
        self.app.show_step()
