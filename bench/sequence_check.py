"""The sequence check's error rates: false rejects of re-placed fingers, false accepts of other fingers.

30 synthetic citizens x 10 fingers (seeds 2000-2029), every random draw from one fixed seed:

* genuine pairs (300): each finger's "accepted" print (a normal placement: centred, 0 degrees,
  pressure 1, with the small random variation of its attempt) against the same finger put down
  again - another attempt, shifted by up to +-3 mm in x and y, turned by up to +-15 degrees,
  pressed at 0.7-1.3;
* impostor pairs, same person (210, the hard case: one skin, one ridge period): 7 random pairs of
  two different fingers per citizen;
* impostor pairs, different people (290): every finger against the same finger (same position) of
  the previous citizen.

Each print of a pair is an R30x-size impression (256 x 288, 500 ppi).  Printed: false-reject rate
(genuine pairs not called "same"), false-accept rates, the score distributions, and the time per
comparison (``capture.finger.sequence.compare``) and per ridge-signal preparation.

    .venv/bin/python bench/sequence_check.py [--smoke]

Master prints dominate the run time (~0.5-0.9 s each, 300 of them): about 5 minutes on a small machine.
``--smoke`` (the tests run it): 2 citizens x 3 fingers, 2 same-person pairs each - a few seconds.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from dataclasses import dataclass, field

import numpy as np

from capture.finger import sequence
from hardware_sim.fingerprints import render_impression
from hardware_sim.simulated_station import SENSORS

CITIZENS = range(2000, 2030)
POSITIONS = range(1, 11)
SAME_PERSON_PAIRS = 7
WIDTH, HEIGHT, PPI = SENSORS["r30x"]


@dataclass
class Pairs:
    name: str
    scores: list[float] = field(default_factory=list)
    overlaps: list[int] = field(default_factory=list)
    same: list[bool] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    def add(self, similarity: sequence.Similarity, label: str) -> None:
        self.scores.append(similarity.score)
        self.overlaps.append(similarity.overlap_px)
        self.same.append(sequence.same_finger(similarity))
        self.labels.append(f"{label}: score {similarity.score:.3f}, overlap {similarity.overlap_px} px, "
                           f"angle {similarity.angle_deg:g}")

    def errors(self, genuine: bool) -> list[str]:
        return [label for label, same in zip(self.labels, self.same, strict=True) if same is not genuine]

    def extreme(self, lowest: bool) -> str:
        """The pair with the lowest score, or the highest among those that overlap enough to be judged."""
        if lowest:
            return self.labels[int(np.argmin(self.scores))]
        judged = [i for i, overlap in enumerate(self.overlaps) if overlap >= sequence.MIN_OVERLAP_PX]
        if not judged:
            return "none (no pair overlaps enough to be judged)"
        return self.labels[max(judged, key=lambda i: self.scores[i])]


def _impression(seed: int, position: int, **placement: float) -> np.ndarray:
    return render_impression(seed, position, width=WIDTH, height=HEIGHT, ppi=PPI, **placement)


def _distribution(values: list[float]) -> str:
    q = np.percentile(values, [1, 5, 50, 95, 99])
    return (f"min {min(values):.3f}  p1 {q[0]:.3f}  p5 {q[1]:.3f}  median {q[2]:.3f}  "
            f"p95 {q[3]:.3f}  p99 {q[4]:.3f}  max {max(values):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="quick run: 2 citizens x 3 fingers")
    args = parser.parse_args()
    if args.smoke:
        run(CITIZENS[:2], POSITIONS[:3], same_person_pairs=2)
    else:
        run(CITIZENS, POSITIONS, SAME_PERSON_PAIRS)


def run(citizens: range, positions: range, same_person_pairs: int) -> None:
    rng = np.random.default_rng(8382)
    genuine = Pairs("genuine (same finger re-placed)")
    same_person = Pairs("impostor, other finger of the same person")
    other_person = Pairs("impostor, same finger position of another person")
    compare_ms: list[float] = []
    signal_ms: list[float] = []

    def timed_compare(first: sequence.RidgeSignal, second: sequence.RidgeSignal) -> sequence.Similarity:
        started = time.perf_counter()
        similarity = sequence.compare(first, second)
        compare_ms.append(1000 * (time.perf_counter() - started))
        return similarity

    def timed_signal(image: np.ndarray) -> sequence.RidgeSignal:
        started = time.perf_counter()
        signal = sequence.ridge_signal(image, PPI)
        signal_ms.append(1000 * (time.perf_counter() - started))
        return signal

    started = time.perf_counter()
    previous: dict[int, sequence.RidgeSignal] = {}
    for number, seed in enumerate(citizens, 1):
        accepted: dict[int, sequence.RidgeSignal] = {}
        replaced: dict[int, sequence.RidgeSignal] = {}
        for position in positions:
            first_attempt = int(rng.integers(0, 1000))
            accepted[position] = timed_signal(_impression(seed, position, attempt=first_attempt))
            placement = {
                "attempt": first_attempt + 1 + int(rng.integers(0, 1000)),
                "dx_mm": float(rng.uniform(-3, 3)),
                "dy_mm": float(rng.uniform(-3, 3)),
                "rotation_deg": float(rng.uniform(-15, 15)),
                "pressure": float(rng.uniform(0.7, 1.3)),
            }
            replaced[position] = timed_signal(_impression(seed, position, **placement))
            described = ", ".join(f"{k} {v:.4g}" for k, v in placement.items())
            genuine.add(timed_compare(accepted[position], replaced[position]),
                        f"citizen {seed} finger {position} (first attempt {first_attempt}; again: {described})")
        all_pairs = list(itertools.combinations(positions, 2))
        for index in rng.choice(len(all_pairs), same_person_pairs, replace=False):
            first, second = all_pairs[index]
            same_person.add(timed_compare(accepted[first], replaced[second]),
                            f"citizen {seed} finger {first} vs finger {second}")
        for position, signal in previous.items():
            other_person.add(timed_compare(signal, replaced[position]),
                             f"finger {position} of citizens {seed - 1} and {seed}")
        previous = accepted
        print(f"citizen {number:2d}/{len(citizens)} done, {time.perf_counter() - started:5.0f} s", flush=True)

    print(f"\nSequence check: threshold {sequence.DEFAULT_THRESHOLD}, min overlap {sequence.MIN_OVERLAP_PX} px "
          f"(500 ppi); {len(citizens)} citizens x {len(positions)} fingers, seed 8382\n")
    for pairs, error in ((genuine, "false rejects"), (same_person, "false accepts"),
                         (other_person, "false accepts")):
        wrong = sum(not s for s in pairs.same) if pairs is genuine else sum(pairs.same)
        bound = 3 / len(pairs.scores)  # "rule of three": 95 % upper bound when nothing went wrong
        rate = f"{wrong}/{len(pairs.scores)} = {100 * wrong / len(pairs.scores):.2f} %"
        if wrong == 0:
            rate += f" (95 % upper bound {100 * bound:.1f} %)"
        print(f"{pairs.name}: {len(pairs.scores)} pairs, {error} {rate}")
        print(f"  score    {_distribution(pairs.scores)}")
        print(f"  overlap  min {min(pairs.overlaps)} px, median {statistics.median(pairs.overlaps):.0f} px")
        for label in pairs.errors(genuine=pairs is genuine):
            print(f"  {error[:-1]}: {label}")
    impostor_max = max(same_person.scores + other_person.scores)
    print(f"\nmargin: lowest genuine score {min(genuine.scores):.3f}, highest impostor score {impostor_max:.3f}")
    print(f"lowest genuine pair: {genuine.extreme(lowest=True)}")
    for pairs in (same_person, other_person):
        print(f"highest {pairs.name} pair with enough overlap: {pairs.extreme(lowest=False)}")
    print(f"\ntime per comparison: median {statistics.median(compare_ms):.1f} ms, "
          f"p95 {np.percentile(compare_ms, 95):.1f} ms ({len(compare_ms)} comparisons)")
    print(f"time per ridge signal: median {statistics.median(signal_ms):.1f} ms, "
          f"p95 {np.percentile(signal_ms, 95):.1f} ms")
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
