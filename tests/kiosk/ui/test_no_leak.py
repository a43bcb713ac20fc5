"""No leak: a face alone does not keep an abandoned session alive, the inactivity warning hides
the citizen's data, and after a wipe every screen is reset and the language is Vietnamese again."""

from __future__ import annotations

import numpy as np

from hardware_sim.citizens import make_citizen
from kiosk.session import Step

from .conftest import CITIZEN
from .steps import identify, texts, top_dialog


def test_a_face_in_view_does_not_keep_an_abandoned_session_alive(kiosk, station):
    _services, simulation, _receiver = station
    app = kiosk.app
    kiosk.start(inactivity_warning_s=1.0, inactivity_wipe_s=3.0, face_hold_s=2.0)
    app.countdown_s = 3600  # nobody accepts: the face stays in view, the photo is never taken
    try:
        identify(kiosk)
        kiosk.tap_id("confirm")
        face = kiosk.screen()
        kiosk.until(lambda: face.frames_shown >= 2, 20, "the preview")
        kiosk.until(lambda: app._warning is not None, 8, "the inactivity warning despite the face")
        kiosk.until(lambda: app.root.current == "welcome", 8, "the wipe despite the face")
        assert app.session.step is Step.WELCOME and app.session.document is None
    finally:
        app.countdown_s = 0.5


def test_the_inactivity_warning_hides_the_data(kiosk, tmp_path):
    """What a passer-by sees while the warning is up: the warning on the plain background, nothing
    of the form behind it (a screenshot, outside the dialog, is all background colour)."""
    from kivy.core.window import Window
    from PIL import Image

    citizen = make_citizen(CITIZEN)
    app = kiosk.app
    kiosk.start(inactivity_warning_s=1.0, inactivity_wipe_s=8.0)
    identify(kiosk)
    kiosk.until(lambda: app._warning is not None, 5, "the inactivity warning")
    kiosk.pump(0.5)  # the dialog's opening animation
    warning = app._warning
    shot = Window.screenshot(name=str(tmp_path / "warning.png"))
    image = np.asarray(Image.open(shot).convert("RGB"), np.int16)
    background = np.array([round(c * 255) for c in app.c_bg[:3]], np.int16)
    outside = np.ones(image.shape[:2], bool)
    left, bottom = (int(v) for v in warning.children[0].pos)  # the dialog's own box
    width, height = (int(v) for v in warning.children[0].size)
    rows = image.shape[0]
    outside[rows - (bottom + height):rows - bottom, left:left + width] = False
    distance = np.abs(image - background).sum(axis=2)
    assert (distance[outside] < 12).mean() > 0.999, "the screen behind shows around the warning"
    assert citizen.full_name in texts(app)  # kept in the session, only hidden: "I am still here" brings it back
    kiosk.tap(warning.ids.still_here)
    assert app.session.step is Step.PERSONAL_DATA


def test_after_a_wipe_every_screen_is_reset_and_vietnamese(kiosk):
    app = kiosk.app
    citizen = make_citizen(CITIZEN)
    kiosk.tap(kiosk.header_button("language"))
    assert app.lang == "en"
    identify(kiosk)
    screen = kiosk.screen()
    screen.key("back")  # a stale message and a half-edited field
    kiosk.tap_id("confirm")
    kiosk.app.finish()
    kiosk.pump(0.2)
    assert app.lang == "vi" and app.root.current == "welcome"
    shown = texts(app)
    assert citizen.full_name[:-1] not in shown and citizen.personal_id not in shown
    identify_screen = app.root.get_screen("identify")
    assert not identify_screen.manual and identify_screen.ids.message.text == ""
    assert not identify_screen.ids.read.disabled
    form = app.root.get_screen("personal_data")
    assert form.ids.message.text == "" and form.editing == "" and form.ids.scroll.scroll_y == 1


def test_a_dialog_left_open_goes_with_the_session(kiosk):
    """Someone opened the officer's PIN pad (or any dialog) and walked away: the wipe closes it, so the
    next citizen finds the welcome screen, not a dialog that takes their taps."""
    app = kiosk.app
    kiosk.tap_id("officer")
    assert top_dialog(app) is not None, "the officer's PIN pad did not open"
    app.finish()
    kiosk.pump(0.3)
    assert top_dialog(app) is None and app.root.current == "welcome"
    kiosk.tap_id("start")
    kiosk.until(lambda: app.root.current == "identify", 10, "the identify screen")
