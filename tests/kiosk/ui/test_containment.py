"""Crashes and their containment: the taps that killed the kiosk, and any unexpected exception
(in a touch's callback, in a job's result, in a thread) ending on the calm "sorry" screen with the
citizen's data wiped, the fault in the log with its traceback, the officer's count raised, and the
process still serving the next citizen."""

from __future__ import annotations

import gc
import logging
import threading

from hardware_sim.citizens import make_citizen
from kiosk.session import Step

from .conftest import CITIZEN
from .steps import enter_pin, identify, texts


def test_date_of_birth_and_sex_editors_survive_the_garbage_collector(kiosk):
    """The editors were weak ``ids`` proxies: detached by clear_widgets() and collected, the next tap
    on a field that needs them raised ReferenceError and killed the process."""
    app = kiosk.app
    identify(kiosk)
    screen = kiosk.screen()
    for name, editor in (("date_of_birth", "numbers"), ("sex", "choice"), ("full_name", "letters"),
                         ("date_of_birth", "numbers"), ("sex", "choice")):
        gc.collect()
        kiosk.tap(screen.boxes[name])
        assert screen.editing == name and screen.editors[editor].parent is screen.ids.editor_area.__self__
    kiosk.tap(screen.ids.female)
    assert app.session.values["sex"] == "Nữ"
    assert app.root.current == "personal_data" and app.faults == 0


def _break(screen, method: str, monkeypatch) -> None:
    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug in the kiosk")

    monkeypatch.setattr(screen, method, broken)


def _assert_contained(kiosk, faults_before: int, caplog) -> None:
    app = kiosk.app
    citizen = make_citizen(CITIZEN)
    kiosk.until(lambda: app.root.current == "sorry", 5, "the sorry screen")
    assert app.faults == faults_before + 1
    assert app.session.step is Step.WELCOME and app.session.document is None and not app.session.values
    assert citizen.full_name not in texts(app) and citizen.personal_id not in texts(app)
    faults = [record for record in caplog.records if "unexpected fault" in record.getMessage()]
    assert faults and faults[-1].exc_info and "a bug in the kiosk" in str(faults[-1].exc_info[1])
    kiosk.expected_faults += 1
    kiosk.tap_id("start_again")
    assert app.root.current == "welcome"
    # The officer sees the count.
    app.set_language("en")
    kiosk.tap_id("officer")
    enter_pin(kiosk)
    kiosk.until(lambda: app.root.current == "officer", 5, "the officer screen")
    officer = kiosk.screen()
    kiosk.until(lambda: f"Unexpected faults since the station started: {app.faults}" in officer.summary, 10,
                "the count of faults on the officer's screen")
    kiosk.tap_id("leave")


def test_exception_in_a_touch_callback_is_contained(kiosk, monkeypatch, caplog):
    caplog.set_level(logging.ERROR)
    app = kiosk.app
    identify(kiosk)
    faults = app.faults
    _break(kiosk.screen(), "confirm", monkeypatch)
    kiosk.tap_id("confirm")
    _assert_contained(kiosk, faults, caplog)
    kiosk.shots("sorry")
    monkeypatch.undo()
    identify(kiosk)  # the next citizen is served by the same process
    assert app.session.step is Step.PERSONAL_DATA


def test_exception_in_a_job_result_is_contained(kiosk, monkeypatch, caplog):
    caplog.set_level(logging.ERROR)
    app = kiosk.app
    faults = app.faults
    kiosk.tap_id("start")
    _break(kiosk.screen(), "_read", monkeypatch)  # the card is read, then showing it fails
    citizen = make_citizen(CITIZEN)
    screen = kiosk.screen()
    for name, text in (("personal_id", citizen.personal_id), ("birth_date", f"{citizen.birth_date:%d%m%Y}"),
                       ("expiry_date", f"{citizen.expiry_date:%d%m%Y}")):
        kiosk.tap_id(name)
        for digit in text:
            kiosk.key(screen.ids.pad, digit)
    kiosk.tap_id("read")
    _assert_contained(kiosk, faults, caplog)


def test_job_failure_without_a_handler_is_contained(kiosk, caplog):
    caplog.set_level(logging.ERROR)
    app = kiosk.app
    identify(kiosk)
    faults = app.faults

    def work(_cancel):
        raise RuntimeError("a bug in the kiosk")

    app.jobs.start("broken", work)
    _assert_contained(kiosk, faults, caplog)


def test_exception_in_a_plain_thread_is_contained(kiosk, caplog):
    caplog.set_level(logging.ERROR)
    app = kiosk.app
    identify(kiosk)
    faults = app.faults

    def body():
        raise RuntimeError("a bug in the kiosk")

    thread = threading.Thread(target=body, name="stray")
    thread.start()
    thread.join()
    _assert_contained(kiosk, faults, caplog)


def test_a_fault_while_clearing_a_screen_still_wipes_and_says_sorry(kiosk, monkeypatch, caplog):
    caplog.set_level(logging.ERROR)
    app = kiosk.app
    identify(kiosk)
    faults = app.faults
    _break(app.root.get_screen("review"), "clear", monkeypatch)
    _break(kiosk.screen(), "confirm", monkeypatch)
    kiosk.tap_id("confirm")
    _assert_contained(kiosk, faults, caplog)
    assert any("clearing the review screen failed" in record.getMessage() for record in caplog.records)
    assert not app.root.get_screen("personal_data").boxes["full_name"].value
