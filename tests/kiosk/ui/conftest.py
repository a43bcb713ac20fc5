"""The real kiosk app on the simulated station, under Xvfb, driven by touches on its widgets.

One app, one window and one simulated station serve every UI test of the session (Kivy has one
window per process); each test starts from the welcome screen with a fresh session.  When
``$DISPLAY`` is unset an Xvfb server is started for the tests and stopped after them.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from capture.finger.positions import FingerPosition
from capture.finger.tenprint import Prompt, TenPrintPolicy

ROOT = Path(__file__).parents[3]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CITIZEN = 3
SKIP_PROMPTS: set[FingerPosition] = set()
"""Fingers the scripted citizen does not put down (the officer declares them instead)."""


@pytest.fixture(scope="session")
def display(tmp_path_factory):
    """An X display for Kivy: the caller's, or an Xvfb started here."""
    home = tmp_path_factory.mktemp("kivy-home")
    env = {"KIVY_NO_ARGS": "1", "KIVY_NO_CONSOLELOG": "1", "KIVY_NO_FILELOG": "1", "KIVY_HOME": str(home),
           "KIVY_WINDOW": "sdl2", "LIBGL_ALWAYS_SOFTWARE": "1", "KIVY_LOG_MODE": "PYTHON"}
    os.environ.update(env)
    server = None
    if not os.environ.get("DISPLAY"):
        xvfb = shutil.which("Xvfb")
        assert xvfb, "Xvfb is needed for the kiosk UI tests (scripts/setup.sh installs it)"
        read, write = os.pipe()
        server = subprocess.Popen([xvfb, "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                                  pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(write)
        with os.fdopen(read) as stream:
            number = stream.readline().strip()
        assert number, "Xvfb did not start"
        os.environ["DISPLAY"] = f":{number}"
    yield os.environ["DISPLAY"]
    if server is not None:
        server.terminate()
        server.wait(10)


@pytest.fixture(scope="session")
def station(tmp_path_factory):
    """The simulated station (NB-1010 as scanner), a receiver, and the kiosk's services."""
    from enrol.commands.kiosk import LocalReceiver
    from station.bringup import bring_up, with_scanner
    from station.config import parse_config
    from station.services import open_services

    data = tmp_path_factory.mktemp("station")
    config = parse_config({"station": {"id": "NA-TEST-01", "simulated": True}, "paths": {"data_dir": str(data)},
                           "kiosk": {"pin_lockout_s": 2}})
    with bring_up(config, simulate=True) as devices:
        devices = with_scanner(devices, "nb1010")
        receiver = LocalReceiver(devices.config)
        url = receiver.start()
        config = dataclasses.replace(devices.config, outbox=dataclasses.replace(devices.config.outbox,
                                                                               receiver_url=url))
        services = open_services(config, devices)
        try:
            yield services, devices.simulation, receiver
        finally:
            services.close()
            receiver.stop()


class Driver:
    """Drives the running app: touches at widget centres, the clock advanced between them."""

    def __init__(self, app, simulation) -> None:
        from kivy.base import EventLoop

        self.app = app
        self.simulation = simulation
        self.loop = EventLoop

    def pump(self, seconds: float = 0.1) -> None:
        end = time.monotonic() + seconds
        while True:
            self.as_main_loop(self.loop.idle)
            if time.monotonic() >= end:
                return
            time.sleep(0.01)

    @staticmethod
    def as_main_loop(step) -> None:
        """Run ``step`` (a frame of the event loop, a touch) with the exception handling of Kivy's
        own main loop (``EventLoopBase.mainloop``), inside which a real touch is dispatched: an
        exception goes to the ExceptionManager, where the app contains it, and is raised here only
        when no handler takes it."""
        from kivy.base import ExceptionManager

        try:
            step()
        except BaseException as error:
            if ExceptionManager.handle_exception(error) == ExceptionManager.RAISE:
                raise

    def until(self, predicate, timeout: float = 30.0, what: str = "") -> None:
        end = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > end:
                raise AssertionError(f"timed out waiting for {what or predicate}")
            self.pump(0.03)

    def tap(self, widget) -> None:
        from kivy.tests.common import UnitTestTouch

        assert widget.get_root_window() is not None, f"{widget} is not on the screen"
        assert not widget.disabled, f"{widget} is disabled"
        # A person reads the screen before touching it, and does not touch a dialog that is closing.
        self.until(lambda: self.app.accepts_input() and not self._dialog_moving(), 5, "the screen to settle")
        from kivy.uix.scrollview import ScrollView

        parent = widget.parent
        while parent is not None and parent is not parent.parent and not isinstance(parent, ScrollView):
            parent = parent.parent
        if isinstance(parent, ScrollView):  # bring it into view as a finger would, by scrolling
            parent.scroll_to(widget, padding=10, animate=False)
            self.pump(0.05)
        x, y = widget.to_window(*widget.center)
        touch = UnitTestTouch(x, y)
        self.as_main_loop(touch.touch_down)
        self.pump(0.02)
        self.as_main_loop(touch.touch_up)
        # A ScrollView hands a tap on to its child only after its own timeout (Kivy delays it 0.2 s).
        self.pump(0.4 if isinstance(parent, ScrollView) else 0.05)
        self.until(lambda: not self._dialog_moving(), 5, "a dialog to open or close")

    def _dialog_moving(self) -> bool:
        """A dialog is fading in or out (Kivy's ModalView animates ``_anim_alpha`` for 0.1 s)."""
        from kivy.animation import Animation
        from kivy.uix.modalview import ModalView

        dialogs = [child for child in self.app.root_window.children if isinstance(child, ModalView)]
        return any(animation.have_properties_to_animate(dialog)
                   for animation in list(Animation._instances) for dialog in dialogs)

    def in_service(self) -> None:
        """Wait for the device check in flight (the kiosk's start, an earlier test's devices); then the
        station must be in service: its devices restored by every test that broke one."""
        watch = self.app.watch
        self.until(lambda: not watch.checking, 30, "the device check")
        if not watch.in_service:
            watch.check()
            self.until(lambda: not watch.checking, 30, "the device check")
        assert watch.in_service, f"out of service: {[report.kind for report in watch.failing]}"

    def screen(self, name: str | None = None):
        return self.app.root.get_screen(name or self.app.root.current)

    def tap_id(self, widget_id: str, screen: str | None = None) -> None:
        self.tap(self.screen(screen).ids[widget_id])

    def key(self, pad, key: str) -> None:
        """Touch the key of a numeric pad or keyboard showing ``key``."""
        for child in pad.walk(restrict=True):
            if getattr(child, "text", None) == key and child is not pad and hasattr(child, "on_release"):
                self.tap(child)
                return
        raise AssertionError(f"no key {key!r} on {pad}")

    def shots(self, name: str) -> None:
        """A screenshot of the current screen in each language, back in Vietnamese at the end."""
        from kivy.core.window import Window

        for language in ("en", "vi"):
            if self.app.lang != language and len(Window.children) > 1:
                self.app.set_language(language)  # a dialog covers the header's switch, as it should
            elif self.app.lang != language:
                self.tap(self._language_button())
            self.pump(0.15)
            assert self.app.lang == language, "the language switch did not switch"
            folder = SCREENSHOTS / language
            folder.mkdir(parents=True, exist_ok=True)
            made = Window.screenshot(name=str(folder / f"{name}.png"))
            os.replace(made, folder / f"{name}.png")

    def _language_button(self):
        return self.header_button("language")

    def header_button(self, name: str):
        """A button of the header every screen carries (``language`` or ``contrast``)."""
        for widget in self.screen().walk():
            if type(widget).__name__ == "Header":
                return widget.ids[name]
        raise AssertionError(f"no {name} button in this screen's header")


@pytest.fixture(scope="session")
def kiosk_app(display, station):
    from kiosk.ui.boot import prepare

    prepare()
    from kiosk.session import SessionPolicy
    from kiosk.ui.app import KioskApp

    services, simulation, _receiver = station
    policy = SessionPolicy("NA-TEST-01", operator_id="officer-1")
    app = KioskApp(services, policy, countdown_s=0.5, settle_s=0.2)  # above the 120 ms of a double tap
    app._run_prepare()  # the window and the screens; the tests run the event loop (Driver.pump)
    # No periodic device check in service: one landing between a test's fault and its Start would make
    # the test wait or fail; tests/kiosk/ui/test_out_of_service.py sets the intervals it tests.
    app.watch.in_service_every_s = 24 * 3600.0
    from hardware_sim.scripted_citizen import ScriptedCitizen

    citizen = ScriptedCitizen(simulation, CITIZEN, scanner="nb1010")

    def put_finger(event) -> None:
        if isinstance(event, Prompt) and event.position in SKIP_PROMPTS:
            return
        citizen.on_event(event)

    app.session.finger_listeners.append(put_finger)
    yield app
    app.stop()


@pytest.fixture
def kiosk(kiosk_app, station):
    """The app on its welcome screen with a fresh session of ``policy`` (fingers per test)."""
    _services, simulation, _receiver = station
    driver = Driver(kiosk_app, simulation)
    simulation.camera.set_scene("good")
    simulation.insert_card(CITIZEN)
    SKIP_PROMPTS.clear()

    def start(order=(FingerPosition.RIGHT_INDEX, FingerPosition.LEFT_INDEX), **policy):
        session = kiosk_app.session
        tenprint = TenPrintPolicy(order=tuple(order), finger_timeout_s=5.0)
        session.policy = dataclasses.replace(session.policy, tenprint=tenprint, **policy)
        kiosk_app.finish()
        driver.pump(0.1)
        driver.in_service()  # back on the welcome screen, should the check have shown "out of service"

    driver.start = start
    driver.expected_faults = 0
    faults = kiosk_app.faults
    start()
    yield driver
    assert kiosk_app.faults - faults == driver.expected_faults, "the kiosk contained an unexpected fault (see the log)"
    kiosk_app.finish()
    driver.pump(0.1)
    assert kiosk_app.jobs.join(10), "a kiosk job did not stop"
    if kiosk_app.lang != "vi":
        kiosk_app.set_language("vi")
