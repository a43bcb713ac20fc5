"""The portrait worker of the face screen: analysis, the countdown, the auto-capture (no Kivy here).

The capture library's :func:`capture.face.autocapture.capture_portrait` fires as soon as N frames
in a row pass, which at ten analyses a second is half a second: too quick for a citizen to notice
that the photo is being taken.  The kiosk counts down first: once every check passes, a visible
countdown of ``countdown_s`` runs, restarting whenever a check fails; at zero the library's
:class:`~capture.face.autocapture.AutoCapture` takes the best of the next N passing frames.
The officer's button takes the latest analysed frame at once, flagged manual (as the library does).

At most :data:`ANALYSIS_HZ` frames are analysed a second, not every frame the camera sends: see there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from capture.face.autocapture import AutoCapture, make_sample
from capture.face.checks import Analysis, FaceAnalyser
from capture.face.guidance import guidance
from capture.face.sample import FaceSample
from drivers.camera.base import Camera
from drivers.errors import Cancelled

ANALYSIS_HZ = 12.0
"""The most frames analysed per second.  Analysing every frame of a 30 fps camera kept one of the
station's two cores busy (about 20 ms a frame), and the live preview, which under software OpenGL
costs tens of milliseconds of CPU for every frame drawn, needs the other.  Twelve a second still
follows the citizen's movements within a tenth of a second, and makes the auto-capture's N passing
frames in a row span about half a second, as this module expects.  Each analysed frame is judged
by every check exactly as before; only fewer frames are judged (the newest one each time)."""


@dataclass(frozen=True)
class Progress:
    """What the screen shows after each analysed frame."""

    analysis: Analysis
    guidance: str
    """Gettext id of the one instruction for the citizen."""
    countdown: float | None
    """Seconds until the photo is taken while every check passes; None otherwise."""


def take_portrait(camera: Camera, analyser: FaceAnalyser, *, countdown_s: float, cancel: threading.Event,
                  manual: threading.Event, on_progress: Callable[[Progress], None]) -> FaceSample:
    """Analyse the newest frames, at most :data:`ANALYSIS_HZ` a second, until the countdown and the
    auto-capture complete, or the officer's ``manual`` event is set.  Raises :class:`Cancelled` or
    the camera's DeviceError."""
    auto = AutoCapture(analyser.policy.consecutive_frames)
    analyser.detector.reset()
    sequence = 0
    latest: Analysis | None = None
    passing_since: float | None = None
    due = 0.0
    while True:
        if cancel.is_set():
            raise Cancelled("portrait capture cancelled")
        if manual.is_set() and latest is not None:
            return make_sample(latest, camera.info(), analyser.policy, manual=True)
        wait = due - time.monotonic()
        if wait > 0 and cancel.wait(wait):
            raise Cancelled("portrait capture cancelled")
        frame = camera.latest(newer_than=sequence, timeout=2.0, cancel=cancel)
        due = time.monotonic() + 1.0 / ANALYSIS_HZ
        sequence = frame.sequence
        latest = analyser.analyse(frame.pixels, frame.sequence, frame.captured_at)
        now = time.monotonic()
        if not latest.passed:
            passing_since = None
            auto.reset()
        elif passing_since is None:
            passing_since = now
        countdown = None if passing_since is None else max(0.0, countdown_s - (now - passing_since))
        on_progress(Progress(latest, guidance(latest), countdown))
        if countdown == 0.0:
            best = auto.feed(latest)
            if best is not None:
                return make_sample(best, frame.device, analyser.policy, manual=False)
