"""No bypass: the actions labelled for the officer need the officer's PIN (one unlock covers the
enrolment, the header says who unlocked), a double tap moves a session forward once, and
cancelling from the error screen asks first."""

from __future__ import annotations

from kivy.tests.common import UnitTestTouch

from capture.finger.positions import FingerPosition
from hardware_sim.citizens import make_citizen
from kiosk.i18n import _
from kiosk.session import Step

from .conftest import CITIZEN, SKIP_PROMPTS
from .steps import enter_pin, identify, top_dialog, type_digits


def test_manual_id_entry_needs_the_officer_pin(kiosk):
    app = kiosk.app
    citizen = make_citizen(CITIZEN)
    kiosk.tap_id("start")
    screen = kiosk.screen()
    kiosk.tap_id("manual_mode")
    dialog = top_dialog(app)
    assert dialog is not None and not screen.manual and screen.ids.chip_mode.state == "down"
    kiosk.tap(dialog.ids.cancel)  # the citizen alone: no PIN, no manual mode
    kiosk.pump(0.1)
    assert not screen.manual and screen.ids.manual_mode.state == "normal" and top_dialog(app) is None
    kiosk.tap_id("manual_mode")
    enter_pin(kiosk, "0000")
    assert top_dialog(app) is not None and not screen.manual and app.session.officer == ""
    kiosk.tap(top_dialog(app).ids.cancel)
    kiosk.tap_id("manual_mode")
    enter_pin(kiosk)
    assert screen.manual and app.session.officer == "officer-1"
    header = kiosk.header_button("language").parent
    assert "officer-1" in header.ids.officer.text and header.ids.officer.width > 0
    kiosk.shots("identify_manual")
    type_digits(kiosk, citizen.personal_id)
    kiosk.tap_id("read")
    assert app.root.current == "personal_data" and app.session.document.personal_id == citizen.personal_id
    kiosk.app.finish()
    kiosk.pump(0.1)
    assert app.session.officer == "" and app.officer == ""  # the unlock ends with the enrolment


def _to_face(kiosk) -> None:
    identify(kiosk)
    kiosk.tap_id("confirm")
    assert kiosk.app.root.current == "face"


def test_take_the_photo_now_needs_the_officer_pin(kiosk, station):
    _services, simulation, _receiver = station
    app = kiosk.app
    simulation.camera.set_scene("far")  # the checks never pass: only the officer's button takes it
    _to_face(kiosk)
    screen = kiosk.screen()
    kiosk.until(lambda: screen.frames_shown >= 2, 20, "the preview")
    kiosk.tap_id("capture_now")
    assert top_dialog(app) is not None
    kiosk.tap(top_dialog(app).ids.cancel)
    kiosk.pump(1.0)
    assert screen.mode == "live" and screen.pending is None
    kiosk.tap_id("capture_now")
    enter_pin(kiosk)
    kiosk.until(lambda: screen.mode == "captured", 20, "the officer's photo")
    assert screen.pending.manual
    kiosk.tap_id("accept")
    assert app.root.current == "fingers" and app.session.face.manual


def test_a_double_tap_on_continue_does_not_skip_the_review(kiosk):
    """Two taps 120 ms apart: the second lands on the next screen's button in the same place and
    must do nothing there (the screen has not settled)."""
    app = kiosk.app
    kiosk.start(order=(FingerPosition.RIGHT_INDEX,))
    _to_face(kiosk)
    screen = kiosk.screen()
    kiosk.until(lambda: screen.mode == "captured", 40, "the portrait")
    kiosk.tap_id("accept")
    kiosk.until(lambda: app.session.fingers.complete, 30, "the finger")
    fingers = kiosk.screen()
    kiosk.until(lambda: not fingers.ids.proceed.disabled, 10, "Continue")
    button = fingers.ids.proceed
    x, y = button.to_window(*button.center)
    kiosk.until(app.accepts_input, 5, "the screen to settle")
    for _tap in range(2):
        touch = UnitTestTouch(x, y)
        kiosk.as_main_loop(touch.touch_down)
        kiosk.pump(0.02)
        kiosk.as_main_loop(touch.touch_up)
        kiosk.pump(0.1)
    kiosk.pump(0.3)
    assert app.root.current == "review" and app.session.step is Step.REVIEW
    review = kiosk.screen()
    confirm = review.ids.confirm
    assert confirm.collide_point(*confirm.to_widget(x, y)), "the test needs Continue and Confirm in one place"


def test_cancelling_from_the_error_screen_asks_and_needs_the_officer(kiosk, station):
    _services, simulation, _receiver = station
    app = kiosk.app
    kiosk.start(order=(FingerPosition.RIGHT_INDEX, FingerPosition.LEFT_INDEX))
    SKIP_PROMPTS.add(FingerPosition.LEFT_INDEX)  # the scanner waits for it: the unplug lands mid-session
    _to_face(kiosk)
    screen = kiosk.screen()
    kiosk.until(lambda: screen.mode == "captured", 40, "the portrait")
    kiosk.tap_id("accept")
    kiosk.until(lambda: len(app.session.fingers.samples) == 1, 30, "the first finger")
    simulation.nb1010.unplug()
    try:
        kiosk.until(lambda: app.root.current == "error", 20, "the error screen")
        error = kiosk.screen()
        assert error.title == _("The fingerprint scanner needs attention")
        assert "`" not in error.hint and "enrol diag" not in error.hint
        kiosk.tap_id("cancel")
        dialog = top_dialog(app)
        assert dialog is not None and "yes" in dialog.ids
        kiosk.shots("error_cancel")
        kiosk.tap(dialog.ids.no)
        assert app.root.current == "error" and app.session.step is Step.FINGERS
        kiosk.tap_id("cancel")
        kiosk.tap(top_dialog(app).ids.yes)
        pin = top_dialog(app)
        assert pin is not None and "pad" in pin.ids
        kiosk.tap(pin.ids.cancel)
        assert app.root.current == "error" and len(app.session.fingers.samples) == 1
        kiosk.tap_id("cancel")
        kiosk.tap(top_dialog(app).ids.yes)
        enter_pin(kiosk)
        kiosk.pump(0.1)
        assert app.root.current == "welcome" and app.session.step is Step.WELCOME
        assert not app.session.fingers.samples and app.session.document is None
    finally:
        simulation.nb1010.replug()
