"""Fingers: the ten-print session with a two-hand diagram (each finger to do, current, accepted with
its quality, forced, or declared an exception), the instruction for the current finger and the
quality check's feedback.  The officer declares exceptions and can have any finger taken again.

The ten-print session runs in a job; its events come through the session's finger listeners on
the capture thread and are posted here with ``Clock.schedule_once``.  A scanner fault shows the
error screen; after the retry, the session continues with the fingers still to take.
"""

from __future__ import annotations

import threading
from typing import Any

from kivy.clock import Clock
from kivy.properties import NumericProperty, StringProperty
from kivy.uix.modalview import ModalView

from capture.finger.positions import ExceptionReason, FingerPosition
from capture.finger.tenprint import DUPLICATE_FEEDBACK, AttemptResult, Event, Forced, Prompt
from drivers.errors import Cancelled, DeviceError
from kiosk.i18n import N_, _
from kiosk.session import SessionError
from kiosk.ui.widgets import KioskScreen, finger_states

PLACE = N_("Place your {finger} on the scanner.")
AGAIN = N_("Please try again.")
GOOD = N_("Good. Quality {score}.")
KEPT = N_("Kept with quality {score} after {attempts} attempts.")
ALL_DONE = N_("All fingers are done. Touch Continue.")
OFFICER_DECIDES = N_("The officer must decide about the finger marked in red.")


class FingersScreen(KioskScreen):
    instruction = StringProperty("")
    feedback = StringProperty("")
    current = NumericProperty(0)

    def on_kv_post(self, _base: Any) -> None:
        self._job: threading.Event | None = None
        self._restart = False
        self._instruction: tuple[str, dict[str, Any]] = ("", {})
        self._feedback: tuple[str, dict[str, Any]] = ("", {})
        self.app.session.finger_listeners.append(self._event)

    # -- entering and leaving -----------------------------------------------------------------

    def on_pre_enter(self, *_args: Any) -> None:
        self.app.bind(lang=self._translate)
        self.ids.hands.selected = 0
        self.refresh()
        self._run()

    def on_leave(self, *_args: Any) -> None:
        self.app.unbind(lang=self._translate)
        self._stop()

    def clear(self) -> None:
        self._stop()
        self._job = None  # its end is never delivered: the wipe dropped the old session's results
        self.current = 0
        self.ids.hands.selected = 0
        self.ids.hands.states = {}
        self._instruction = self._feedback = ("", {})
        self.instruction = self.feedback = ""

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

        def work(cancel: threading.Event) -> None:
            with services.scanner() as scanner:
                fingers.run(scanner, cancel)

        self._job = self.app.jobs.start("tenprint", work, self._ended, self._ended)

    def _stop(self) -> None:
        """Stop the job (it closes the scanner, then :meth:`_ended` runs)."""
        self._restart = False
        if self._job is not None:
            self._job.set()

    def _ended(self, outcome: BaseException | None) -> None:
        self._job = None
        self.current = 0
        if self._restart and self.manager is not None and self.manager.current == self.name:
            self._restart = False
            self._run()
            return
        self._restart = False
        if isinstance(outcome, Cancelled):
            return
        if isinstance(outcome, BaseException):
            if isinstance(outcome, DeviceError):
                self.app.session.device_failed(outcome)
            self.app.fail(outcome, "fingers")
            return
        self.refresh()

    def _event(self, event: Event) -> None:
        """From the capture thread (the session's finger listener)."""
        Clock.schedule_once(lambda _dt: self._show_event(event), 0)

    def _show_event(self, event: Event) -> None:
        if isinstance(event, Prompt):
            self.current = int(event.position)
            self._instruction = (PLACE, {"finger": event.position.label})
            self._feedback = ((event.feedback or AGAIN), {}) if event.attempt > 1 else ("", {})
        elif isinstance(event, AttemptResult):
            if event.accepted:
                self._feedback = (GOOD, {"score": event.report.score})
            elif event.duplicate_of is not None:
                self._feedback = (DUPLICATE_FEEDBACK, {})
            else:
                self._feedback = (event.report.feedback or AGAIN, {})
        elif isinstance(event, Forced):
            self._feedback = (KEPT, {"score": event.quality, "attempts": event.attempts})
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
        complete = fingers.complete
        self.ids.proceed.disabled = not complete
        if complete:
            self._instruction = (ALL_DONE, {})
        elif unresolved and self._job is None:
            self._instruction = (OFFICER_DECIDES, {})
        self._translate()

    def _translate(self, *_args: Any) -> None:
        message, values = self._instruction
        self.instruction = _(message).format(**{k: _(v) if isinstance(v, str) else v for k, v in values.items()}) \
            if message else ""
        message, values = self._feedback
        self.feedback = _(message).format(**values) if message else ""

    # -- the officer's and citizen's buttons ------------------------------------------------

    def selected_position(self) -> FingerPosition | None:
        chosen = self.ids.hands.selected or self.current
        return FingerPosition(chosen) if chosen else None

    def declare(self) -> None:
        position = self.selected_position()
        if position is None:
            self.feedback = _("Touch a finger in the picture first.")
            return
        ExceptionDialog(position=int(position), declare=self._declare).open()

    def _declare(self, position: FingerPosition, reason: ExceptionReason) -> None:
        self.app.session.fingers.declare_exception(position, reason)
        if self._job is not None and position == self.current:
            self._restart = True  # the job waits for this very finger: stop it, it restarts with the next one
            self._job.set()
        self.refresh()
        self._run()

    def retake(self) -> None:
        position = self.selected_position()
        if position is None:
            self.feedback = _("Touch a finger in the picture first.")
            return
        self.app.session.fingers.retake(position)
        self.refresh()
        self._run()

    def proceed(self) -> None:
        try:
            self.app.session.fingers_done()
        except SessionError as error:
            self.feedback = _(error.message)
            return
        self.app.show_step()

    def back(self) -> None:
        self._stop()
        self.app.session.back()
        self.app.show_step()


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
