"""Fingers: the ten-print session with a two-hand diagram (each finger to do, current, accepted with
its quality, forced, or declared an exception), the instruction for the current finger, the quality
check's feedback and the last impression the scanner took.  The officer declares exceptions (after
their PIN) and can have any finger taken again.

The ten-print session runs in a job; its events come through the session's finger listeners on
the capture thread and are posted here with ``Clock.schedule_once``.  An event of a job that was
stopped meanwhile (a wipe, leaving the screen, a restart) is dropped when it arrives: no impression
of a citizen shows after their session was wiped.  A scanner fault shows the error screen; after
the retry, the session continues with the fingers still to take.

The instruction is never blank while the screen shows: it says what the citizen (or the officer)
should do now, from the job's phase (scanner getting ready, place a finger, lift it) or, with no
job running, from the session (all done, the officer must decide).  The feedback has a tone
(``Status`` in ``widgets.kv``): a good result is green, a print to improve orange, an error red.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import numpy as np
from kivy.clock import Clock
from kivy.properties import NumericProperty, StringProperty
from kivy.uix.modalview import ModalView

from capture.finger.positions import ExceptionReason, FingerPosition
from capture.finger.tenprint import DUPLICATE_FEEDBACK, AttemptResult, Event, Forced, LiftFinger, Prompt
from drivers.errors import Cancelled
from kiosk.i18n import N_, _
from kiosk.session import SessionError
from kiosk.ui.textures import image_texture
from kiosk.ui.widgets import KioskScreen, finger_states

GETTING_READY = N_("Please wait: the scanner is getting ready.")
PLACE = N_("Place your {finger} on the scanner.")
LIFT = N_("Lift your finger.")
AGAIN = N_("Please try again.")
GOOD = N_("Good. Quality {score}.")
KEPT = N_("Kept with quality {score} after {attempts} attempts.")
ALL_DONE = N_("All fingers are done. Touch Continue.")
OFFICER_DECIDES = N_("The officer must decide about the finger marked in red.")
CHOOSE_FIRST = N_("Touch a finger in the picture first.")

Message = tuple[str, dict[str, Any], str]
"""A message id, its values (strings among them are message ids too) and its tone."""
NOTHING: Message = ("", {}, "info")


class FingersScreen(KioskScreen):
    instruction = StringProperty("")
    feedback = StringProperty("")
    feedback_tone = StringProperty("info")
    """The ``Status`` tone of the feedback: info | ok | warn | bad."""
    impression_caption = StringProperty("")
    """The name of the finger whose impression the frame shows (or is waiting for)."""
    current = NumericProperty(0)

    def on_kv_post(self, _base: Any) -> None:
        self._job: threading.Event | None = None
        self._restart = False
        self._lifting = False
        self._capture = threading.local()
        """On the capture thread: the cancel event of the job running there (see :meth:`_event`)."""
        self._feedback: Message = NOTHING
        self._impression = 0

    # -- entering and leaving -----------------------------------------------------------------

    def on_pre_enter(self, *_args: Any) -> None:
        self.app.bind(lang=self._translate)
        self.app.session.finger_listeners.append(self._event)  # while shown: the session outlives the screen
        self.ids.hands.selected = 0
        self.refresh()
        self._run()

    def on_leave(self, *_args: Any) -> None:
        self._unbind()
        self._stop()

    def _unbind(self) -> None:
        self.app.unbind(lang=self._translate)
        with contextlib.suppress(ValueError):  # not shown since it was last left
            self.app.session.finger_listeners.remove(self._event)

    def clear(self) -> None:
        # Unbound first: the wipe resets the language before it leaves this screen, and nothing may
        # be drawn here again from what is being cleared.
        self._unbind()
        self._stop()
        self._job = None  # its end is never delivered: the wipe dropped the old session's results
        self.current = 0
        self._lifting = False
        self.ids.hands.selected = 0
        self.ids.hands.states = {}
        self._feedback = NOTHING
        self._impression = 0
        self.ids.impression.texture = None
        self.instruction = self.feedback = self.impression_caption = ""
        self.feedback_tone = "info"

    # -- the capture job ----------------------------------------------------------------------

    def _run(self) -> None:
        """Start the ten-print job unless one runs; a job still stopping is restarted when it ends."""
        fingers = self.app.session.fingers
        if self._job is not None:
            self._restart = self._restart or self._job.is_set()
            self.refresh()
            return
        if not [p for p in fingers.remaining() if p not in fingers.unresolved]:
            self.refresh()
            return
        services = self.app.services
        capture = self._capture

        def work(cancel: threading.Event) -> None:
            capture.cancel = cancel
            with services.scanner() as scanner:
                fingers.run(scanner, cancel)

        self.current = 0
        self._lifting = False
        self._job = self.app.jobs.start("tenprint", work, self._ended, self._ended)
        self.refresh()

    def _stop(self) -> None:
        """Stop the job (it closes the scanner, then :meth:`_ended` runs)."""
        self._restart = False
        if self._job is not None:
            self._job.set()

    def _ended(self, outcome: BaseException | None) -> None:
        self._job = None
        self.current = 0
        self._lifting = False
        if self._restart and self.manager is not None and self.manager.current == self.name:
            self._restart = False
            self._run()
            return
        self._restart = False
        if isinstance(outcome, Cancelled):
            return
        if isinstance(outcome, BaseException):
            self.app.fail(outcome, "fingers")
            return
        if self.app.session.fingers.unresolved:
            self._feedback = NOTHING  # "place the finger shown" no longer holds: the officer decides now
        self.refresh()

    def _event(self, event: Event) -> None:
        """From the capture thread (the session's finger listener): post the event with the cancel
        event of the job that produced it, so that a stopped job's late events are dropped."""
        cancel: threading.Event | None = getattr(self._capture, "cancel", None)
        Clock.schedule_once(lambda _dt: self._show_event(event, cancel), 0)

    def _show_event(self, event: Event, cancel: threading.Event | None) -> None:
        if cancel is None or cancel.is_set():
            return  # not from a running job of this screen: the session it belonged to may be gone
        if isinstance(event, Prompt):
            self._lifting = False
            self.current = int(event.position)
            if event.attempt == 1:  # a new finger: an empty frame under its name, nothing said yet
                self._feedback = NOTHING
                self._show_impression(int(event.position), None)
        elif isinstance(event, AttemptResult):
            self._show_impression(int(event.position), event.pixels)
            if event.accepted:
                self._feedback = (GOOD, {"score": event.report.score}, "ok")
            elif event.duplicate_of is not None:
                self._feedback = (DUPLICATE_FEEDBACK, {}, "bad")
            else:
                self._feedback = (event.report.feedback or AGAIN, {}, "warn")
        elif isinstance(event, Forced):
            self._feedback = (KEPT, {"score": event.quality, "attempts": event.attempts}, "warn")
        elif isinstance(event, LiftFinger):
            self._lifting = True
        self.refresh()

    # -- showing ------------------------------------------------------------------------------

    def refresh(self) -> None:
        fingers = self.app.session.fingers
        unresolved = fingers.unresolved
        order = set(fingers.policy.order)
        states = finger_states(fingers)
        for position in FingerPosition:
            if position in states:
                continue
            if position in unresolved:
                states[position] = ("unresolved", "?")
            elif position == self.current:
                states[position] = ("current", "")
            elif position not in order:
                states[position] = ("unused", "")
            else:
                states[position] = ("todo", "")
        self.ids.hands.states = states
        self.ids.proceed.disabled = not fingers.complete
        self._translate()

    def _instruction(self) -> Message:
        """What to do now: from the job's phase while it runs, else from the session."""
        fingers = self.app.session.fingers
        if self._job is not None:
            if self._lifting:
                return (LIFT, {}, "info")
            if fingers.complete:  # the last finger was just taken; the job is closing the scanner
                return (ALL_DONE, {}, "info")
            if self.current:
                return (PLACE, {"finger": FingerPosition(self.current).label}, "info")
        elif fingers.complete:
            return (ALL_DONE, {}, "info")
        elif fingers.unresolved:
            return (OFFICER_DECIDES, {}, "info")
        return (GETTING_READY, {}, "info")  # a job starting, or about to be (re)started

    def _translate(self, *_args: Any) -> None:
        self.instruction = _render(self._instruction())
        self.feedback = _render(self._feedback)
        self.feedback_tone = self._feedback[2]
        label = _(FingerPosition(self._impression).label) if self._impression else ""
        self.impression_caption = label[:1].upper() + label[1:]

    def _show_impression(self, position: int, pixels: np.ndarray | None) -> None:
        """Show ``pixels`` (or an empty frame) under the name of finger ``position`` (0: no name)."""
        self._impression = position
        self.ids.impression.texture = image_texture(pixels) if pixels is not None else None
        self._translate()

    def _say(self, message: str, tone: str, values: dict[str, Any] | None = None) -> None:
        self._feedback = (message, dict(values or {}), tone)
        self._translate()

    # -- the officer's and citizen's buttons ------------------------------------------------

    def selected_position(self) -> FingerPosition | None:
        chosen = self.ids.hands.selected or self.current
        return FingerPosition(chosen) if chosen else None

    def declare(self) -> None:
        """The officer says the chosen finger cannot be taken: only after their PIN."""
        position = self.selected_position()
        if position is None:
            self._say(CHOOSE_FIRST, "info")
            return
        self.app.officer_action(lambda: ExceptionDialog(position=int(position), declare=self._declare).open())

    def _declare(self, position: FingerPosition, reason: ExceptionReason) -> None:
        try:
            self.app.session.declare_exception(position, reason)
        except SessionError as error:
            self._say(error.message, "bad", error.values)
            return
        if self._job is not None and position == self.current:
            self._restart = True  # the job waits for this very finger: stop it, it restarts with the next one
            self._job.set()
            self.current = 0
            self._lifting = False
        if position == self._impression:
            self._show_impression(0, None)  # no frame waits for a finger that will not be taken
        self.refresh()
        self._run()

    def retake(self) -> None:
        position = self.selected_position()
        if position is None:
            self._say(CHOOSE_FIRST, "info")
            return
        self.app.session.fingers.retake(position)
        self.refresh()
        self._run()

    def proceed(self) -> None:
        try:
            self.app.session.fingers_done()
        except SessionError as error:
            self._say(error.message, "bad", error.values)
            return
        self.app.show_step()

    def back(self) -> None:
        self._stop()
        self.app.session.back()
        self.app.show_step()


def _render(message: Message) -> str:
    """``message`` in the current language (its string values are message ids too)."""
    text, values, _tone = message
    if not text:
        return ""
    return _(text).format(**{key: _(value) if isinstance(value, str) else value for key, value in values.items()})


class ExceptionDialog(ModalView):
    """The officer says why a finger cannot be printed."""

    position = NumericProperty(0)

    def __init__(self, *, declare: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._declare = declare

    @property
    def finger_label(self) -> str:
        return FingerPosition(self.position).label

    def choose(self, code: str) -> None:
        reason = next(reason for reason in ExceptionReason if reason.code == code)
        self.dismiss()
        self._declare(FingerPosition(self.position), reason)
