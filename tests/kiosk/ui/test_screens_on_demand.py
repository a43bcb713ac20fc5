"""Screens are built when first shown and dropped when done with (kiosk.ui.app.Screens): between
citizens the station holds only its welcome screen (and the one that contains a fault), the
officer's and technician's screens go when left, and a job that ends after its screen went
harms nothing."""

from __future__ import annotations

import gc
import logging
import weakref

from .steps import OFFICER_PIN, TECHNICIAN_PIN, enter_pin, identify

BETWEEN_CITIZENS = ["sorry", "welcome"]


def test_between_citizens_only_the_welcome_screen_is_built(kiosk):
    app = kiosk.app
    assert sorted(app.root.screen_names) == BETWEEN_CITIZENS
    identify(kiosk)
    assert app.root.current == "personal_data"
    identify_screen = weakref.ref(app.root.get_screen("identify"))
    form = weakref.ref(kiosk.screen())
    app.session.wipe()  # what the inactivity wipe does
    app.after_wipe()
    kiosk.until(lambda: app.root.current == "welcome", 5, "the welcome screen")
    assert sorted(app.root.screen_names) == BETWEEN_CITIZENS
    kiosk.until(lambda: _collected(identify_screen, form), 3, "the wiped enrolment's screens to be freed")
    identify(kiosk)  # the next citizen gets screens built anew, and they work
    assert app.root.current == "personal_data" and kiosk.screen() is not form()


def _collected(*screens: weakref.ref) -> bool:
    """Whether the screens are freed.  Not always at once: Kivy's double- and triple-tap detection
    keeps the last touches (and through them the widgets touched) for up to 375 ms."""
    gc.collect()
    return all(screen() is None for screen in screens)


def _side_screen(kiosk, name: str, pin: str):
    kiosk.tap_id(name)
    enter_pin(kiosk, pin)
    kiosk.until(lambda: kiosk.app.root.current == name, 5, f"the {name} screen")
    return kiosk.screen()


def test_the_officer_and_technician_screens_go_when_left(kiosk, caplog):
    # A driver's DEBUG record of a probe that failed (an R30x module not at its default baud rate) holds
    # the exception, whose traceback holds the technician's self-test job and through it its screen, for
    # as long as pytest keeps the test's log: not kept here (in the kiosk, a log record is written and gone).
    caplog.set_level(logging.INFO, logger="drivers")
    app = kiosk.app
    for name, pin in (("officer", OFFICER_PIN), ("technician", TECHNICIAN_PIN)):
        screen = _side_screen(kiosk, name, pin)
        left = weakref.ref(screen)
        kiosk.tap_id("leave")  # at once: its jobs (outbox status, self-tests, log) are still running
        del screen
        assert app.root.current == "welcome"
        kiosk.until(lambda: app.jobs.busy == 0, 30, f"the {name} screen's jobs")
        kiosk.until(lambda left=left: _collected(left), 3, f"the {name} screen to be freed after it was left")
        assert sorted(app.root.screen_names) == BETWEEN_CITIZENS
        again = _side_screen(kiosk, name, pin)  # built anew, and it works
        assert again is not left()
        if name == "officer":
            kiosk.until(lambda again=again: again.summary, 10, "the enrolments' status")
        else:
            kiosk.until(lambda again=again: again.reports, 30, "the self-tests")
        kiosk.tap_id("leave")
    # kiosk's teardown asserts that no fault was contained


def test_a_screen_left_is_told_so(kiosk, monkeypatch):
    """Kivy's transition, stopped at once (no animation), sends neither on_enter nor on_leave; the
    screens rely on both.  Without them the officer's screen refreshed every 5 s forever (once more
    per visit; and was never freed), each screen's language binding was made again at each visit,
    and "sorry" stayed up.  Leaving the photo step stops the camera work."""
    from kiosk.ui import sorry

    app = kiosk.app
    app.countdown_s = 3600  # nobody accepts: the photo step stays live
    try:
        identify(kiosk)
        kiosk.tap_id("confirm")
        face = kiosk.screen()
        kiosk.until(lambda: face.frames_shown >= 2, 20, "the preview")
        camera_work = face._job
        kiosk.tap_id("back")
        assert app.root.current == "personal_data"
        assert camera_work.is_set() and face._job is None, "the camera work goes on behind another screen"
        face = camera_work = None  # nothing of the screen held here
    finally:
        app.countdown_s = 0.5

    monkeypatch.setattr(sorry, "RETURN_AFTER_S", 0.5)
    kiosk.expected_faults = 1
    app.contain(RuntimeError("a test's fault"))
    assert app.root.current == "sorry"
    kiosk.until(lambda: app.root.current == "welcome", 5, "the sorry screen to return by itself")
