"""Face capture figures: analysis time per frame, preview rate from the grabber, scenes -> checks -> guidance.

1. Analysis time per frame (detection + landmarks + every check) at 1280 x 720 and 640 x 480, over
   a 150-frame sequence of a citizen swaying slightly (30 rendered, JPEG-compressed frames played 5
   times): median and p95 with the default tracking (full scan every 3rd frame) and with a full
   scan on every frame.  Target: median <= 33 ms at 1280 x 720 (every frame of 30 fps judged).
2. Preview path: the simulated 1280 x 720, 30 fps MJPEG stream read by the OpenCV driver's grabber;
   frames per second a consumer gets over 10 s (target >= 29), the grabber's own counters, and the
   same while the consumer also analyses every frame it takes.
3. For each scripted scene (1280 x 720): the checks that fail and the guidance shown.
4. 1:1 comparison: embedding distance between the token image of the good scene and the other
   scenes (all one person; dlib's same-person threshold is 0.6).

    .venv/bin/python bench/face_analysis.py [--smoke]

``--smoke`` (the tests run it): the same four parts, small: 3 frames played once at 640 x 480 only,
1 s of preview, the scenes and the comparison at 640 x 480 (the comparison for 3 scenes).
"""

from __future__ import annotations

import argparse
import statistics
import time

import cv2
import numpy as np

from capture.face.checks import FaceAnalyser, FacePolicy
from capture.face.compare import FaceComparator
from capture.face.guidance import guidance
from drivers.camera.opencv import OpenCVCamera
from hardware_sim.camera import SCENES, CameraSimulator, Scene, render

SIZES = ((1280, 720), (640, 480))
FRAMES, PLAYS = 30, 5
"""Analysis timing: 30 rendered frames played 5 times."""
PREVIEW_S = 10.0


def _frames(width: int, height: int, count: int = FRAMES) -> list[np.ndarray]:
    frames = []
    for i in range(count):
        phase = 2 * np.pi * i / 30
        scene = Scene(eye_x=0.5 + 0.015 * np.sin(phase), eye_y=0.45 + 0.01 * np.cos(phase), roll_deg=np.sin(phase))
        ok, jpeg = cv2.imencode(".jpg", render(scene, width, height, seed=i), [cv2.IMWRITE_JPEG_QUALITY, 85])
        frames.append(cv2.imdecode(jpeg, cv2.IMREAD_COLOR))
    return frames


def _times(analyser: FaceAnalyser, frames: list[np.ndarray], plays: int = PLAYS) -> list[float]:
    analyser.detector.reset()
    analyser.analyse(frames[0])
    return [analyser.analyse(frame).seconds * 1000 for _ in range(plays) for frame in frames]


def analysis_time(sizes: tuple[tuple[int, int], ...] = SIZES, count: int = FRAMES, plays: int = PLAYS) -> None:
    print(f"1. Analysis time per frame (ms), {count * plays} frames")
    print(f"   {'size':10s} {'detection':22s} {'median':>7s} {'p95':>7s} {'max':>7s}")
    for width, height in sizes:
        frames = _frames(width, height, count)
        for label, every in (("track, full scan 1/3", 3), ("full scan every frame", 1)):
            times = _times(FaceAnalyser(FacePolicy(full_scan_every=every)), frames, plays)
            p95 = float(np.percentile(times, 95))
            print(f"   {width}x{height:<5d} {label:22s} {statistics.median(times):7.1f} {p95:7.1f} {max(times):7.1f}")


def preview_rate(seconds: float = PREVIEW_S) -> None:
    print(f"\n2. Preview: simulated 1280x720 MJPEG stream at 30 fps through the grabber, {seconds:g} s each")
    analyser = FaceAnalyser()
    with CameraSimulator(1280, 720, 30.0) as sim, OpenCVCamera(sim.url) as camera:
        for label, analyse in (("preview only", False), ("preview + analysis", True)):
            frame = camera.latest(timeout=2.0)
            start_stats = camera.stats()
            taken, started = 0, time.monotonic()
            while time.monotonic() - started < seconds:
                frame = camera.latest(newer_than=frame.sequence, timeout=2.0)
                taken += 1
                if analyse:
                    analyser.analyse(frame.pixels)
            elapsed = time.monotonic() - started
            stats = camera.stats()
            print(f"   {label:20s}: {taken / elapsed:5.1f} fps to the consumer; grabber {stats.fps:5.1f} fps, "
                  f"{stats.frames - start_stats.frames} frames, {stats.dropped - start_stats.dropped} dropped, "
                  f"{stats.corrupt} corrupt, {stats.reconnects} reconnects")


def scene_table(width: int = 1280, height: int = 720) -> None:
    print(f"\n3. Scripted scenes at {width}x{height}: failing checks (value vs threshold) -> guidance")
    analyser = FaceAnalyser()
    for name, scene in SCENES.items():
        ok, jpeg = cv2.imencode(".jpg", render(scene, width, height), [cv2.IMWRITE_JPEG_QUALITY, 85])
        analyser.detector.reset()
        analysis = analyser.analyse(cv2.imdecode(jpeg, cv2.IMREAD_COLOR))
        failing = [c for c in analysis.checks if c.passed is not True]
        if analysis.faces:
            shown = ", ".join(f"{c.name} {c.value:.3g} ({c.threshold})" if c.value is not None else
                              f"{c.name} undecided" for c in failing) or "-"
        else:
            shown = f"single_face 0 (== 1); other {len(failing) - 1} checks undecided"
        print(f"   {name:16s} | {shown}\n   {'':16s} | -> {guidance(analysis)}")


def comparison(width: int = 1280, height: int = 720, scenes: int | None = None) -> None:
    print("\n4. Embedding distance, token image of 'good' vs each scene (same person; threshold 0.6)")
    analyser = FaceAnalyser()
    frame = render(SCENES["good"], width, height)
    from capture.face.token import make_token

    token = make_token(frame, analyser.analyse(frame).landmarks).pixels
    comparator = FaceComparator()
    reference = comparator.embedding(token)
    rows = []
    for name, scene in list(SCENES.items())[:scenes]:
        started = time.perf_counter()
        other = comparator.embedding(render(scene, width, height))
        seconds = time.perf_counter() - started
        distance = "no face" if other is None or reference is None else f"{np.linalg.norm(reference - other):.3f}"
        rows.append(f"{name} {distance}")
    print("   " + "; ".join(rows))
    print(f"   (embedding time per {width}x{height} frame about {seconds * 1000:.0f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="quick run: tiny sizes, a few seconds")
    args = parser.parse_args()
    if args.smoke:
        analysis_time(sizes=((640, 480),), count=3, plays=1)
        preview_rate(seconds=1.0)
        scene_table(640, 480)
        comparison(640, 480, scenes=3)
    else:
        analysis_time()
        preview_rate()
        scene_table()
        comparison()


if __name__ == "__main__":
    main()
