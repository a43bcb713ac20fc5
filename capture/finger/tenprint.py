"""The ten-print capture session: every finger, judged as it is taken, never junk accepted quietly.

For each position of the configured order the session waits for the finger, captures, scores
(``capture.finger.quality``) and checks that it is not a finger already taken for another
position (``capture.finger.sequence``).  A print at or above the position's threshold is accepted;
otherwise the citizen is told what to change and tries again.  After the last allowed attempt the
best attempt is kept and flagged *forced*, as national systems do, so the registry knows.  A
print that matches an already accepted finger is never kept.

The session is UI-independent and blocking: the kiosk runs :meth:`TenPrintSession.run` in a
worker thread and receives :class:`Prompt` / :class:`AttemptResult` / :class:`Forced` /
:class:`LiftFinger` events through the ``listener`` callback (which must not block).  Each
attempt ends with the finger lifted: the next prompt comes only once the sensor is free (or after
``lift_timeout_s``), so a print is never taken twice from one placement.  Setting ``cancel``
stops it within one poll of the scanner.  A device error propagates to the caller; the fingers
already accepted stay in the session, and calling :meth:`run` again with a working scanner
continues where it stopped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from capture.finger import sequence
from capture.finger.positions import ExceptionReason, FingerPosition
from capture.finger.quality import QualityPolicy, QualityReport, assess
from drivers.device import DeviceInfo
from drivers.errors import N_, Cancelled, DeviceTimeout
from drivers.fingerprint.base import FingerImage, FingerprintScanner

log = logging.getLogger(__name__)

DUPLICATE_FEEDBACK = N_("This finger was already taken. Please place the finger shown on the screen.")


@dataclass(frozen=True)
class TenPrintPolicy:
    """How fingers are taken; all of it comes from the station's configuration."""

    order: tuple[FingerPosition, ...] = tuple(FingerPosition)
    threshold: int = 45
    """Default minimum quality score (0-100) to accept a print."""
    thresholds: Mapping[FingerPosition, int] = field(default_factory=dict)
    """Per-position overrides of ``threshold`` (little fingers often print worse)."""
    max_attempts: int = 3
    finger_timeout_s: float = 30.0
    """How long one prompt waits for a finger before asking again (the wait itself never gives up)."""
    lift_timeout_s: float = 10.0
    sequence_threshold: float = sequence.DEFAULT_THRESHOLD
    quality: QualityPolicy = field(default_factory=QualityPolicy)

    def threshold_for(self, position: FingerPosition) -> int:
        return self.thresholds.get(position, self.threshold)


@dataclass(frozen=True)
class Attempt:
    """One capture of one finger, kept in the record whether accepted or not."""

    score: int
    reasons: tuple[str, ...]
    captured_at: datetime
    duplicate_of: FingerPosition | None = None
    """Set when this print matched an already accepted finger (and was therefore rejected)."""


@dataclass(frozen=True)
class FingerSample:
    """The print kept for one position."""

    position: FingerPosition
    pixels: np.ndarray
    ppi: int
    quality: int
    attempts: tuple[Attempt, ...]
    forced: bool
    """True when no attempt reached the threshold and the best one was kept anyway."""
    device: DeviceInfo
    captured_at: datetime


@dataclass(frozen=True)
class FingerException:
    """An officer's declaration that a finger cannot be printed."""

    position: FingerPosition
    reason: ExceptionReason
    note: str
    declared_at: datetime


@dataclass(frozen=True)
class Prompt:
    """Event: the citizen should now place ``position`` (``feedback`` says what to change, if anything)."""

    position: FingerPosition
    attempt: int
    feedback: str | None = None


@dataclass(frozen=True)
class AttemptResult:
    """Event: an attempt was judged.  ``pixels`` is the impression as the scanner took it, so that
    the citizen sees what the scanner saw (a smudge, half a finger, the wrong finger)."""

    position: FingerPosition
    attempt: int
    report: QualityReport
    accepted: bool
    pixels: np.ndarray
    duplicate_of: FingerPosition | None = None


@dataclass(frozen=True)
class Forced:
    """Event: no attempt reached the threshold; the best one (``quality``) was kept and flagged."""

    position: FingerPosition
    quality: int
    attempts: int


@dataclass(frozen=True)
class LiftFinger:
    """Event: the attempt is over but the finger still lies on the sensor; the session waits for it
    to leave (at most ``lift_timeout_s``), and the next :class:`Prompt` (or the end of :meth:`run`)
    says that it did.  Not sent when the finger was lifted before the wait began."""

    position: FingerPosition


Event = Prompt | AttemptResult | Forced | LiftFinger


@dataclass
class _Candidate:
    pixels: np.ndarray
    ppi: int
    score: int
    device: DeviceInfo
    captured_at: datetime
    signal: sequence.RidgeSignal


class TenPrintSession:
    """Ten fingers (minus declared exceptions) from one citizen."""

    def __init__(self, policy: TenPrintPolicy | None = None,
                 listener: Callable[[Event], None] | None = None) -> None:
        self.policy = policy or TenPrintPolicy()
        self._listener = listener or (lambda event: None)
        self._samples: dict[FingerPosition, FingerSample] = {}
        self._signals: dict[FingerPosition, sequence.RidgeSignal] = {}
        self._exceptions: dict[FingerPosition, FingerException] = {}
        self._unresolved: set[FingerPosition] = set()
        self._lock = threading.Lock()

    # What the record needs --------------------------------------------------------------------

    @property
    def samples(self) -> dict[FingerPosition, FingerSample]:
        with self._lock:
            return dict(self._samples)

    @property
    def exceptions(self) -> dict[FingerPosition, FingerException]:
        with self._lock:
            return dict(self._exceptions)

    @property
    def unresolved(self) -> set[FingerPosition]:
        """Positions where every attempt matched another finger: the officer must decide."""
        with self._lock:
            return set(self._unresolved)

    def remaining(self) -> list[FingerPosition]:
        """Positions of the order still to capture."""
        with self._lock:
            done = set(self._samples) | set(self._exceptions)
            return [position for position in self.policy.order if position not in done]

    @property
    def complete(self) -> bool:
        return not self.remaining() and not self.unresolved

    # What the officer does --------------------------------------------------------------------

    def declare_exception(self, position: FingerPosition, reason: ExceptionReason, note: str = "") -> None:
        """Record that ``position`` cannot be printed; the session skips it (and drops a sample of it)."""
        with self._lock:
            self._exceptions[position] = FingerException(position, reason, note, datetime.now(UTC))
            self._samples.pop(position, None)
            self._signals.pop(position, None)
            self._unresolved.discard(position)
        log.info("finger %d declared %s", position, reason.code)

    def retake(self, position: FingerPosition) -> None:
        """Forget what was taken or declared for ``position`` so that :meth:`run` takes it again."""
        with self._lock:
            self._samples.pop(position, None)
            self._signals.pop(position, None)
            self._exceptions.pop(position, None)
            self._unresolved.discard(position)

    # Capture ----------------------------------------------------------------------------------

    def run(self, scanner: FingerprintScanner, cancel: threading.Event | None = None) -> None:
        """Capture every remaining position with an opened ``scanner``.

        Raises :class:`Cancelled` when ``cancel`` is set, and the scanner's :class:`DeviceError`
        when it fails; in both cases the accepted fingers are kept.
        """
        cancel = cancel or threading.Event()
        while True:
            # Asked again after every finger: the officer may declare an exception meanwhile.
            todo = [position for position in self.remaining() if position not in self.unresolved]
            if not todo:
                return
            self._capture_position(scanner, todo[0], cancel)

    def _capture_position(self, scanner: FingerprintScanner, position: FingerPosition,
                          cancel: threading.Event) -> None:
        policy = self.policy
        attempts: list[Attempt] = []
        best: _Candidate | None = None
        feedback: str | None = None
        while True:
            number = len(attempts) + 1
            self._listener(Prompt(position, number, feedback))
            image = self._take(scanner, cancel)
            report = assess(image.pixels, image.ppi, policy.quality)
            signal = sequence.ridge_signal(image.pixels, image.ppi)
            duplicate = self._matching_finger(position, signal) if report.score > 0 else None
            attempts.append(Attempt(report.score, tuple(p.reason for p in report.problems), image.captured_at,
                                    duplicate))
            accepted = False
            if duplicate is not None:
                feedback = DUPLICATE_FEEDBACK
                self._listener(AttemptResult(position, number, report, False, image.pixels, duplicate_of=duplicate))
            else:
                if best is None or report.score > best.score:
                    best = _Candidate(image.pixels, image.ppi, report.score, image.device, image.captured_at, signal)
                accepted = report.score >= policy.threshold_for(position)
                if accepted:
                    self._accept(position, best, attempts, forced=False)
                self._listener(AttemptResult(position, number, report, accepted, image.pixels))
                feedback = report.feedback
            last = not accepted and len(attempts) >= policy.max_attempts
            if last:
                # Settled before the lift: the citizen learns the outcome while still at the scanner.
                self._settle(position, best, attempts)
            self._wait_for_lift(position, scanner, cancel)
            with self._lock:
                declared = position in self._exceptions  # by the officer, while this finger was taken
            if accepted or last or declared:
                return

    def _settle(self, position: FingerPosition, best: _Candidate | None, attempts: Sequence[Attempt]) -> None:
        """After the last attempt without a good print: keep the best one, flagged forced; when every
        attempt was another finger there is nothing to keep and the officer must decide."""
        if best is None:
            with self._lock:
                self._unresolved.add(position)
            log.warning("finger %d: every attempt matched another finger; officer decision needed", position)
            return
        self._accept(position, best, attempts, forced=True)
        self._listener(Forced(position, best.score, len(attempts)))

    def _take(self, scanner: FingerprintScanner, cancel: threading.Event) -> FingerImage:
        timeout = self.policy.finger_timeout_s
        while True:
            started = time.monotonic()
            try:
                scanner.wait_for_finger(timeout, cancel)
            except DeviceTimeout:
                if cancel.is_set():
                    raise Cancelled("cancelled while waiting for a finger") from None
                if time.monotonic() - started < timeout:
                    raise  # the device stopped answering a poll: not the wait for a finger running out
                log.debug("no finger yet; still waiting")
                continue
            # Outside the try: a timeout here is the device failing mid-capture, not a late finger.
            return scanner.capture(cancel=cancel)

    def _wait_for_lift(self, position: FingerPosition, scanner: FingerprintScanner, cancel: threading.Event) -> None:
        """Wait until the finger leaves the sensor, so the next attempt is a new placement.  The
        citizen is told (:class:`LiftFinger`) only when the finger is still there: one who lifted at
        once never sees the instruction flash by."""
        if not scanner.finger_present():
            return
        self._listener(LiftFinger(position))
        deadline = self.policy.lift_timeout_s
        waited = 0.0
        while True:
            if cancel.wait(scanner.poll_interval_s):
                raise Cancelled("cancelled while waiting for the finger to be lifted")
            waited += scanner.poll_interval_s
            if waited >= deadline:
                log.info("finger still on the sensor after %.0f s; continuing", deadline)
                return
            if not scanner.finger_present():
                return

    def _matching_finger(self, position: FingerPosition, signal: sequence.RidgeSignal) -> FingerPosition | None:
        with self._lock:
            taken = [(other, s) for other, s in self._signals.items() if other != position]
        for other, other_signal in taken:
            similarity = sequence.compare(other_signal, signal)
            if sequence.same_finger(similarity, self.policy.sequence_threshold):
                log.warning("print for finger %d matches finger %d (similarity %.2f)", position, other,
                            similarity.score)
                return other
        return None

    def _accept(self, position: FingerPosition, best: _Candidate, attempts: Sequence[Attempt], *,
                forced: bool) -> None:
        sample = FingerSample(position, best.pixels, best.ppi, best.score, tuple(attempts), forced, best.device,
                              best.captured_at)
        with self._lock:
            if position in self._exceptions:  # the officer declared it while it was being captured
                log.info("finger %d was declared %s during its capture; its print is not kept", position,
                         self._exceptions[position].reason.code)
                return
            self._samples[position] = sample
            self._signals[position] = best.signal
        log.info("finger %d accepted with quality %d after %d attempt(s)%s", position, best.score, len(attempts),
                 " (forced)" if forced else "")



