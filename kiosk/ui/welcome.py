"""Welcome: the language, the high-contrast option, and Start; the officer's and technician's doors."""

from __future__ import annotations

from kiosk.i18n import N_, _
from kiosk.session import SessionError
from kiosk.ui.widgets import KioskScreen, PinDialog


class WelcomeScreen(KioskScreen):
    def on_pre_enter(self, *_args: object) -> None:
        self.ids.problem.text = ""

    def start(self) -> None:
        """The citizen pressed Start: the station checks it can seal an enrolment, then asks for the card."""
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

    def officer(self) -> None:
        PinDialog(N_("Officer PIN"), self.app.services.check_officer_pin, lambda: self.app.go("officer")).open()

    def technician(self) -> None:
        PinDialog(N_("Technician PIN"), self.app.services.check_technician_pin,
                  lambda: self.app.go("technician")).open()
