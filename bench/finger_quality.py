"""Fingerprint quality: how long scoring takes, and how the score falls with known degradations.

1. Time per image of ``capture.finger.quality.assess`` at 256 x 288, 500 ppi (the R30x window;
   target: median and p95 <= 20 ms) and at 256 x 180, 385 ppi (the NB-1010-U; resampled first),
   over 240 synthetic impressions of 20 fingers (images rendered beforehand, only scoring timed).
2. The score's distribution on synthetic prints of known degradation: for each degradation of
   ``hardware_sim.fingerprints.render_impression`` and each graded level, the median / min / max
   score over 20 different fingers (20 citizens, positions 1-10 twice), the share of prints at or
   above the default acceptance threshold (45) and the most common first problem (what the
   citizen is told).  All other parameters are at their defaults.

    .venv/bin/python bench/finger_quality.py [--smoke]

Rendering 20 master prints takes ~20 s; the whole run about a minute on a small machine.
``--smoke`` (the tests run it): 2 fingers, 1 timing impression each, the mildest and the most
severe level of each degradation - a few seconds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter

import numpy as np

from capture.finger.quality import assess
from capture.finger.tenprint import TenPrintPolicy
from hardware_sim.fingerprints import render_impression
from hardware_sim.simulated_station import SENSORS

FINGERS = [(101 + i, 1 + i % 10) for i in range(20)]
"""(citizen seed, position): 20 different fingers of 20 citizens, every position twice."""
LEVELS: dict[str, list[float]] = {
    "blur": [0.0, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0],
    "noise": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
    "contrast": [1.0, 0.7, 0.5, 0.35, 0.25, 0.15],
    "pressure": [1.3, 1.0, 0.7, 0.4, 0.3, 0.22, 0.15],
    "dryness": [0.0, 0.3, 0.5, 0.7, 0.85, 1.0],
    "dx_mm": [0.0, 3.0, 6.0, 7.5, 9.0, 10.5],
}
"""Graded levels per degradation, from none to severe (the first one is the undegraded value)."""
TIMING_VARIATIONS = 12
"""Impressions per finger for the timing: attempts with mild random placement, pressure and dryness."""


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def timing(scanner: str, rng: np.random.Generator, fingers: list[tuple[int, int]] = FINGERS,
           variations: int = TIMING_VARIATIONS) -> None:
    width, height, ppi = SENSORS[scanner]
    images = []
    for seed, position in fingers:
        for attempt in range(variations):
            images.append(render_impression(
                seed, position, width=width, height=height, ppi=ppi, attempt=attempt,
                dx_mm=rng.uniform(-2, 2), dy_mm=rng.uniform(-2, 2), rotation_deg=rng.uniform(-10, 10),
                pressure=rng.uniform(0.6, 1.3), dryness=rng.uniform(0, 0.6), noise=rng.uniform(0, 1.5)))
    assess(images[0], ppi)  # warm-up (first calls allocate OpenCV buffers)
    elapsed = []
    for image in images:
        started = time.perf_counter()
        assess(image, ppi)
        elapsed.append(1000 * (time.perf_counter() - started))
    print(f"  {width} x {height} at {ppi} ppi ({scanner}): {len(images)} images, "
          f"median {statistics.median(elapsed):.1f} ms, p95 {_percentile(elapsed, 95):.1f} ms, "
          f"max {max(elapsed):.1f} ms")


def distribution(fingers: list[tuple[int, int]] = FINGERS, levels_of: dict[str, list[float]] = LEVELS) -> None:
    width, height, ppi = SENSORS["r30x"]
    threshold = TenPrintPolicy().threshold
    print(f"| degradation | level | median | min | max | >= {threshold} | most common first problem |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, levels in levels_of.items():
        for level in levels:
            scores, first_problems = [], Counter()
            for seed, position in fingers:
                image = render_impression(seed, position, width=width, height=height, ppi=ppi, **{name: level})
                report = assess(image, ppi)
                scores.append(report.score)
                first_problems[report.problems[0].reason if report.problems else "none"] += 1
            problem, count = first_problems.most_common(1)[0]
            accepted = sum(score >= threshold for score in scores)
            print(f"| {name} | {level:g} | {statistics.median(scores):g} | {min(scores)} | {max(scores)} | "
                  f"{accepted}/{len(scores)} | {problem} ({count}/{len(scores)}) |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="quick run: 2 fingers, 2 levels per degradation")
    args = parser.parse_args()
    fingers, variations, levels = FINGERS, TIMING_VARIATIONS, LEVELS
    if args.smoke:
        fingers, variations = FINGERS[:2], 1
        levels = {name: [values[0], values[-1]] for name, values in LEVELS.items()}
    rng = np.random.default_rng(20240601)
    started = time.perf_counter()
    for seed, position in fingers:  # render (and cache) the master prints first, outside any timing
        render_impression(seed, position, width=8, height=8, ppi=500)
    print(f"Rendered {len(fingers)} master prints in {time.perf_counter() - started:.1f} s\n")
    print("Scoring time per image (assess: resampling, segmentation, block features, diagnosis)")
    for scanner in ("r30x", "nb1010"):
        timing(scanner, rng, fingers, variations)
    print(f"\nScore by degradation, {len(fingers)} fingers per level, 256 x 288 at 500 ppi "
          "(other parameters at their defaults)\n")
    distribution(fingers, levels)
    print(f"\nTotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
