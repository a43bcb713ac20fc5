"""A monkey for the kiosk: random taps, drags and key presses in bursts over whatever is on the
screen (dialogs, keyboards, the header's language and contrast switches, officer and technician
screens included), with a *guide* between the bursts that moves the enrolment on from wherever the
monkey left it, so that every screen of complete simulated enrolments is visited.

After every burst the garbage collector runs (a weak reference that was kept by mistake fails at
the next touch, not at once) and the invariants are checked: no fault was contained (the app's
count did not move) and the guide can still move on (no screen is stuck).  A failure names the
seed; the test keeps failing seeds in its list.
"""

from __future__ import annotations

import functools
import gc
import os
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

from babel.messages.pofile import read_po

from hardware_sim.citizens import make_citizen
from kiosk import i18n

from .conftest import CITIZEN
from .steps import OFFICER_PIN, TECHNICIAN_PIN, top_dialog, type_digits_on

#: (event kind, weight): taps on a widget that takes touches, taps anywhere, drags, key presses.
EVENTS = (("widget", 55), ("anywhere", 20), ("drag", 15), ("key", 10))
KEYS = (13, 27, 8, 9, 32, 273, 274, 275, 276, 48, 49, 97, 122)
"""Enter, Escape, Backspace, Tab, Space, the arrows, '0', '1', 'a', 'z' (Kivy key codes)."""
GUIDE_STEPS = 3
"""Steps of the guide after each burst: enough that the enrolment moves on although a burst often
presses "Back" or "Cancel" somewhere."""
STUCK_S = 90.0
COLLECT_EVERY_S = 1.0
"""The garbage collector runs between touches at most this often: enough to catch a widget kept only
by a weak reference (it runs dozens of times per screen visit), while a collection of the whole test
session's heap, a second or more on a loaded machine, does not become most of the run."""
"""The guide gives up (the screen is stuck) when it cannot leave a screen for this long."""


class MonkeyFailure(AssertionError):
    """The kiosk failed under the monkey: the message names the seed and the screen."""


@dataclass
class MonkeyReport:
    seed: int
    events: Counter = field(default_factory=Counter)
    screens: Counter = field(default_factory=Counter)
    enrolments: int = 0

    def __str__(self) -> str:
        return (f"monkey seed {self.seed}: {sum(self.events.values())} events ({dict(self.events)}), "
                f"{self.enrolments} enrolments completed, screens visited {dict(self.screens)}")


class Monkey:
    """Random input in bursts, and a guide through the enrolment between them."""

    def __init__(self, kiosk, seed: int, *, burst: int = 50) -> None:
        self.kiosk = kiosk
        self.app = kiosk.app
        self.random = random.Random(seed)
        self.report = MonkeyReport(seed)
        self.burst = burst
        self.citizen = make_citizen(CITIZEN)
        self.wanted: set[str] = set()
        """Side screens the guide should open from the welcome screen (widgets still to touch there)."""
        self.seen: dict[str, set[str]] = {}
        """Texts shown, by screen or dialog (filled by :meth:`touch_every`)."""
        self._faults = self.app.faults
        self._collected_at = 0.0

    # -- the run --------------------------------------------------------------------------------

    def run(self, events: int, *, enrolments: int = 1) -> MonkeyReport:
        """Bursts until ``events`` were sent and ``enrolments`` completed (and the officer's and
        technician's screens visited)."""
        started = time.monotonic()
        while (sum(self.report.events.values()) < events or self.report.enrolments < enrolments
               or not {"officer", "technician"} <= set(self.report.screens)):
            self._burst()
            for _step in range(GUIDE_STEPS):
                self._guide()
            if os.environ.get("MONKEY_TRACE"):
                print(f"{time.monotonic() - started:6.1f} s {self.app.root.current}: {self.report}",
                      file=sys.__stderr__)
            if time.monotonic() - started > 30 * 60:
                raise self._failure("the run took more than 30 minutes")
        return self.report

    def _failure(self, what: str) -> MonkeyFailure:
        return MonkeyFailure(f"seed {self.report.seed}, on the {self.app.root.current} screen: {what}\n{self.report}")

    def _check(self, *, collect: bool = True) -> None:
        if collect and time.monotonic() - self._collected_at >= COLLECT_EVERY_S:
            gc.collect()
            self._collected_at = time.monotonic()
        self.kiosk.pump(0.05)
        if self.app.faults != self._faults:
            raise self._failure("an exception reached the containment (see the log for its traceback)")

    def _visit(self) -> None:
        self.report.screens[self.app.root.current] += 1

    def touch_every(self, screens: set[str], *, passes: int = 12) -> dict[str, set[str]]:
        """Touch every widget that takes touches on each of ``screens`` (and in every dialog met on
        the way) once, enabled; the guide moves on between.  Returns what is still untouched after
        ``passes`` rounds through the enrolment (empty when all was touched); ``seen`` collects each
        screen's texts while it is shown in Vietnamese, for the caller's language checks."""
        touched: dict[str, set[str]] = {}
        untouched: dict[str, set[str]] = {}
        openers: dict[str, tuple[str, tuple[str, ...]]] = {}
        """dialog -> the screen and the taps there that open it (:data:`CHOSEN_FIRST` included)"""
        reopened: Counter = Counter()
        last_screen_tap = ("", "")
        started = time.monotonic()
        for _ in range(passes * 100):
            dialog = top_dialog(self.app)
            owner = dialog if dialog is not None else self.app.root.current_screen
            name = type(dialog).__name__ if dialog is not None else self.app.root.current
            self._visit()
            if self.app.lang == "vi":
                self.seen.setdefault(name, set()).update(_texts(owner))
            keys = {_key(owner, widget): widget for widget in self._targets()}
            untouched[name] = {key for key, widget in keys.items() if key not in touched.get(name, set())}
            pending = [key for key in sorted(untouched[name], key=_leaves_last) if not keys[key].disabled]
            # A dialog opened from here with widgets still untouched: open it again the same way
            # (a few times at most: the screen may no longer offer it).
            reopen = next((taps for opened, (screen, taps) in openers.items()
                           if screen == name and untouched.get(opened) and reopened[opened] < passes
                           and all(key in keys and not keys[key].disabled for key in taps)), ())
            if pending or reopen:
                taps = (pending[0],) if pending else reopen
                for key in taps:
                    touched.setdefault(name, set()).add(key)
                    untouched[name].discard(key)
                    if keys[key].get_root_window() is not None:
                        self.kiosk.tap(keys[key])
                    self.report.events["every"] += 1
                    if dialog is None:
                        last_screen_tap = (name, key)
                if not pending:
                    reopened.update(opened for opened, (_screen, taps) in openers.items() if taps == reopen)
                self._check(collect=self.report.events["every"] % 10 == 0)
            else:
                self._guide()
            opened = top_dialog(self.app)
            if opened is not None and opened is not dialog and (pending or reopen or dialog is not None):
                # Opened by these taps, or past a PIN (typed by the guide) by the screen's last tap.
                screen, key = last_screen_tap
                openers.setdefault(type(opened).__name__, (screen, (*CHOSEN_FIRST.get(key, ()), key)))
            if os.environ.get("MONKEY_TRACE"):
                print(f"{time.monotonic() - started:6.1f} s {name}: {len(pending)} pending "
                      f"{pending[:1] or reopen}; still to touch: {({w: sorted(untouched[w]) for w in self.wanted})}",
                      file=sys.__stderr__)
            self.wanted = {screen for screen, keys in untouched.items() if keys}
            if set(screens) <= set(untouched) and not self.wanted:
                break
        return {name: keys for name, keys in untouched.items() if keys}

    # -- random input ---------------------------------------------------------------------------

    def _burst(self) -> None:
        self._visit()
        kinds, weights = zip(*EVENTS, strict=True)
        for _ in range(self.random.randint(5, self.burst)):
            kind = self.random.choices(kinds, weights)[0]
            getattr(self, f"_{kind}")()
            self.report.events[kind] += 1
            self.kiosk.pump(self.random.choice((0.0, 0.0, 0.01, 0.05)))
        self._check()

    def _touch(self, points: list[tuple[float, float]]) -> None:
        from kivy.tests.common import UnitTestTouch

        touch = UnitTestTouch(*points[0])
        self.kiosk.as_main_loop(touch.touch_down)
        for x, y in points[1:]:
            self.kiosk.pump(0.01)
            self.kiosk.as_main_loop(lambda x=x, y=y: touch.touch_move(x, y))
        self.kiosk.pump(self.random.choice((0.0, 0.01, 0.1)))  # a tap, or a press held a moment
        self.kiosk.as_main_loop(touch.touch_up)

    def _widget(self) -> None:
        targets = self._targets()
        if not targets:
            self._anywhere()
            return
        widget = self.random.choice(targets)
        self._touch([widget.to_window(*widget.center)])

    def _anywhere(self) -> None:
        width, height = self.app.root_window.size
        self._touch([(self.random.uniform(0, width), self.random.uniform(0, height))])

    def _drag(self) -> None:
        width, height = self.app.root_window.size
        x, y = self.random.uniform(0, width), self.random.uniform(0, height)
        points = [(x, y)]
        for _ in range(self.random.randint(2, 8)):
            x = min(max(x + self.random.uniform(-200, 200), 0), width - 1)
            y = min(max(y + self.random.uniform(-200, 200), 0), height - 1)
            points.append((x, y))
        self._touch(points)

    def _key(self) -> None:
        window = self.app.root_window
        key = self.random.choice(KEYS)
        text = chr(key) if 32 <= key < 127 else None
        self.kiosk.as_main_loop(lambda: window.dispatch("on_key_down", key, 0, text, []))
        self.kiosk.as_main_loop(lambda: window.dispatch("on_key_up", key, 0))

    def _targets(self) -> list:
        """Widgets that take touches and show on top: those of the dialog in front, else the screen's."""
        from kivy.uix.behaviors import ButtonBehavior
        from kivy.uix.checkbox import CheckBox

        dialog = top_dialog(self.app)
        root = dialog if dialog is not None else self.app.root.current_screen
        return [widget for widget in root.walk(restrict=True)
                if isinstance(widget, ButtonBehavior | CheckBox) and widget.get_root_window() is not None
                and _visible(widget)]

    # -- the guide ------------------------------------------------------------------------------

    def _guide(self) -> None:
        """Move on from wherever the monkey left the kiosk, by the touches a citizen and the officer
        would make: one step of the enrolment (or out of a side screen)."""
        dialog = top_dialog(self.app)
        try:
            if dialog is not None:
                self._answer(dialog)
            else:
                self._visit()
                getattr(self, f"_on_{self.app.root.current}")()
        except MonkeyFailure:
            raise
        except AssertionError as error:  # the guide's next touch went stale (a job moved the screen on)
            if "is not on the screen" not in str(error) and "is disabled" not in str(error):
                raise
        self._check()

    def _tap(self, widget) -> None:
        if widget.get_root_window() is None or widget.disabled or not _visible(widget):
            return
        self.kiosk.tap(widget)

    def _tap_id(self, name: str) -> None:
        self._tap(self.app.root.current_screen.ids[name])

    def _until(self, predicate, what: str, timeout: float = STUCK_S) -> None:
        try:
            self.kiosk.until(predicate, timeout, what)
        except AssertionError as error:
            raise self._failure(str(error)) from None

    def _answer(self, dialog) -> None:
        """The dialog in front: the right PIN (or cancel when it is locked), the safe answer, I am here."""
        ids = dialog.ids
        name = type(dialog).__name__
        if name == "PinDialog":
            if dialog.message and self.random.random() < 0.5:  # refused (perhaps locked out): later
                self._tap(ids.cancel)
                return
            pin = TECHNICIAN_PIN if dialog.title == "Technician PIN" else OFFICER_PIN
            self.kiosk.key(ids.pad, self._clear_label(ids.pad))
            type_digits_on(self.kiosk, ids.pad, pin)
            self._tap(ids.ok)
            self._until(lambda: dialog.message or dialog.parent is None, "the PIN verdict", 10)
        elif name == "ConfirmDialog":
            self._tap(ids.no)
        elif name == "ExceptionDialog":
            self._tap(ids.bandaged)
        elif "still_here" in ids:
            self._tap(ids.still_here)
        else:
            cancel = ids.get("cancel") or ids.get("no") or ids.get("ok")
            if cancel is None:
                raise self._failure(f"a {name} dialog the guide does not know")
            self._tap(cancel)

    @staticmethod
    def _clear_label(pad) -> str:
        for child in pad.walk(restrict=True):
            if getattr(child, "text", "") in ("Clear", "Xóa hết"):
                return child.text
        raise AssertionError("the numeric pad has no clear key")

    def _on_welcome(self) -> None:
        choice = self.random.random()
        if "officer" not in self.report.screens or "officer" in self.wanted or choice < 0.1:
            self._tap_id("officer")
        elif "technician" not in self.report.screens or "technician" in self.wanted or choice < 0.2:
            self._tap_id("technician")
        else:
            self._tap_id("start")

    def _on_identify(self) -> None:
        screen = self.app.root.current_screen
        if screen.ids.read.disabled:  # a read is under way
            self._until(lambda: not screen.ids.read.disabled or self.app.root.current != "identify", "the card read")
            return
        fields = (("personal_id", self.citizen.personal_id),) if screen.manual else (
            ("personal_id", self.citizen.personal_id), ("birth_date", f"{self.citizen.birth_date:%d%m%Y}"),
            ("expiry_date", f"{self.citizen.expiry_date:%d%m%Y}"))
        for name, digits in fields:
            self._tap_id(name)
            self.kiosk.key(screen.ids.pad, self._clear_label(screen.ids.pad))
            type_digits_on(self.kiosk, screen.ids.pad, digits)
        self._tap_id("read")
        self._until(lambda: not screen.ids.read.disabled or self.app.root.current != "identify", "the card read")

    def _on_personal_data(self) -> None:
        screen = self.app.root.current_screen
        session = self.app.session
        for problem in session.problems():  # what the monkey typed: the citizen puts it right
            good = {"full_name": self.citizen.full_name, "date_of_birth": f"{self.citizen.birth_date:%d/%m/%Y}",
                    "sex": "Nam" if self.citizen.sex == "M" else "Nữ", "personal_id": self.citizen.personal_id}
            session.set_value(problem.field, good.get(problem.field, "Hà Nội"))
        screen.refresh()
        self._tap_id("confirm")

    def _on_face(self) -> None:
        screen = self.app.root.current_screen
        self._until(lambda: screen.mode == "captured" or self.app.root.current != "face", "the portrait")
        if self.app.root.current == "face":
            self._tap_id("accept")

    def _on_fingers(self) -> None:
        screen = self.app.root.current_screen
        fingers = self.app.session.fingers
        self._until(lambda: fingers.complete or fingers.unresolved or self.app.root.current != "fingers",
                    "the fingers")
        if self.app.root.current != "fingers":
            return
        if fingers.unresolved and not fingers.complete:
            screen.ids.hands.selected = int(next(iter(fingers.unresolved)))
            self._tap_id("retake")
            return
        self._until(lambda: not screen.ids.proceed.disabled, "Continue", 10)
        self._tap_id("proceed")

    def _on_review(self) -> None:
        self._tap_id("confirm")

    def _on_consent(self) -> None:
        screen = self.app.root.current_screen
        if not screen.confirmed:
            self._tap_id("confirm")
        self.kiosk.key(screen.ids.pad, self._clear_label(screen.ids.pad))
        type_digits_on(self.kiosk, screen.ids.pad, OFFICER_PIN)
        self._tap_id("authorise")
        self._until(lambda: self.app.root.current != "consent" or not screen.ids.authorise.disabled, "sealing", 30)

    def _on_receipt(self) -> None:
        self.report.enrolments += 1
        self._tap_id("finish")

    def _on_error(self) -> None:
        self._tap_id("retry")

    def _on_sorry(self) -> None:
        raise self._failure("the sorry screen: a fault was contained")

    def _on_out_of_service(self) -> None:
        """Out of service: a device the monkey left busy (a live test on the technician's screen) failed
        the check; nobody can start, so the guide waits for the station to open again by itself."""
        self.kiosk.until(lambda: self.app.root.current != "out_of_service", 60, "the station to open again")

    def _on_officer(self) -> None:
        self._tap_id("leave")

    def _on_technician(self) -> None:
        self._tap_id("leave")


CHOSEN_FIRST = {"declare": ("FingerButton:1",), "retake": ("FingerButton:1",)}
"""Buttons that act on a choice made before them (a finger): the touch that makes it."""
LEAVING = ("back", "cancel", "leave", "finish", "confirm", "proceed", "read", "accept", "start", "authorise",
           "retry", "ok", "yes", "no", "still_here", "officer", "technician", "edit_data", "retake")
"""Widget names that (may) leave the screen: touched after the others on a visit."""


def _key(owner, widget) -> str:
    """A widget's stable name on its screen or dialog: its kv id, else its kind and text."""
    for name, candidate in owner.ids.items():
        if candidate.__self__ is widget:
            return name
    for walker in owner.walk(restrict=True):  # ids of the screen's sub-widgets (keyboards, pads, header)
        for name, candidate in getattr(walker, "ids", {}).items():
            if walker is not owner and candidate.__self__ is widget:
                return f"{type(walker).__name__}.{name}"
    if hasattr(widget, "position"):
        return f"{type(widget).__name__}:{widget.position}"
    text = getattr(widget, "text", "")
    return f"{type(widget).__name__}:{_message_ids().get(text, text)}"  # the same key in either language


@functools.cache
def translations() -> dict[str, str]:
    """The Vietnamese catalogue: message id (the English) -> its translation, for those translated."""
    with i18n.catalogue_path("vi").open("rb") as stream:
        return {message.id: message.string for message in read_po(stream, locale="vi")
                if message.id and isinstance(message.string, str) and message.string}


@functools.cache
def _message_ids() -> dict[str, str]:
    """Vietnamese text -> its message id, so a key's name does not change with the language."""
    return {text: message_id for message_id, text in translations().items()}


def _leaves_last(key: str) -> tuple[bool, str]:
    return any(word in key.lower() for word in LEAVING), key


def _texts(owner) -> set[str]:
    return {widget.text for widget in owner.walk(restrict=True)
            if isinstance(getattr(widget, "text", None), str) and widget.text.strip() and _visible(widget)}


def _visible(widget) -> bool:
    """Shown (not faded out by its own or a parent's opacity) and inside the window."""
    node = widget
    while node is not None and node is not node.parent:
        if getattr(node, "opacity", 1) == 0:
            return False
        node = node.parent
    x, y = widget.to_window(*widget.center)
    width, height = widget.get_root_window().size
    return 0 <= x < width and 0 <= y < height
