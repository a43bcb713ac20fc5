"""Abandonment (the inactivity wipe), a scanner unplugged during the ten-print, and the
technician's PIN lockout; screenshots of the warning, error, technician and officer screens."""

from __future__ import annotations

import json

from capture.finger.positions import FingerPosition
from hardware_sim.citizens import make_citizen
from kiosk.session import Step

from .conftest import CITIZEN
from .steps import identify, texts, type_digits_on


def test_abandoned_session_is_wiped_from_memory_and_screen(kiosk):
    citizen = make_citizen(CITIZEN)
    app = kiosk.app
    kiosk.start(inactivity_warning_s=1.5, inactivity_wipe_s=4.0)
    identify(kiosk)
    assert citizen.full_name in texts(app) and citizen.personal_id in texts(app)
    kiosk.until(lambda: app._warning is not None, 5, "the inactivity warning")
    kiosk.pump(0.3)
    kiosk.shots("inactivity_warning")
    kiosk.until(lambda: app.root.current == "welcome", 8, "the wipe")
    assert app.session.step is Step.WELCOME and app.session.document is None and not app.session.values
    kiosk.pump(0.2)
    shown = texts(app)
    secrets = (citizen.full_name, citizen.personal_id, citizen.place_of_residence, f"{citizen.birth_date:%d/%m/%Y}")
    for secret in secrets:
        assert secret not in shown, f"{secret!r} still on a screen after the wipe"


def test_warning_answered_keeps_the_session(kiosk):
    app = kiosk.app
    kiosk.start(inactivity_warning_s=1.0, inactivity_wipe_s=6.0)
    identify(kiosk)
    kiosk.until(lambda: app._warning is not None, 5, "the inactivity warning")
    kiosk.tap(app._warning.ids.still_here)
    kiosk.pump(1.5)
    assert app.session.step is Step.PERSONAL_DATA and app.root.current == "personal_data"


def test_scanner_unplugged_during_the_fingers_keeps_the_accepted_ones(kiosk, station):
    _services, simulation, _receiver = station
    app = kiosk.app
    kiosk.start(order=(FingerPosition.RIGHT_INDEX, FingerPosition.LEFT_INDEX, FingerPosition.RIGHT_MIDDLE))
    identify(kiosk)
    kiosk.tap_id("confirm")
    screen = kiosk.screen()
    kiosk.until(lambda: screen.mode == "captured", 40, "the portrait")
    kiosk.tap_id("accept")
    kiosk.until(lambda: len(app.session.fingers.samples) == 1, 30, "the first finger")
    first = app.session.fingers.samples[FingerPosition.RIGHT_INDEX]
    simulation.nb1010.unplug()
    kiosk.until(lambda: app.root.current == "error", 20, "the error screen")
    assert app.session.fault is not None and app.session.step is Step.FINGERS
    kiosk.shots("error")
    simulation.nb1010.replug()
    kiosk.tap_id("retry")
    assert app.root.current == "fingers" and app.session.fault is None
    kiosk.until(lambda: app.session.fingers.complete, 60, "the remaining fingers")
    assert app.session.fingers.samples[FingerPosition.RIGHT_INDEX] is first


def test_technician_pin_lockout_then_technician_and_officer_screens(kiosk, station):
    services, _simulation, _receiver = station
    app = kiosk.app
    kiosk.tap_id("technician")
    dialog = app.root_window.children[0]
    for attempt in range(5):
        type_digits_on(kiosk, dialog.ids.pad, "0000")
        kiosk.tap(dialog.ids.ok)
        kiosk.until(lambda: dialog.message, 5, "the PIN verdict")
        if attempt < 4:
            assert "4" in dialog.message or str(4 - attempt) in dialog.message
            dialog.message = ""
    assert "2" in dialog.message and app.root.current == "welcome"  # locked for 2 s (pin_lockout_s)
    dialog.message = ""
    type_digits_on(kiosk, dialog.ids.pad, "1357")
    kiosk.tap(dialog.ids.ok)
    kiosk.until(lambda: dialog.message, 5, "the PIN verdict")
    assert app.root.current == "welcome", "the right PIN was accepted while locked out"
    kiosk.pump(2.2)
    dialog.message = ""
    type_digits_on(kiosk, dialog.ids.pad, "1357")
    kiosk.tap(dialog.ids.ok)
    kiosk.until(lambda: app.root.current == "technician", 5, "the technician screen")

    screen = kiosk.screen()
    kiosk.until(lambda: "Simulated CCID contactless reader" in screen.ids.devices.text, 30, "the self-tests")
    kiosk.tap_id("test_camera")
    kiosk.until(lambda: screen.ids.test_image.texture is not None, 20, "the camera test")
    kiosk.shots("technician")
    kiosk.tap_id("export")
    kiosk.until(lambda: "diagnostic-" in screen.message, 20, "the export")
    exported = next(services.removable_drives()[0].mount_point.rglob("diagnostic-*"))
    report = json.loads((exported / "devices.json").read_text())
    assert {device["kind"] for device in report["devices"]} >= {"camera", "fingerprint", "card_reader"}
    citizen = make_citizen(CITIZEN)
    for path in exported.iterdir():
        text = path.read_text()
        assert citizen.personal_id not in text and citizen.full_name not in text and ".traffic" not in text
    kiosk.tap_id("leave")

    kiosk.tap_id("officer")
    dialog = app.root_window.children[0]
    type_digits_on(kiosk, dialog.ids.pad, "2468")
    kiosk.tap(dialog.ids.ok)
    kiosk.until(lambda: app.root.current == "officer", 5, "the officer screen")
    screen = kiosk.screen()
    kiosk.until(lambda: screen.summary, 10, "the outbox status")
    kiosk.shots("officer")
    kiosk.tap_id("export")
    kiosk.until(lambda: screen.message, 10, "the export")
    kiosk.tap_id("leave")

