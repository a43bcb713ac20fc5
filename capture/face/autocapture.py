"""Auto-capture: the portrait is taken when every check has passed on N analysed frames in a row,
and it is the best of those N frames (sharpest and most frontal, :attr:`Analysis.quality`).

N frames in a row (``FacePolicy.consecutive_frames``, 5 by default: a sixth of a second at
30 fps) keep a single lucky frame in the middle of a movement from becoming the portrait.  The
officer's manual capture takes the latest analysed frame whatever its checks say; the sample is
flagged ``manual`` and keeps the failing checks, so the registry can see what was accepted by hand.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from capture.face.checks import Analysis, FaceAnalyser, FacePolicy
from capture.face.guidance import guidance
from capture.face.sample import FaceSample
from capture.face.token import make_token
from drivers.camera.base import Camera
from drivers.device import DeviceInfo
from drivers.errors import N_, Cancelled


class NoFace(ValueError):
    """A portrait was asked for from a frame in which no face (no eyes) was found."""

    citizen_message = N_("Please sit in front of the camera and look at it.")


class NoPortrait(TimeoutError):
    """The checks did not all pass within the time allowed; ``guidance`` says what was still wrong."""

    def __init__(self, message: str, guidance: str) -> None:
        super().__init__(message)
        self.guidance = guidance


class AutoCapture:
    """Feeds on analyses; returns the best one once ``needed`` consecutive analyses have passed."""

    def __init__(self, needed: int = 5) -> None:
        if needed < 1:
            raise ValueError("auto-capture needs at least one passing frame")
        self.needed = needed
        self._run: list[Analysis] = []

    @property
    def streak(self) -> int:
        """Passing analyses in a row so far (for a progress indicator)."""
        return len(self._run)

    def feed(self, analysis: Analysis) -> Analysis | None:
        if not analysis.passed:
            self._run.clear()
            return None
        self._run.append(analysis)
        if len(self._run) < self.needed:
            return None
        best = max(self._run, key=lambda item: item.quality)
        self._run.clear()
        return best

    def reset(self) -> None:
        self._run.clear()


def make_sample(analysis: Analysis, device: DeviceInfo, policy: FacePolicy, *, manual: bool) -> FaceSample:
    """The :class:`FaceSample` (token image and the checks) made from ``analysis``'s frame."""
    landmarks = analysis.landmarks
    if landmarks is None:
        raise NoFace("no face with eyes was found in the frame; nothing to make a portrait of")
    token = make_token(analysis.pixels, landmarks, width=policy.token_width, budget=policy.token_budget)
    return FaceSample(
        token_jpeg=token.jpeg, width=token.width, height=token.height, checks=analysis.checks, manual=manual,
        device=device, captured_at=analysis.captured_at or datetime.now(UTC),
        extra={"jpeg_quality": token.quality, "frame_sequence": analysis.sequence,
               "all_checks_passed": analysis.passed},
    )


def capture_portrait(
    camera: Camera,
    analyser: FaceAnalyser,
    *,
    timeout: float = 60.0,
    cancel: threading.Event | None = None,
    manual: threading.Event | None = None,
    on_analysis: Callable[[Analysis, str], None] | None = None,
) -> FaceSample:
    """Analyse the camera's newest frames until the auto-capture fires (or ``manual`` is set by
    the officer's button) and return the portrait.

    ``on_analysis(analysis, guidance)`` is called for every analysed frame (from this thread; a UI
    posts it on with ``Clock.schedule_once``).  Frames that arrive while one is being analysed are
    skipped, never queued.  Raises :class:`Cancelled`, :class:`NoPortrait` after ``timeout``
    seconds, or the camera's :class:`~drivers.errors.DeviceError`.
    """
    cancel = cancel or threading.Event()
    manual = manual or threading.Event()
    auto = AutoCapture(analyser.policy.consecutive_frames)
    analyser.detector.reset()
    deadline = time.monotonic() + timeout
    sequence = 0
    advice = ""
    latest: Analysis | None = None
    while True:
        if cancel.is_set():
            raise Cancelled("portrait capture cancelled")
        if manual.is_set() and latest is not None:
            return make_sample(latest, camera.info(), analyser.policy, manual=True)
        if time.monotonic() > deadline:
            raise NoPortrait(f"no portrait passed every check within {timeout:g} s", advice)
        frame = camera.latest(newer_than=sequence, timeout=max(min(deadline - time.monotonic(), 2.0), 0.1),
                              cancel=cancel)
        sequence = frame.sequence
        latest = analyser.analyse(frame.pixels, frame.sequence, frame.captured_at)
        advice = guidance(latest)
        if on_analysis is not None:
            on_analysis(latest, advice)
        best = auto.feed(latest)
        if best is not None:
            return make_sample(best, frame.device, analyser.policy, manual=False)
