"""The ten-print session: order, thresholds, retries, forced prints, exceptions, duplicates, cancel, failures.

Most tests drive the session with an in-memory scanner (the R30x simulator moves each image over the
serial line in 3.5 s, too slow for many sessions); the end-to-end tests use the simulated NB-1010-U
through its real driver and the scripted citizen.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from capture.finger.positions import ExceptionReason, FingerPosition
from capture.finger.quality import assess
from capture.finger.tenprint import (
    DUPLICATE_FEEDBACK,
    AttemptResult,
    Event,
    Forced,
    LiftFinger,
    Prompt,
    TenPrintPolicy,
    TenPrintSession,
)
from drivers.device import DeviceInfo, DeviceKind, SelfTestResult
from drivers.errors import Cancelled, DeviceDisconnected, DeviceError, DeviceTimeout
from drivers.fingerprint.base import FingerImage, FingerprintScanner
from drivers.fingerprint.models import create_scanner
from hardware_sim.fingerprints import render_impression
from hardware_sim.scripted_citizen import ScriptedCitizen
from hardware_sim.simulated_station import SimulatedStation

SEED = 7
"""The citizen; the other capture tests use the same one, so its master prints are rendered once."""
SENSOR = {"width": 256, "height": 288, "ppi": 500}
THUMB, INDEX, MIDDLE = FingerPosition.RIGHT_THUMB, FingerPosition.RIGHT_INDEX, FingerPosition.RIGHT_MIDDLE
BLURRED = {"blur": 3.0}
"""Scores well under the default threshold (45) on citizen 7's first three fingers."""
LEFT_OUT = None
"""Script entry: the citizen does not put any finger down."""


class MemoryScanner(FingerprintScanner):
    """A scanner without a wire: the finger on it is an image in memory, captured at once (500 ppi).

    ``fail_on_capture`` makes the n-th capture (1-based) raise ``error``, as a device failing
    mid-session does.
    """

    poll_interval_s = 0.005

    def __init__(self, name: str = "memory", *, fail_on_capture: int | None = None,
                 error: Exception | None = None) -> None:
        self._info = DeviceInfo(DeviceKind.FINGERPRINT, "memory scanner", name)
        self._pixels: np.ndarray | None = None
        self._lock = threading.Lock()
        self.fail_on_capture = fail_on_capture
        self.error = error or DeviceDisconnected("the memory scanner was unplugged", device=name)
        self.captures = 0

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def info(self) -> DeviceInfo:
        return self._info

    def finger_present(self) -> bool:
        with self._lock:
            return self._pixels is not None

    def capture(self, cancel: threading.Event | None = None) -> FingerImage:
        self.captures += 1
        if self.captures == self.fail_on_capture:
            raise self.error
        with self._lock:
            pixels = self._pixels
        if pixels is None:
            raise DeviceError("capture: no finger on the sensor", device=self._info.address)
        return FingerImage(pixels.copy(), SENSOR["ppi"], self._info, datetime.now(UTC))

    def self_test(self) -> SelfTestResult:
        return SelfTestResult(True)

    def place_finger(self, pixels: np.ndarray) -> None:
        with self._lock:
            self._pixels = pixels

    def lift_finger(self) -> None:
        with self._lock:
            self._pixels = None


@dataclass
class Citizen:
    """The session's listener, playing the citizen at a :class:`MemoryScanner`.

    On a prompt it puts down what ``script`` says for (position, attempt): a dict with an optional
    ``finger`` (the position actually presented) and ``render_impression`` options, or
    :data:`LEFT_OUT`; by default the finger asked for, attempt-numbered.  It lifts after each result,
    or - with ``holds`` - only ``lift_delay_s`` after being told to (:class:`LiftFinger`), as a
    citizen who waits for the screen does; ``free_at_prompt`` records whether the sensor was free
    at each prompt.
    """

    scanner: MemoryScanner
    script: dict[tuple[int, int], dict[str, Any] | None] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    presented: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    on_prompt: Any = None
    """Optional extra reaction to a prompt (called with it before the finger is put down)."""
    holds: bool = False
    lift_delay_s: float | None = 0.2
    """With ``holds``: how long after :class:`LiftFinger` the finger leaves (None: never)."""
    free_at_prompt: list[bool] = field(default_factory=list)

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        if isinstance(event, Prompt):
            self.free_at_prompt.append(not self.scanner.finger_present())
            if self.on_prompt is not None:
                self.on_prompt(event)
            key = (int(event.position), event.attempt)
            style = self.script.get(key, {})
            if style is LEFT_OUT:
                return
            style = dict(style)
            finger = style.pop("finger", int(event.position))
            style.setdefault("attempt", event.attempt)
            pixels = render_impression(SEED, finger, **SENSOR, **style)
            self.presented[key] = pixels
            self.scanner.place_finger(pixels)
        elif isinstance(event, (AttemptResult, Forced)) and not self.holds:
            self.scanner.lift_finger()
        elif isinstance(event, LiftFinger) and self.lift_delay_s is not None:
            threading.Timer(self.lift_delay_s, self.scanner.lift_finger).start()

    def kinds(self) -> list[str]:
        return [type(e).__name__ for e in self.events]

    def prompts(self) -> list[tuple[int, int]]:
        return [(int(e.position), e.attempt) for e in self.events if isinstance(e, Prompt)]

    def results(self, position: int | None = None) -> list[AttemptResult]:
        return [e for e in self.events
                if isinstance(e, AttemptResult) and (position is None or e.position == position)]


def _session(citizen_script: dict | None = None, **policy: Any) -> tuple[TenPrintSession, Citizen, MemoryScanner]:
    scanner = MemoryScanner()
    citizen = Citizen(scanner, dict(citizen_script or {}))
    policy.setdefault("order", (THUMB, INDEX))
    return TenPrintSession(TenPrintPolicy(**policy), citizen), citizen, scanner


def _score(**style: Any) -> int:
    finger = style.pop("finger")
    return assess(render_impression(SEED, finger, **SENSOR, **style), SENSOR["ppi"]).score


# Order, thresholds, retries ---------------------------------------------------------------------------


def test_positions_are_taken_in_the_policy_order():
    session, citizen, scanner = _session(order=(MIDDLE, THUMB, INDEX))
    session.run(scanner)
    assert citizen.prompts() == [(3, 1), (1, 1), (2, 1)]
    assert "LiftFinger" not in citizen.kinds()  # lifted at once: nothing to tell
    assert list(session.samples) == [MIDDLE, THUMB, INDEX]
    assert session.complete and session.remaining() == []
    for position, sample in session.samples.items():
        assert sample.position == position and not sample.forced and len(sample.attempts) == 1
        assert np.array_equal(sample.pixels, citizen.presented[(position, 1)])
        assert sample.ppi == 500 and sample.device == scanner.info()
        assert sample.quality == sample.attempts[0].score >= 45


@pytest.mark.parametrize(("above_score", "accepted"), [(0, True), (1, False)], ids=["at", "one above"])
def test_a_print_at_the_threshold_is_accepted(above_score, accepted):
    score = _score(finger=1, attempt=1)
    session, citizen, scanner = _session(order=(THUMB,), threshold=score + above_score, max_attempts=1)
    session.run(scanner)
    assert [r.report.score for r in citizen.results()] == [score]
    assert citizen.results()[0].accepted is accepted
    assert session.samples[THUMB].forced is not accepted


def test_a_rejected_print_is_retried_with_feedback_in_the_next_prompt():
    session, citizen, scanner = _session({(1, 1): BLURRED}, order=(THUMB,))
    session.run(scanner)
    first, second = citizen.results()
    assert not first.accepted and first.report.score < 45 and first.report.feedback is not None
    assert second.accepted
    # Each result shows the citizen the impression it judged, the rejected one too.
    assert np.array_equal(first.pixels, citizen.presented[(1, 1)])
    assert np.array_equal(second.pixels, citizen.presented[(1, 2)])
    prompts = [e for e in citizen.events if isinstance(e, Prompt)]
    assert [p.feedback for p in prompts] == [None, first.report.feedback]
    sample = session.samples[THUMB]
    assert not sample.forced
    assert [a.score for a in sample.attempts] == [first.report.score, second.report.score]
    assert sample.attempts[0].reasons == tuple(p.reason for p in first.report.problems)
    assert np.array_equal(sample.pixels, citizen.presented[(1, 2)])


def test_after_the_last_attempt_the_best_print_is_kept_and_flagged_forced():
    script = {(1, 1): {"blur": 3.0}, (1, 2): {"blur": 2.5}, (1, 3): {"blur": 3.5}}
    scores = [_score(finger=1, attempt=n, **script[(1, n)]) for n in (1, 2, 3)]
    threshold = max(scores) + 5
    session, citizen, scanner = _session(script, order=(THUMB, INDEX), threshold=threshold)
    session.run(scanner)

    sample = session.samples[THUMB]
    assert sample.forced and sample.quality == max(scores) == scores[1]
    assert [a.score for a in sample.attempts] == scores  # every attempt is in the record
    assert np.array_equal(sample.pixels, citizen.presented[(1, 2)])
    # Never silently: a Forced event right after the last result, before the next finger is asked for.
    kinds = [type(e).__name__ for e in citizen.events]
    forced_at = kinds.index("Forced")
    assert kinds[forced_at - 1] == "AttemptResult" and kinds[forced_at + 1] == "Prompt"
    forced = citizen.events[forced_at]
    assert (forced.position, forced.quality, forced.attempts) == (THUMB, max(scores), 3)
    assert not any(r.accepted for r in citizen.results(THUMB))


def test_thresholds_can_differ_per_position():
    low = _score(finger=1, attempt=1, **BLURRED)
    script = {(1, 1): BLURRED, (2, 1): BLURRED}
    session, citizen, scanner = _session(script, threshold=45, thresholds={THUMB: low}, max_attempts=2)
    assert low < 45
    session.run(scanner)
    assert citizen.prompts() == [(1, 1), (2, 1), (2, 2)]  # the thumb's lower bar is met at once
    assert session.samples[THUMB].quality == low and not session.samples[THUMB].forced
    assert len(session.samples[INDEX].attempts) == 2


# Lifting the finger ------------------------------------------------------------------------------------


def test_a_finger_left_on_the_sensor_is_asked_to_be_lifted_and_the_next_prompt_waits_for_it():
    session, citizen, scanner = _session({(1, 1): BLURRED})
    citizen.holds = True
    session.run(scanner)
    assert citizen.kinds() == ["Prompt", "AttemptResult", "LiftFinger",  # rejected: lift, then try again
                               "Prompt", "AttemptResult", "LiftFinger",  # accepted: lift, then the next finger
                               "Prompt", "AttemptResult", "LiftFinger"]
    lifts = [e for e in citizen.events if isinstance(e, LiftFinger)]
    assert [e.position for e in lifts] == [THUMB, THUMB, INDEX]
    assert citizen.free_at_prompt == [True, True, True]  # never a prompt with the last finger still down
    assert session.complete


def test_a_forced_print_is_announced_before_the_lift():
    """The citizen learns that the print was kept while still at the scanner, not after walking off."""
    script = {(1, n): BLURRED for n in (1, 2)}
    threshold = max(_score(finger=1, attempt=n, **BLURRED) for n in (1, 2)) + 5
    session, citizen, scanner = _session(script, threshold=threshold, max_attempts=2)
    citizen.holds = True
    session.run(scanner)
    kinds = citizen.kinds()
    forced_at = kinds.index("Forced")
    assert kinds[forced_at - 1:forced_at + 3] == ["AttemptResult", "Forced", "LiftFinger", "Prompt"]
    assert session.samples[THUMB].forced


def test_a_finger_never_lifted_holds_the_session_only_until_the_lift_timeout():
    session, citizen, scanner = _session(order=(THUMB, INDEX), lift_timeout_s=0.1)
    citizen.holds, citizen.lift_delay_s = True, None
    started = time.monotonic()
    session.run(scanner)
    assert time.monotonic() - started < 5.0
    assert citizen.prompts() == [(1, 1), (2, 1)] and citizen.free_at_prompt == [True, False]


def test_cancel_while_waiting_for_the_lift_keeps_the_accepted_finger():
    scanner = MemoryScanner()
    citizen = Citizen(scanner, holds=True, lift_delay_s=None)
    cancel = threading.Event()

    def listener(event: Event) -> None:
        citizen(event)
        if isinstance(event, LiftFinger):
            threading.Timer(0.1, cancel.set).start()

    session = TenPrintSession(TenPrintPolicy(order=(THUMB, INDEX)), listener)
    with pytest.raises(Cancelled, match="lifted"):
        session.run(scanner, cancel)
    assert set(session.samples) == {THUMB} and session.remaining() == [INDEX]


# Exceptions --------------------------------------------------------------------------------------------


def test_declared_exceptions_are_skipped_and_recorded_with_their_ansi_code():
    session, citizen, scanner = _session(order=(THUMB, INDEX, MIDDLE))
    session.declare_exception(INDEX, ExceptionReason.BANDAGED, "burn dressing")
    session.declare_exception(MIDDLE, ExceptionReason.AMPUTATED)
    assert session.remaining() == [THUMB]
    session.run(scanner)
    assert citizen.prompts() == [(1, 1)]
    assert session.complete and set(session.samples) == {THUMB}
    exceptions = session.exceptions
    assert (exceptions[INDEX].reason.ansi_code, exceptions[INDEX].note) == ("UP", "burn dressing")
    assert exceptions[MIDDLE].reason.ansi_code == "XX"


def test_an_exception_declared_after_capture_replaces_the_sample():
    session, _, scanner = _session()
    session.run(scanner)
    session.declare_exception(INDEX, ExceptionReason.UNUSABLE)
    assert INDEX not in session.samples and session.exceptions[INDEX].reason is ExceptionReason.UNUSABLE
    assert session.complete


def test_an_exception_declared_while_the_session_runs_is_skipped():
    """The officer declares a later finger (seen bandaged) while the citizen gives the first one."""
    session, citizen, scanner = _session(order=(THUMB, INDEX, MIDDLE))

    def officer(prompt: Prompt) -> None:
        if prompt.position == THUMB:
            session.declare_exception(INDEX, ExceptionReason.BANDAGED)

    citizen.on_prompt = officer
    session.run(scanner)
    assert citizen.prompts() == [(1, 1), (3, 1)]
    assert set(session.samples) == {THUMB, MIDDLE} and set(session.exceptions) == {INDEX}


def test_an_exception_declared_for_the_finger_being_captured_wins():
    """The officer sees the finger is bandaged while the citizen presses it: no print is kept for it."""
    session, citizen, scanner = _session(order=(THUMB, INDEX))

    def officer(prompt: Prompt) -> None:
        if prompt.position == INDEX:
            session.declare_exception(INDEX, ExceptionReason.BANDAGED)

    citizen.on_prompt = officer
    session.run(scanner)
    assert set(session.samples) == {THUMB} and set(session.exceptions) == {INDEX}
    assert citizen.prompts() == [(1, 1), (2, 1)]


# The same finger twice ---------------------------------------------------------------------------------

# The thumb put down again for the index: a new placement (its own attempt variation), turned and shifted.
THUMB_AGAIN = {"finger": 1, "attempt": 11, "rotation_deg": 10.0, "dx_mm": 2.0}


def test_the_same_finger_for_another_position_is_rejected_with_the_duplicate_feedback():
    session, citizen, scanner = _session({(2, 1): THUMB_AGAIN})
    session.run(scanner)
    duplicate, right = citizen.results(INDEX)
    assert duplicate.duplicate_of == THUMB and not duplicate.accepted
    assert np.array_equal(duplicate.pixels, citizen.presented[(2, 1)])  # the thumb, shown as such
    assert duplicate.report.score >= 45  # a good print, rejected only for being the thumb
    assert right.duplicate_of is None and right.accepted
    index_prompts = [e for e in citizen.events if isinstance(e, Prompt) and e.position == INDEX]
    assert [p.feedback for p in index_prompts] == [None, DUPLICATE_FEEDBACK]
    sample = session.samples[INDEX]
    assert [a.duplicate_of for a in sample.attempts] == [THUMB, None]
    assert np.array_equal(sample.pixels, citizen.presented[(2, 2)])
    assert session.samples[THUMB].attempts[0].duplicate_of is None


def test_a_duplicate_is_never_kept_even_on_the_last_attempt():
    script = {(2, 1): BLURRED, (2, 2): THUMB_AGAIN}
    session, citizen, scanner = _session(script, max_attempts=2)
    session.run(scanner)
    sample = session.samples[INDEX]
    assert sample.forced
    assert np.array_equal(sample.pixels, citizen.presented[(2, 1)])  # the poor print, not the thumb
    assert [a.duplicate_of for a in sample.attempts] == [None, THUMB]
    assert sample.quality == sample.attempts[0].score < sample.attempts[1].score


def test_when_every_attempt_is_a_duplicate_the_position_is_unresolved():
    script = {(2, 1): THUMB_AGAIN, (2, 2): {**THUMB_AGAIN, "attempt": 12, "rotation_deg": -8.0}}
    session, citizen, scanner = _session(script, order=(THUMB, INDEX, MIDDLE), max_attempts=2)
    session.run(scanner)
    assert session.unresolved == {INDEX}
    assert INDEX not in session.samples and not session.complete
    assert not any(isinstance(e, Forced) for e in citizen.events)
    assert citizen.prompts()[-1] == (3, 1)  # the session went on with the next finger

    # Running again does not ask for it; the officer's retake does.
    citizen.events.clear()
    session.run(scanner)
    assert citizen.prompts() == []
    session.retake(INDEX)
    citizen.script.clear()
    session.run(scanner)
    assert citizen.prompts() == [(2, 1)]
    assert session.complete and session.unresolved == set()


# Cancel and failures -----------------------------------------------------------------------------------


def test_cancel_while_waiting_for_a_finger_returns_promptly_and_keeps_what_was_accepted():
    session, citizen, scanner = _session({(2, 1): LEFT_OUT})
    cancel = threading.Event()
    cancelled_at: list[float] = []

    def press_cancel() -> None:
        cancelled_at.append(time.monotonic())
        cancel.set()

    def on_prompt(prompt: Prompt) -> None:
        if prompt.position == INDEX:
            threading.Timer(0.2, press_cancel).start()

    citizen.on_prompt = on_prompt
    with pytest.raises(Cancelled):
        session.run(scanner, cancel)
    assert time.monotonic() - cancelled_at[0] < 2.0
    assert set(session.samples) == {THUMB} and session.remaining() == [INDEX]

    # The next run picks up where it stopped.
    citizen.script.clear()
    citizen.on_prompt = None
    session.run(scanner)
    assert citizen.prompts()[-1] == (2, 1) and session.complete


def test_a_prompt_that_times_out_keeps_waiting_for_the_finger():
    """The per-prompt timeout asks again; it never ends the session on its own."""
    session, citizen, scanner = _session({(1, 1): LEFT_OUT}, order=(THUMB,), finger_timeout_s=0.05)

    def late_finger(prompt: Prompt) -> None:
        pixels = render_impression(SEED, 1, **SENSOR, attempt=1)
        threading.Timer(0.3, scanner.place_finger, (pixels,)).start()

    citizen.on_prompt = late_finger
    session.run(scanner)
    assert session.complete and citizen.prompts() == [(1, 1)]


@pytest.mark.parametrize("error", [DeviceDisconnected("unplugged", device="memory"),
                                   DeviceTimeout("no answer to capture", device="memory")],
                         ids=["disconnected", "timeout"])
@pytest.mark.timeout(20)
def test_a_device_error_propagates_keeps_accepted_fingers_and_a_new_scanner_continues(error):
    session, citizen, first = _session(order=(THUMB, INDEX, MIDDLE))
    first.fail_on_capture, first.error = 2, error
    with pytest.raises(type(error)):
        session.run(first)
    assert set(session.samples) == {THUMB} and session.remaining() == [INDEX, MIDDLE]
    thumb = session.samples[THUMB]

    second = MemoryScanner("memory-2")
    citizen.scanner, citizen.events[:] = second, []
    session.run(second)
    assert [position for position, _ in citizen.prompts()] == [2, 3]  # the remaining positions only
    assert session.complete and session.samples[THUMB] is thumb
    assert session.samples[INDEX].device.address == "memory-2"


@pytest.mark.timeout(20)
def test_a_device_that_stops_answering_while_polled_is_an_error_not_an_endless_wait():
    class Silent(MemoryScanner):
        def finger_present(self) -> bool:
            raise DeviceTimeout("no answer to the finger poll", device="memory")

    session = TenPrintSession(TenPrintPolicy(order=(THUMB,)))
    with pytest.raises(DeviceTimeout, match="finger poll"):
        session.run(Silent())


def test_retake_takes_a_position_again():
    session, citizen, scanner = _session()
    session.run(scanner)
    first_index = session.samples[INDEX]
    session.retake(INDEX)
    assert session.remaining() == [INDEX] and INDEX not in session.samples
    citizen.script[(2, 1)] = {"attempt": 4}
    session.run(scanner)
    assert citizen.prompts()[-1] == (2, 1) and len(citizen.prompts()) == 3
    assert session.samples[INDEX] is not first_index
    assert np.array_equal(session.samples[INDEX].pixels, citizen.presented[(2, 1)])
    # Retaking a declared exception brings the position back too.
    session.declare_exception(THUMB, ExceptionReason.MISSING)
    session.retake(THUMB)
    assert session.exceptions == {} and session.remaining() == [THUMB]


# End to end through the NB-1010-U driver ---------------------------------------------------------------


@pytest.fixture
def station():
    with SimulatedStation() as started:
        yield started


def test_ten_prints_on_the_simulated_nb1010_catch_the_same_finger_twice(station):
    """All ten fingers through the real driver over virtual USB; the citizen gives an already taken
    finger for two positions on the first attempt (re-placed, not the same image)."""
    citizen = ScriptedCitizen(
        station, SEED, "nb1010",
        mistakes={3: [1], 8: [7]},
        impressions={3: [{"attempt": 11, "rotation_deg": 10.0, "dx_mm": 1.5}],
                     8: [{"attempt": 12, "rotation_deg": -8.0, "dy_mm": -1.5}]},
    )
    events: list[Event] = []

    def listener(event: Event) -> None:
        events.append(event)
        citizen.on_event(event)

    session = TenPrintSession(TenPrintPolicy(), listener)
    with create_scanner("nb1010", {}, usb_backend=station.usb_backend) as scanner:
        session.run(scanner)

    assert session.complete and list(session.samples) == list(FingerPosition)
    caught = {(e.position, e.duplicate_of) for e in events if isinstance(e, AttemptResult) and e.duplicate_of}
    assert caught == {(MIDDLE, THUMB), (FingerPosition.LEFT_MIDDLE, FingerPosition.LEFT_INDEX)}
    assert citizen.presented.count((3, 1)) == 1 and citizen.presented.count((8, 7)) == 1
    for position, sample in session.samples.items():
        assert sample.ppi == 385 and sample.pixels.shape == (180, 256)
        assert sample.device.model == "NB-1010-U"
        assert not sample.forced and sample.attempts[-1].duplicate_of is None
        assert len(sample.attempts) == (2 if position in (3, 8) else 1)


def test_nb1010_unplugged_mid_session_keeps_accepted_fingers_and_resumes_after_replug(station):
    sim = station.nb1010
    citizen = ScriptedCitizen(station, SEED, "nb1010")
    cable_pulls = [30]

    def listener(event: Event) -> None:
        citizen.on_event(event)
        if isinstance(event, AttemptResult) and event.position == THUMB and cable_pulls:
            sim.unplug(after_reads=cable_pulls.pop())  # the cable comes out during the index finger's image transfer

    session = TenPrintSession(TenPrintPolicy(order=(THUMB, INDEX, MIDDLE)), listener)
    with create_scanner("nb1010", {}, usb_backend=station.usb_backend) as scanner:
        with pytest.raises(DeviceDisconnected):
            session.run(scanner)
    assert set(session.samples) == {THUMB} and session.remaining() == [INDEX, MIDDLE]

    sim.replug()
    citizen.presented.clear()
    with create_scanner("nb1010", {}, usb_backend=station.usb_backend) as scanner:
        session.run(scanner)
    assert [asked for asked, _ in citizen.presented] == [2, 3]
    assert session.complete
    assert session.samples[INDEX].device.address != session.samples[THUMB].device.address  # new bus address
