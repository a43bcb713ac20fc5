"""Welcome: the language, the high-contrast option, and Start; the officer's and technician's doors."""

from __future__ import annotations

from kiosk.i18n import _
from kiosk.session import SessionError
from kiosk.ui.widgets import StaffDoorsScreen


class WelcomeScreen(StaffDoorsScreen):
    def on_pre_enter(self, *_args: object) -> None:
        self.ids.problem.text = ""

    def start(self) -> None:
        """The citizen pressed Start: once the device check that may be running has its verdict (which
        may take this screen away: out of service), the station checks it can seal an enrolment, then
        asks for the card."""
        self.app.watch.then(self._start)

    def _start(self) -> None:
        if self.manager is None or self.manager.current != self.name:  # out of service meanwhile
            return
        try:
            self.app.session.start()
        except SessionError as error:
            self.ids.problem.text = _(error.message)
            return
        except Exception as error:  # full disk (DiskSpaceLow) and other station faults: the error screen
            self.app.fail(error, "welcome")
            return
        self.app.show_step()

    def choose_language(self, language: str) -> None:
        self.app.set_language(language)
