"""One complete enrolment through the real app: touches on the real widgets, simulated devices, a
scripted citizen, and a real receiver that accepts the packet.  Screenshots of every screen in
both languages go to artifacts/screenshots/<lang>/<screen>.png."""

from __future__ import annotations

import gc
import weakref

from capture.face import detect
from capture.face.guidance import MESSAGES
from capture.finger.positions import ExceptionReason, FingerPosition
from hardware_sim.citizens import make_citizen
from kiosk.session import Step
from station.outbox.store import PacketState

from .conftest import CITIZEN, SKIP_PROMPTS
from .steps import enter_pin, texts, type_digits


def _luminance(rgba) -> float:
    """WCAG 2.1 relative luminance of an sRGB colour."""
    channels = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgba[:3]]
    return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]


def assert_buttons_readable(screen) -> None:
    """Every button's text against its background reaches WCAG's 4.5:1 contrast ratio."""
    from kivy.uix.button import Button

    buttons = [w for w in screen.walk() if isinstance(w, Button) and w.text and w.background_color[3] == 1]
    assert buttons
    for button in buttons:
        light, dark = sorted((_luminance(button.color), _luminance(button.background_color)), reverse=True)
        assert (light + 0.05) / (dark + 0.05) >= 4.5, (button.text, list(button.color), list(button.background_color))


def test_complete_enrolment_reaches_the_receiver(kiosk, station):
    services, simulation, receiver = station
    citizen = make_citizen(CITIZEN)
    app = kiosk.app
    kiosk.start(order=(FingerPosition.RIGHT_INDEX, FingerPosition.LEFT_INDEX, FingerPosition.RIGHT_THUMB))
    SKIP_PROMPTS.add(FingerPosition.RIGHT_THUMB)

    # Welcome
    assert app.root.current == "welcome"
    kiosk.shots("welcome")
    assert_buttons_readable(kiosk.screen())
    kiosk.tap(kiosk.header_button("contrast"))
    assert app.high_contrast
    assert_buttons_readable(kiosk.screen())
    kiosk.shots("welcome_high_contrast")
    kiosk.tap(kiosk.header_button("contrast"))
    assert not app.high_contrast
    kiosk.tap_id("start")
    assert app.root.current == "identify" and app.session.step is Step.IDENTIFY

    # Identify: the numbers printed on the card, typed on the numeric pad
    type_digits(kiosk, citizen.personal_id)
    kiosk.tap_id("birth_date")
    type_digits(kiosk, f"{citizen.birth_date:%d%m%Y}")
    kiosk.tap_id("expiry_date")
    type_digits(kiosk, f"{citizen.expiry_date:%d%m%Y}")
    assert kiosk.screen().ids.expiry_date.value == f"{citizen.expiry_date:%d/%m/%Y}"
    kiosk.shots("identify")
    kiosk.tap_id("read")
    kiosk.until(lambda: app.root.current == "personal_data", 20, "the chip to be read")
    assert app.session.document.verified

    # Personal data: pre-filled from DG13; one change typed with Telex is flagged
    screen = kiosk.screen()
    assert screen.boxes["full_name"].value == citizen.full_name
    kiosk.tap(screen.boxes["religion"])
    for _ in range(len(screen.boxes["religion"].value)):
        kiosk.key(screen.ids.letters, "<-")
    for key in "khoong":
        kiosk.key(screen.ids.letters, key)
    assert app.session.values["religion"] == "không"
    assert screen.boxes["religion"].flagged and "religion" in app.session.changed_from_chip
    kiosk.shots("personal_data")
    simulation.camera.set_scene("far")  # the citizen sits too far back at first
    kiosk.tap_id("confirm")
    assert app.root.current == "face"

    # Face: live preview with the oval and the guidance; once the citizen comes closer, the
    # countdown and auto-capture; then accept
    screen = kiosk.screen()
    kiosk.until(lambda: screen.frames_shown >= 3 and screen._guidance_id == MESSAGES["move_closer"], 30,
                "the guidance to come closer")
    assert screen.mode == "live"
    kiosk.shots("face")
    simulation.camera.set_scene("good")
    kiosk.until(lambda: screen.mode == "captured", 40, "the auto-capture")
    assert screen.pending is not None and not screen.pending.manual
    kiosk.shots("face_captured")
    kiosk.tap_id("accept")
    assert app.root.current == "fingers" and app.session.face is not None

    # Fingers: two taken by the scripted citizen; the officer declares the thumb bandaged (PIN first)
    screen = kiosk.screen()
    kiosk.until(lambda: len(app.session.fingers.samples) == 2, 60, "two fingers")
    kiosk.until(lambda: screen.current == FingerPosition.RIGHT_THUMB, 10, "the thumb's prompt")
    kiosk.tap_id("declare")
    kiosk.shots("fingers_officer_pin")
    enter_pin(kiosk)
    dialog = app.root_window.children[0]
    kiosk.shots("fingers_exception")
    kiosk.tap(dialog.ids.bandaged)
    kiosk.until(lambda: app.session.fingers.complete and not screen.ids.proceed.disabled, 10, "completion")
    assert app.session.fingers.exceptions[FingerPosition.RIGHT_THUMB].reason is ExceptionReason.BANDAGED
    assert screen.ids.hands.states[FingerPosition.RIGHT_INDEX][0] == "accepted"
    kiosk.shots("fingers")
    kiosk.tap_id("proceed")

    # Review, consent (citizen confirms, officer PIN), receipt
    assert app.root.current == "review"
    kiosk.shots("review")
    kiosk.tap_id("confirm")
    assert app.root.current == "consent"
    kiosk.tap_id("confirm")
    type_digits(kiosk, "2468")
    kiosk.shots("consent")
    enrolment_screens = {screen.name: weakref.ref(screen) for screen in app.root.screens
                         if screen.name not in ("welcome", "sorry")}
    assert {"identify", "personal_data", "face", "fingers", "review", "consent"} <= set(enrolment_screens)
    kiosk.tap_id("authorise")
    kiosk.until(lambda: app.root.current == "receipt", 30, "sealing")
    receipt = app.session.receipt
    screen = kiosk.screen()
    kiosk.until(lambda: screen.status, 10, "the print status")
    assert screen.ids.number.text == receipt.enrolment_number and screen.ids.qr.texture is not None
    kiosk.shots("receipt")
    # Sealed: neither the session nor a hidden screen holds the citizen any more, nor the face models
    assert app.session.face is None and not app.session.values and not app.session.fingers.samples
    # ... and every screen of the enrolment but the receipt is gone with its widgets and textures
    # (Kivy's rule bindings and the screen transition held two of them before; the fingers screen a
    # session listener): the station's memory goes back to what it was before the citizen came
    del dialog  # the finger-exception dialog (this test's reference) refers to the fingers screen
    gc.collect()
    assert {name for name, ref in enrolment_screens.items() if ref() is not None} == set()
    assert sorted(app.root.screen_names) == ["receipt", "sorry", "welcome"]
    assert detect._shape_predictor.cache_info().currsize == 0 and detect._hog_detector.cache_info().currsize == 0
    assert not [listener for listener in app.session.finger_listeners if hasattr(listener, "__self__")
                and listener.__self__ is not app]  # the app's own and the scripted citizen's: no screen's
    assert citizen.full_name not in texts(app)

    # The receiver accepted the packet: the outbox holds its signed receipt
    kiosk.until(lambda: services.outbox.get(receipt.packet_id).state is PacketState.ACKNOWLEDGED, 30,
                "the receiver's receipt")
    assert receiver is not None and services.outbox.receipt(receipt.packet_id)

    kiosk.tap_id("finish")
    assert app.root.current == "welcome" and app.session.step is Step.WELCOME
    assert app.session.receipt is None and not app.session.values
