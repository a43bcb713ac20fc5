"""The kiosk app: the screen manager, the enrolment session it shows, and the rules every screen shares.

* The session (:class:`kiosk.session.EnrolmentSession`) decides what is allowed; screens show it
  and call it.  Device work goes through :class:`kiosk.ui.jobs.Jobs`, never on this thread.
* Any touch restarts the inactivity clock; once a second :meth:`KioskApp.tick` asks the session,
  shows the warning, and after the wipe clears every screen and returns to the welcome screen.
* A device fault shows the error screen and keeps the session; retry returns to the screen that
  failed, which resumes (the ten-print keeps its accepted fingers).
* The language and the high-contrast option are app properties that every ``.kv`` rule reads, so
  switching them redraws every screen at once.

Call :func:`kiosk.ui.boot.prepare` before importing this module (Kivy's window settings).
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.lang import Builder
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, StringProperty
from kivy.uix.screenmanager import NoTransition, ScreenManager

from drivers.errors import Cancelled, DeviceError
from kiosk import i18n
from kiosk.session import EnrolmentSession, Inactivity, SessionPolicy, Step
from kiosk.ui.jobs import Jobs
from station.services import StationServices

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
#: screen name -> (module, class); the enrolment screens first, in the session's step order.
SCREENS: dict[str, tuple[str, str]] = {
    "welcome": ("kiosk.ui.welcome", "WelcomeScreen"),
    "identify": ("kiosk.ui.identify", "IdentifyScreen"),
    "personal_data": ("kiosk.ui.personal_data", "PersonalDataScreen"),
    "face": ("kiosk.ui.face", "FaceScreen"),
    "fingers": ("kiosk.ui.fingers", "FingersScreen"),
    "review": ("kiosk.ui.review", "ReviewScreen"),
    "consent": ("kiosk.ui.consent", "ConsentScreen"),
    "receipt": ("kiosk.ui.receipt", "ReceiptScreen"),
    "error": ("kiosk.ui.error", "ErrorScreen"),
    "technician": ("kiosk.ui.technician", "TechnicianScreen"),
    "officer": ("kiosk.ui.officer", "OfficerScreen"),
}
STEP_SCREENS = {Step.WELCOME: "welcome", Step.IDENTIFY: "identify", Step.PERSONAL_DATA: "personal_data",
                Step.FACE: "face", Step.FINGERS: "fingers", Step.REVIEW: "review", Step.CONSENT: "consent",
                Step.RECEIPT: "receipt"}

NORMAL = {"bg": (0.96, 0.97, 0.98, 1), "panel": (1, 1, 1, 1), "fg": (0.10, 0.12, 0.16, 1),
          "muted": (0.35, 0.38, 0.45, 1), "accent": (0.05, 0.36, 0.70, 1), "button": (0.05, 0.36, 0.70, 1),
          "button_text": (1, 1, 1, 1), "quiet": (0.85, 0.88, 0.92, 1), "ok": (0.10, 0.55, 0.25, 1),
          "warn": (0.80, 0.50, 0.00, 1), "bad": (0.75, 0.10, 0.10, 1)}
HIGH_CONTRAST = {"bg": (0, 0, 0, 1), "panel": (0, 0, 0, 1), "fg": (1, 1, 1, 1), "muted": (1, 1, 0.6, 1),
                 "accent": (1, 1, 0, 1), "button": (1, 1, 0, 1), "button_text": (0, 0, 0, 1),
                 "quiet": (0.25, 0.25, 0.25, 1), "ok": (0.3, 1, 0.3, 1), "warn": (1, 0.75, 0, 1),
                 "bad": (1, 0.35, 0.35, 1)}


class KioskApp(App):
    """The enrolment kiosk."""

    lang = StringProperty(i18n.DEFAULT_LANGUAGE)
    high_contrast = BooleanProperty(False)
    step = NumericProperty(0)
    """The session's step shown by the step indicator (-1 on the technician / officer screens)."""
    station_id = StringProperty("")
    sim_hint = StringProperty("")
    """On the simulated station, what the demo card on the reader holds (shown on the identify screen)."""
    c_bg = ListProperty(NORMAL["bg"])
    c_panel = ListProperty(NORMAL["panel"])
    c_fg = ListProperty(NORMAL["fg"])
    c_muted = ListProperty(NORMAL["muted"])
    c_accent = ListProperty(NORMAL["accent"])
    c_button = ListProperty(NORMAL["button"])
    c_button_text = ListProperty(NORMAL["button_text"])
    c_quiet = ListProperty(NORMAL["quiet"])
    c_ok = ListProperty(NORMAL["ok"])
    c_warn = ListProperty(NORMAL["warn"])
    c_bad = ListProperty(NORMAL["bad"])

    def __init__(self, services: StationServices, policy: SessionPolicy, *, language: str = "vi",
                 high_contrast: bool = False, countdown_s: float = 2.0, export_dir: Path | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.title = "Enrolment station"
        self.services = services
        self.session = EnrolmentSession(policy, services)
        self.session.finger_listeners.append(self._finger_event)
        self.jobs = Jobs()
        self.countdown_s = countdown_s
        self.export_dir = export_dir or services.config.data_dir / "exports"
        self.station_id = policy.station_id
        self._initial_language = language
        self._initial_contrast = high_contrast
        self._warning: Any = None
        self._tick_event: Any = None

    # -- building ------------------------------------------------------------------------------

    def build(self) -> ScreenManager:
        Builder.load_file(str(HERE / "widgets.kv"))
        manager = ScreenManager(transition=NoTransition())
        for name, (module_name, class_name) in SCREENS.items():
            Builder.load_file(str(HERE / f"{name}.kv"))
            screen_class = getattr(importlib.import_module(module_name), class_name)
            manager.add_widget(screen_class(name=name))
        self.set_language(self._initial_language)
        self.set_high_contrast(self._initial_contrast)
        Window.bind(on_touch_down=self._any_touch, on_key_down=self._any_key)
        Window.clearcolor = self.c_bg
        self._tick_event = Clock.schedule_interval(self.tick, 1.0)
        return manager

    def on_stop(self) -> None:
        self.jobs.cancel_all()
        self.session.wipe()
        self.jobs.join(5.0)

    # -- shared state -------------------------------------------------------------------------

    def set_language(self, language: str) -> None:
        i18n.set_language(language)
        self.session.set_language(language)
        self.lang = language

    def toggle_language(self) -> None:
        self.set_language("en" if self.lang == "vi" else "vi")

    def set_high_contrast(self, on: bool) -> None:
        self.high_contrast = on
        for name, colour in (HIGH_CONTRAST if on else NORMAL).items():
            setattr(self, f"c_{name}", colour)
        Window.clearcolor = self.c_bg

    def screen(self, name: str) -> Any:
        return self.root.get_screen(name)

    def go(self, name: str) -> None:
        """Show screen ``name``; the step indicator follows the session."""
        self.step = int(self.session.step) if name in STEP_SCREENS.values() else -1
        if self.root.current != name:
            self.root.current = name
            # Without an animation there is nothing to wait for: finish the switch in this frame, so
            # that the new screen takes touches at once (a pending switch leaves both screens half-active).
            self.root.transition.stop()

    def show_step(self) -> None:
        """Show the screen of the session's current step."""
        self.go(STEP_SCREENS[self.session.step])

    # -- faults ---------------------------------------------------------------------------------

    def fail(self, error: BaseException, return_to: str) -> None:
        """Show the error screen for ``error``; the session (and what it captured) is kept."""
        if isinstance(error, Cancelled):
            return
        log.warning("fault on %s: %s", return_to, error)
        if isinstance(error, DeviceError):
            self.session.device_failed(error)  # the officer gets longer before the inactivity wipe
        self.screen("error").show(error, return_to)
        self.go("error")

    # -- inactivity and wipe ----------------------------------------------------------------------

    def _any_touch(self, _window: Any, _touch: Any) -> bool:
        self.session.touch()
        if self._warning is not None:
            self._warning.dismiss()
            self._warning = None
        return False

    def _any_key(self, *_args: Any) -> bool:
        self.session.touch()
        return False

    def _finger_event(self, event: Any) -> None:
        """A finger was placed or judged: the citizen is there (called from the capture worker)."""
        self.session.touch()

    def tick(self, _dt: float = 0.0) -> None:
        state = self.session.tick()
        if state is Inactivity.WIPED:
            log.info("session wiped after inactivity")
            self.after_wipe()
        elif state is Inactivity.WARNING:
            from kiosk.ui.widgets import InactivityWarning

            if self._warning is None:
                self._warning = InactivityWarning()
                self._warning.open()
            self._warning.seconds = int(self.session.seconds_until_wipe() + 0.999)
        elif self._warning is not None:
            self._warning.dismiss()
            self._warning = None

    def finish(self) -> None:
        """The citizen is done (or cancelled): wipe and return to the welcome screen."""
        self.session.finish()
        self.after_wipe()

    def after_wipe(self) -> None:
        """Stop every job of the old session and clear every screen of what it showed."""
        self.jobs.cancel_all()
        if self._warning is not None:
            self._warning.dismiss()
            self._warning = None
        for screen in self.root.screens:
            screen.clear()
        self.go("welcome")
