"""The kiosk app: the screen manager, the enrolment session it shows, and the rules every screen shares.

* The session (:class:`kiosk.session.EnrolmentSession`) decides what is allowed; screens show it
  and call it.  Device work goes through :class:`kiosk.ui.jobs.Jobs`, never on this thread.
* Any touch restarts the inactivity clock; once a second :meth:`KioskApp.tick` asks the session,
  shows the warning, and after the wipe clears every screen and returns to the welcome screen.
* A device fault shows the error screen and keeps the session; retry returns to the screen that
  failed, which resumes (the ten-print keeps its accepted fingers).
* While a required device fails (:class:`kiosk.ui.device_watch.DeviceWatch`), the "out of service"
  screen stands in for the welcome screen (:meth:`KioskApp.go`): no citizen can start; the
  officer's and technician's doors stay on it.
* An unexpected exception anywhere (a Kivy callback, a job's result, a worker thread) is
  *contained* (:meth:`KioskApp.contain`): logged with its traceback, the citizen's data wiped, the
  "sorry" screen shown, the count on the officer's screen raised; the process lives on.
* The language and the high-contrast option are app properties that every ``.kv`` rule reads, so
  switching them redraws every screen at once.
* A screen is built the first time it is shown (:class:`Screens`), and dropped once it has been
  cleared (a wipe, the sealed record) or, for the officer's and the technician's, when left
  (:data:`DROPPED_WHEN_LEFT`).  Each citizen's enrolment is drawn on screens built for it (nothing of
  the last citizen's can linger in a widget), the first screen appears sooner, and between citizens
  the station holds only the welcome screen: ~80 MiB of widgets and their textures less
  (bench/kiosk_figures.py), for ~50-150 ms of building when each screen first appears.

Call :func:`kiosk.ui.boot.prepare` before importing this module (Kivy's window settings).
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.base import ExceptionHandler, ExceptionManager
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.lang import Builder
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, StringProperty
from kivy.uix.modalview import ModalView
from kivy.uix.screenmanager import NoTransition, Screen, ScreenManager, ScreenManagerException

from drivers.errors import Cancelled, DeviceError, ExplainedError
from kiosk import i18n
from kiosk.session import EnrolmentSession, Inactivity, SessionPolicy, Step
from kiosk.ui.boot import give_back_garbage
from kiosk.ui.device_watch import DeviceWatch
from kiosk.ui.jobs import Jobs
from station.services import StationServices

log = logging.getLogger(__name__)


class _Containment(ExceptionHandler):
    """Kivy's hook for exceptions that reach its main loop: every one is contained, none stops the kiosk
    (except the interpreter being asked to exit)."""

    def __init__(self, app: KioskApp) -> None:
        super().__init__()
        self._app = app

    def handle_exception(self, inst: BaseException) -> int:
        if isinstance(inst, KeyboardInterrupt | SystemExit):
            return ExceptionManager.RAISE
        self._app.contain(inst)
        return ExceptionManager.PASS

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
    "sorry": ("kiosk.ui.sorry", "SorryScreen"),
    "out_of_service": ("kiosk.ui.out_of_service", "OutOfServiceScreen"),
}
BUILT_AT_START = ("welcome", "sorry")
"""The first screen, and the one that contains a fault (containment must not depend on building a
screen): built at the start and never dropped."""
DROPPED_WHEN_LEFT = ("officer", "technician")
"""Screens seldom shown (a few times a shift) and holding many widgets (every label's text is a
texture, in the process's own memory under software OpenGL): built when shown, dropped when left."""
SIDE_SCREENS = ("officer", "technician", "sorry")
"""Screens outside the enrolment (the session is on its welcome step): they return to the welcome
screen after the inactivity time too."""
SETTLE_S = 0.4
"""Touches in the first moments after a screen or dialog appears are ignored: a double tap on
"Continue" (two taps ~120 ms apart) must not also press the button that appears under the finger
on the next screen (it skipped the review), and nobody can read a screen in less time."""
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


class Screens(ScreenManager):
    """The kiosk's screen manager: a screen of :data:`SCREENS` is built (its ``.kv`` rules loaded, its
    class imported) the first time it is shown or asked for, and can be dropped again."""

    def get_screen(self, name: str) -> Screen:
        if not self.has_screen(name):
            self.add_widget(build_screen(name))
        return super().get_screen(name)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._drop_when_left: Screen | None = None

    def drop(self, screen: Screen) -> None:
        """Remove ``screen``; the next :meth:`get_screen` of its name builds it anew.  The screen shown
        is removed when the next one is shown (:meth:`left`)."""
        if screen is self.current_screen:
            self._drop_when_left = screen
        else:
            self._remove(screen)

    def left(self, screen: Screen) -> bool:
        """``screen`` is no longer shown: drop it if it is to go; True when it went."""
        if screen is self._drop_when_left or screen.name in DROPPED_WHEN_LEFT:
            self._drop_when_left = None
            self._remove(screen)
            return True
        return False

    def _remove(self, screen: Screen) -> None:
        """Remove ``screen`` so that it is garbage: besides the manager, Kivy keeps two references to
        it.  The ``.kv`` rules' bindings (``Builder``'s handlers, by widget) hold what their
        expressions name, the screen's ``ids`` among them, until unbound; and the transition keeps
        the last screen it hid."""
        self.remove_widget(screen)
        for widget in screen.walk(restrict=True):
            Builder.unbind_widget(widget.uid)
        if self.transition.screen_out is screen:  # no None allowed: the one shown, which it holds anyway
            self.transition.screen_out = self.current_screen


def load_rules(name: str) -> None:
    """Load ``kiosk/ui/<name>.kv`` once per process (a second load would apply every rule twice)."""
    rules = str(HERE / f"{name}.kv")
    if rules not in Builder.files:
        Builder.load_file(rules)


def build_screen(name: str) -> Screen:
    try:
        module_name, class_name = SCREENS[name]
    except KeyError:
        raise ScreenManagerException(f"no screen named {name!r}") from None
    load_rules(name)
    screen_class = getattr(importlib.import_module(module_name), class_name)
    return screen_class(name=name)


class KioskApp(App):
    """The enrolment kiosk."""

    lang = StringProperty(i18n.DEFAULT_LANGUAGE)
    high_contrast = BooleanProperty(False)
    step = NumericProperty(0)
    """The session's step shown by the step indicator (-1 on the technician / officer screens)."""
    station_id = StringProperty("")
    officer = StringProperty("")
    """Who unlocked the officer's actions for the enrolment in progress (shown in the header)."""
    faults = NumericProperty(0)
    """Unexpected faults contained since the kiosk started (shown on the officer's screen)."""
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
                 high_contrast: bool = False, countdown_s: float = 2.0,
                 settle_s: float = SETTLE_S, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.title = "Enrolment station"
        self.services = services
        self.session = EnrolmentSession(policy, services)
        self.session.finger_listeners.append(self._finger_event)
        self.jobs = Jobs()
        self.watch = DeviceWatch(self)
        self.countdown_s = countdown_s
        self.station_id = policy.station_id
        self._initial_language = language
        self._initial_contrast = high_contrast
        self._warning: Any = None
        self._tick_event: Any = None
        self.settle_s = settle_s
        self._settled_at = 0.0
        self._swallowed: set[Any] = set()
        self._containment = _Containment(self)
        self._containing = False

    # -- building ------------------------------------------------------------------------------

    def build(self) -> ScreenManager:
        # The language first: the rules translate as the screens are built and re-translate only when
        # ``lang`` changes, so screens built in another catalogue than ``lang`` names would stay so.
        self.set_language(self._initial_language)
        load_rules("widgets")
        manager = Screens(transition=NoTransition())
        for name in BUILT_AT_START:
            manager.get_screen(name)
        self.set_high_contrast(self._initial_contrast)
        Window.bind(on_touch_down=self._any_touch, on_touch_move=self._swallowed_move, on_touch_up=self._swallowed_up,
                    on_key_down=self._any_key, children=lambda *_args: self.settle())
        ExceptionManager.add_handler(self._containment)
        self._thread_hook = threading.excepthook
        threading.excepthook = self._thread_failed
        Window.clearcolor = self.c_bg
        self._tick_event = Clock.schedule_interval(self.tick, 1.0)
        self.watch.check()
        return manager

    def on_stop(self) -> None:
        ExceptionManager.remove_handler(self._containment)
        threading.excepthook = self._thread_hook
        self.watch.stop()
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

    def officer_action(self, action: Callable[[], None]) -> None:
        """Run ``action``, one of the officer's (declare a finger, take the photo now, manual ID,
        cancel): at once when the officer unlocked this enrolment already, else after their PIN.
        The session checks again itself; this only asks for the PIN at the right moment."""
        if self.session.officer:
            action()
            return
        from kiosk.ui.widgets import PinDialog

        def unlocked() -> None:
            self.officer = self.session.officer
            action()

        PinDialog(i18n.N_("Officer PIN"), self.session.unlock_officer, unlocked).open()

    def screen(self, name: str) -> Any:
        return self.root.get_screen(name)

    def go(self, name: str) -> None:
        """Show screen ``name`` (the welcome screen: "out of service" while a required device fails); the
        step indicator follows the session."""
        if name == "welcome" and not self.watch.in_service:
            name = "out_of_service"
        self.step = int(self.session.step) if name in STEP_SCREENS.values() else -1
        if self.root.current != name:
            self.settle()
            left = self.root.current_screen
            self.root.current = name  # the screens' on_pre_enter / on_pre_leave
            if left is None:  # the first screen: Kivy shows it at once, with its on_enter
                return
            # Without an animation there is nothing to wait for: finish the switch in this frame, so
            # that the new screen takes touches at once (a pending switch leaves both screens
            # half-active).  Stopped, Kivy's transition does not send on_enter / on_leave (only an
            # animation that runs to its end does), and the screens rely on them: sent here.
            self.root.transition.stop()
            self.root.current_screen.dispatch("on_enter")
            left.dispatch("on_leave")
            if self.root.left(left):
                Clock.schedule_once(lambda _dt: give_back_garbage(), 0)  # after the new screen's first frame
            self.watch.shown(name, left.name)

    def devices_checked(self) -> None:
        """The device watch has a verdict: the screen at rest follows it (an enrolment in progress, or the
        officer's or technician's screen, is left as it is until it returns to the welcome screen)."""
        current = self.root.current
        if current == "welcome" and not self.watch.in_service:
            self.go("out_of_service")
        elif current == "out_of_service" and self.watch.in_service:
            self.go("welcome")
        elif current == "out_of_service":
            self.root.current_screen.show(self.watch.failing)

    def show_step(self) -> None:
        """Show the screen of the session's current step."""
        self.go(STEP_SCREENS[self.session.step])

    # -- faults ---------------------------------------------------------------------------------

    def fail(self, error: BaseException, return_to: str) -> None:
        """Show the error screen for ``error``; the session (and what it captured) is kept."""
        if isinstance(error, Cancelled):
            return
        hint = error.technician_hint if isinstance(error, ExplainedError) else ""
        log.warning("fault on %s: %s%s", return_to, error, f" (technician: {hint})" if hint else "")
        if isinstance(error, DeviceError):
            self.watch.check_when_idle()
            self.session.device_failed(error)  # the officer gets longer before the inactivity wipe
        self.screen("error").show(error, return_to)
        self.go("error")

    def contain(self, error: BaseException) -> None:
        """An exception nobody handled: log it, wipe the citizen's data, say sorry, keep running.

        A fault while containing (a screen that cannot even be cleared) is logged and the sorry
        screen still shown: the wipe of the session itself comes first and cannot fail that way.
        """
        where = self.root.current if self.root is not None else "start"
        log.error("unexpected fault on the %s screen; the session is wiped", where, exc_info=error)
        self.faults += 1
        if self._containing:
            return
        self._containing = True
        try:
            self.session.wipe()
            self.after_wipe()
        except Exception:
            log.exception("clearing the screens after the fault failed as well")
        finally:
            self._containing = False
        if self.root is not None:
            self.go("sorry")

    def _thread_failed(self, args: threading.ExceptHookArgs) -> None:
        """A thread outside :class:`Jobs` died: contain it on the UI thread."""
        error = args.exc_value or RuntimeError(f"thread {args.thread} failed")
        Clock.schedule_once(lambda _dt: self.contain(error), 0)

    # -- inactivity and wipe ----------------------------------------------------------------------

    def settle(self) -> None:
        """A screen or dialog just appeared: ignore touches for ``settle_s`` (see :data:`SETTLE_S`)."""
        self._settled_at = time.monotonic()

    def accepts_input(self) -> bool:
        return time.monotonic() - self._settled_at >= self.settle_s

    def _any_touch(self, _window: Any, touch: Any) -> bool:
        self.session.touch()
        if self._warning is not None:
            self._warning.dismiss()
            self._warning = None
            self._swallowed.add(touch.uid)  # the touch that answers the warning does nothing else
            return True
        if not self.accepts_input():
            self._swallowed.add(touch.uid)
            return True
        return False

    def _swallowed_move(self, _window: Any, touch: Any) -> bool:
        """The moves and the lift of a touch whose press was ignored are ignored too."""
        return touch.uid in self._swallowed

    def _swallowed_up(self, _window: Any, touch: Any) -> bool:
        if touch.uid in self._swallowed:
            self._swallowed.discard(touch.uid)
            return True
        return False

    def _any_key(self, *_args: Any) -> bool:
        self.session.touch()
        return False

    def _finger_event(self, event: Any) -> None:
        """A finger was placed or judged: the citizen is there (called from the capture worker)."""
        self.session.touch()

    def tick(self, _dt: float = 0.0) -> None:
        if self.root.current in SIDE_SCREENS and self.session.idle_s() >= self.session.policy.inactivity_wipe_s:
            # An officer or technician who walked away must not leave their screen to the next citizen.
            log.info("the %s screen closed after inactivity", self.root.current)
            self.go("welcome")
            return
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

    def cancel_enrolment(self) -> None:
        """The officer cancels (after their PIN): the enrolment ends unsaved, every screen is cleared."""
        self.session.cancel_enrolment()
        log.info("enrolment cancelled by the officer %s", self.officer)
        self.after_wipe()

    def finish(self) -> None:
        """The citizen is done (or cancelled): wipe and return to the welcome screen."""
        self.session.finish()
        self.after_wipe()

    def after_wipe(self) -> None:
        """Stop every job of the old session and clear every screen of what it showed."""
        self.jobs.cancel_all()
        self.officer = ""
        self._warning = None
        # Every dialog goes with the session (the inactivity warning, a PIN pad, a confirmation): one
        # left open would greet the next citizen, covering the welcome screen and answering their taps.
        for dialog in [child for child in Window.children if isinstance(child, ModalView)]:
            dialog.dismiss(force=True, animation=False)
        self.clear_screens()
        # The next citizen starts as the station is configured, not as the last one left it.
        self.set_language(self._initial_language)
        self.set_high_contrast(self._initial_contrast)
        self.go("welcome")

    def clear_screens(self, *, keep: str = "") -> None:
        """Clear every screen but ``keep`` of what it showed and drop it (but those
        :data:`BUILT_AT_START`), and give the memory back: after a wipe, and once the record is
        sealed (only the receipt is still needed then)."""
        for screen in list(self.root.screens):
            if screen.name == keep:
                continue
            try:
                screen.clear()  # first: a screen may hold devices or models, which its clear releases
            except Exception:  # one broken screen must not keep the others showing the citizen
                log.exception("clearing the %s screen failed", screen.name)
            if screen.name not in BUILT_AT_START:
                self.root.drop(screen)
        give_back_garbage()  # the old session's images, record and screens are garbage now
