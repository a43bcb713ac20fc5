"""The fingerprint screen guides: "lift your finger" while the finger stays down, the last impression
beside the instruction (gone after a wipe), an instruction at every moment, one colour per meaning,
quality numbers readable on every finger state in both themes, and the officer's PIN before a
finger is declared missing.  Screenshots: fingers_lift (and _high_contrast), fingers_officer_decides."""

from __future__ import annotations

import threading

import pytest
from kivy.clock import Clock

from capture.finger.positions import FingerPosition
from capture.finger.tenprint import DUPLICATE_FEEDBACK, AttemptResult, Prompt
from kiosk.i18n import LANGUAGES, _, catalogue
from kiosk.session import Step
from kiosk.ui.fingers import ALL_DONE, GOOD, LIFT, OFFICER_DECIDES, PLACE

from .conftest import CITIZEN, SKIP_PROMPTS
from .steps import enter_pin, identify, texts, top_dialog
from .test_enrolment import _luminance

RIGHT_INDEX, LEFT_INDEX, RIGHT_THUMB = FingerPosition.RIGHT_INDEX, FingerPosition.LEFT_INDEX, FingerPosition.RIGHT_THUMB
SCANNER = "nb1010"


@pytest.fixture
def listen(kiosk_app):
    """Add a listener of the ten-print events (on the capture thread) for one test; ``first=True``
    puts it before the screen's own."""
    added = []

    def add(listener, *, first: bool = False) -> None:
        listeners = kiosk_app.session.finger_listeners
        listeners.insert(0, listener) if first else listeners.append(listener)
        added.append(listener)

    yield add
    for listener in added:
        kiosk_app.session.finger_listeners.remove(listener)


def accept_portrait(kiosk) -> object:
    """From the welcome screen through the card, the data and the portrait; returns the fingers
    screen (which may already have moved on if a test's listener acts on the first impression)."""
    identify(kiosk)
    kiosk.tap_id("confirm")
    face = kiosk.screen()
    kiosk.until(lambda: face.mode == "captured", 40, "the portrait")
    kiosk.tap_id("accept")
    return kiosk.app.root.get_screen("fingers")


def to_fingers(kiosk) -> object:
    """From the welcome screen to the fingers screen (card, data confirmed, portrait accepted)."""
    screen = accept_portrait(kiosk)
    assert kiosk.app.root.current == "fingers"
    return screen


def place(finger: FingerPosition) -> str:
    return _(PLACE).format(finger=_(finger.label))


def test_lift_your_finger_until_it_is_lifted_with_the_impression_beside_it(kiosk, station, listen):
    _services, simulation, _receiver = station
    app = kiosk.app
    app.set_language("en")
    SKIP_PROMPTS.add(LEFT_INDEX)  # put down by the test, once the empty frame was seen
    held = []

    def keep_the_first_finger_down(event) -> None:
        # The scripted citizen lifts on the result; this citizen leaves the finger on the sensor.
        if isinstance(event, AttemptResult) and event.position == RIGHT_INDEX and not held:
            held.append(event)
            simulation.present_finger(CITIZEN, int(RIGHT_INDEX), SCANNER)

    listen(keep_the_first_finger_down)
    screen = to_fingers(kiosk)
    kiosk.until(lambda: screen.instruction == "Lift your finger.", 30, "the lift instruction")
    result = held[0]
    assert result.accepted
    assert screen.feedback == f"Good. Quality {result.report.score}." and screen.feedback_tone == "ok"
    assert list(screen.ids.feedback.color) == list(app.c_ok) != list(app.c_warn)  # good is green, not orange
    impression = screen.ids.impression
    assert impression.texture is not None and impression.texture.size == (256, 180)
    assert screen.impression_caption == "Right index finger"
    kiosk.shots("fingers_lift")
    kiosk.tap(kiosk.header_button("contrast"))
    kiosk.shots("fingers_lift_high_contrast")
    kiosk.tap(kiosk.header_button("contrast"))
    app.set_language("en")
    kiosk.pump(1.0)
    assert screen.instruction == "Lift your finger.", "the next prompt came with the finger still down"
    assert screen.current == RIGHT_INDEX

    simulation.lift_finger(SCANNER)
    kiosk.until(lambda: screen.current == LEFT_INDEX, 10, "the next finger's prompt")
    assert screen.instruction == "Place your left index finger on the scanner."
    # A new finger: an empty frame under its name until the finger is down.
    assert screen.impression_caption == "Left index finger" and impression.texture is None
    simulation.present_finger(CITIZEN, int(LEFT_INDEX), SCANNER)
    kiosk.until(lambda: not screen.ids.proceed.disabled, 30, "completion")
    assert screen.instruction == "All fingers are done. Touch Continue."
    assert impression.texture is not None and screen.impression_caption == "Left index finger"

    # The wipe leaves no impression, no finger name, no quality behind.
    app.session.wipe()
    app.after_wipe()
    kiosk.pump(0.3)
    assert impression.texture is None and screen.impression_caption == ""
    assert screen.instruction == screen.feedback == "" and "Quality" not in texts(app)


def test_an_impression_arriving_as_the_session_is_wiped_never_shows(kiosk, listen):
    """The capture thread posts the result; the wipe runs before the screen gets it (the same frame)."""
    app = kiosk.app
    wiped = []
    shown_after: list[object] = []

    def wipe_as_the_result_comes(event) -> None:
        if isinstance(event, AttemptResult) and not wiped:
            wiped.append(event)

            def wipe(_dt) -> None:
                app.session.wipe()
                app.after_wipe()
                app.root.get_screen("fingers").ids.impression.bind(
                    texture=lambda _image, texture: shown_after.append(texture))

            Clock.schedule_once(wipe, 0)  # before the screen's own post of this event (listened first)

    listen(wipe_as_the_result_comes, first=True)
    screen = accept_portrait(kiosk)  # the first impression can come (and the wipe) before the tap returns
    kiosk.until(lambda: app.root.current == "welcome", 30, "the wipe")
    kiosk.pump(0.5)
    assert wiped and not any(shown_after), "the wiped citizen's impression was shown"
    assert screen.ids.impression.texture is None
    assert screen.impression_caption == screen.feedback == screen.instruction == "" and screen.current == 0


def test_the_instruction_is_never_blank_from_start_to_end(kiosk, station, listen):
    """Sampled at every frame while the fingers screen shows: the scanner opening, each finger, the
    lift, a rejected print, the scanner unplugged and the retry, a finger the officer must decide
    about (the citizen gives another finger every time), the officer's declaration, the end."""
    _services, simulation, _receiver = station
    app = kiosk.app
    kiosk.start(order=(RIGHT_INDEX, LEFT_INDEX, RIGHT_THUMB))
    SKIP_PROMPTS.add(RIGHT_THUMB)
    seen: list[tuple[str, str, str]] = []
    unplugged = []

    def citizen(event) -> None:
        if isinstance(event, Prompt) and event.position == RIGHT_INDEX and event.attempt == 1:
            simulation.present_finger(CITIZEN, int(RIGHT_INDEX), SCANNER, blur=3.0)  # a smudge first
        elif isinstance(event, Prompt) and event.position == RIGHT_THUMB:
            # The right index again, put down anew each time: never the thumb.
            simulation.present_finger(CITIZEN, int(RIGHT_INDEX), SCANNER, attempt=10 + event.attempt,
                                      rotation_deg=8.0 * event.attempt, dx_mm=1.5)
        elif isinstance(event, AttemptResult) and event.position == RIGHT_INDEX and event.attempt == 1:
            # The smudged finger stays down a moment: what to change shows while it is to be lifted.
            simulation.present_finger(CITIZEN, int(RIGHT_INDEX), SCANNER, blur=3.0)
            threading.Timer(0.5, simulation.lift_finger, (SCANNER,)).start()
        elif isinstance(event, AttemptResult) and event.position == LEFT_INDEX and not unplugged:
            # The left index stays down a moment (its result shows), and the cable comes out meanwhile.
            unplugged.append(event)
            simulation.present_finger(CITIZEN, int(LEFT_INDEX), SCANNER)
            threading.Timer(0.5, simulation.nb1010.unplug).start()

    def sample(_dt) -> None:
        if app.root.current == "fingers":
            screen = app.root.get_screen("fingers")
            seen.append((screen.instruction, screen.feedback, screen.feedback_tone))

    listen(citizen)
    sampler = Clock.schedule_interval(sample, 0)
    try:
        screen = to_fingers(kiosk)
        kiosk.until(lambda: app.root.current == "error", 60, "the error screen")
        simulation.nb1010.replug()
        kiosk.tap_id("retry")
        assert app.root.current == "fingers"
        kiosk.until(lambda: screen.instruction == _(OFFICER_DECIDES), 60, "the officer's decision to be needed")
        assert RIGHT_THUMB in app.session.fingers.unresolved and screen.feedback == ""
        kiosk.shots("fingers_officer_decides")
        kiosk.tap(screen.ids.hands.fingers[RIGHT_THUMB - 1])
        assert screen.ids.hands.selected == RIGHT_THUMB
        kiosk.tap_id("declare")
        enter_pin(kiosk)
        kiosk.tap(top_dialog(app).ids.missing)
        kiosk.until(lambda: not screen.ids.proceed.disabled, 10, "completion")
        kiosk.pump(0.3)
    finally:
        sampler.cancel()
        scanner = simulation.nb1010
        if scanner not in scanner.backend.devices:  # the next tests need it plugged in, free of fingers
            scanner.replug()
        scanner.lift_finger()
    assert seen and all(instruction for instruction, _feedback, _tone in seen), "a blank instruction"
    instructions = {instruction for instruction, _feedback, _tone in seen}
    # The held states certainly show; a prompt answered at once may last less than a frame.
    assert {_(LIFT), _(OFFICER_DECIDES), _(ALL_DONE)} <= instructions
    assert instructions & {place(RIGHT_INDEX), place(LEFT_INDEX), place(RIGHT_THUMB)}
    # One colour per meaning: a good print "ok", the smudge "warn", another finger than asked "bad".
    tones: dict[str, set[str]] = {}
    for _instruction, feedback, tone in seen:
        tones.setdefault(feedback, set()).add(tone)
    good = {catalogue(language).gettext(GOOD).format(score=sample.quality)
            for language in LANGUAGES for sample in app.session.fingers.samples.values()}
    assert good & set(tones) and all(tones[text] == {"ok"} for text in good & set(tones))
    assert {"warn", "bad"} <= set().union(*tones.values())
    assert all(tones[catalogue(language).gettext(DUPLICATE_FEEDBACK)] == {"bad"} for language in LANGUAGES
               if catalogue(language).gettext(DUPLICATE_FEEDBACK) in tones)
    assert app.session.step is Step.FINGERS


def test_a_citizen_alone_cannot_declare_a_finger_missing(kiosk):
    app = kiosk.app
    kiosk.start(order=(RIGHT_INDEX, RIGHT_THUMB))
    SKIP_PROMPTS.add(RIGHT_THUMB)
    screen = to_fingers(kiosk)
    kiosk.until(lambda: screen.current == RIGHT_THUMB, 30, "the thumb's prompt")

    kiosk.tap_id("declare")
    dialog = top_dialog(app)
    assert dialog is not None and "pad" in dialog.ids, "no PIN asked before declaring a finger"
    enter_pin(kiosk, "0000")
    assert dialog.message and dialog.parent is not None  # wrong PIN: told so, nothing else opens
    assert top_dialog(app) is dialog and app.session.fingers.exceptions == {}
    kiosk.tap(dialog.ids.cancel)
    kiosk.until(lambda: top_dialog(app) is None, 5, "the PIN dialog to close")
    assert app.session.fingers.exceptions == {}
    assert app.session.officer == "" and screen.current == RIGHT_THUMB  # still waiting for the thumb

    kiosk.tap_id("declare")
    enter_pin(kiosk)
    reasons = top_dialog(app)
    assert reasons is not None and "missing" in reasons.ids
    kiosk.tap(reasons.ids.missing)
    kiosk.until(lambda: RIGHT_THUMB in app.session.fingers.exceptions, 10, "the declaration")
    kiosk.until(lambda: not screen.ids.proceed.disabled, 20, "completion")


def test_quality_numbers_are_readable_on_every_finger_state_in_both_themes(kiosk):
    app = kiosk.app
    hands = app.root.get_screen("fingers").ids.hands
    hands.states = {1: ("accepted", "80"), 2: ("forced", "41!"), 3: ("exception", "X"), 4: ("unresolved", "?"),
                    5: ("current", "0"), 6: ("todo", "0")}
    try:
        for high_contrast in (False, True):
            app.set_high_contrast(high_contrast)
            kiosk.pump(0.05)
            for button in hands.fingers[:6]:
                light, dark = sorted((_luminance(button.color), _luminance(button.fill)), reverse=True)
                ratio = (light + 0.05) / (dark + 0.05)
                assert ratio >= 4.5, (high_contrast, button.state_name, list(button.color), list(button.fill))
    finally:
        app.set_high_contrast(False)
        hands.states = {}
