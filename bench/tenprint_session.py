"""A full ten-print session on each simulated scanner, through the real drivers.

The R30x module is on a pty at the baud rate the driver negotiates (up to 115200), the NB-1010-U on
the virtual USB backend.  A scripted citizen answers the prompts and makes the common mistake twice:
for the right middle finger it first puts down the right index again, for the left middle finger
the left index again (re-placed: another attempt, turned and shifted, not the same image).

Printed per scanner: the total time, and per finger the attempts, their scores, what was caught,
and where the time went: waiting for the finger (the poll that finds it), capture + transfer (the
driver's ``capture``), waiting for the lift, the station's processing (quality score + ridge signal
+ sequence check against the fingers already taken) and the simulated citizen (rendering the
impression; not station time).  Master prints are rendered before the sessions start.

    .venv/bin/python bench/tenprint_session.py [--smoke]

About a minute: the R30x moves each 36 KiB image over the serial line in ~3.3 s at 115200 baud.
``--smoke`` (the tests run it): instead of ten fingers, the right index alone on the R30x (one
upload, ~3.5 s) and the right index then the right middle, with its mistake, on the NB-1010-U.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from capture.finger.positions import FingerPosition
from capture.finger.tenprint import AttemptResult, Event, Forced, Prompt, TenPrintPolicy, TenPrintSession
from drivers.device import DeviceInfo, SelfTestResult
from drivers.fingerprint.base import FingerImage, FingerprintScanner
from drivers.fingerprint.models import create_scanner
from hardware_sim.fingerprints import master_print
from hardware_sim.scripted_citizen import ScriptedCitizen
from hardware_sim.simulated_station import ScannerName, SimulatedStation

SEED = 4242
MISTAKES = {3: [2], 8: [7]}
"""Right middle given as the right index again; left middle as the left index again (first attempt)."""
REPLACED = {3: [{"attempt": 21, "rotation_deg": 9.0, "dx_mm": 1.5}],
            8: [{"attempt": 22, "rotation_deg": -7.0, "dy_mm": -1.5}]}
SMOKE_ORDERS: dict[ScannerName, tuple[FingerPosition, ...]] = {
    "r30x": (FingerPosition.RIGHT_INDEX,),
    "nb1010": (FingerPosition.RIGHT_INDEX, FingerPosition.RIGHT_MIDDLE)}
"""The smoke run's sessions: one R30x upload; on the NB-1010-U the right middle given as the right index first."""


class TimedScanner(FingerprintScanner):
    """Passes every call to a driver and adds its duration to the current finger's account."""

    def __init__(self, driver: FingerprintScanner, account: Callable[[str, float], None]) -> None:
        self._driver = driver
        self._account = account
        self.poll_interval_s = driver.poll_interval_s

    def _timed(self, what: str, call: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            return call()
        finally:
            self._account(what, time.perf_counter() - started)

    def open(self) -> None:
        self._driver.open()

    def close(self) -> None:
        self._driver.close()

    def info(self) -> DeviceInfo:
        return self._driver.info()

    def finger_present(self) -> bool:  # the session polls this directly only while waiting for the lift
        return self._timed("lift", self._driver.finger_present)

    def capture(self, cancel: threading.Event | None = None) -> FingerImage:
        return self._timed("capture", self._driver.capture)

    def self_test(self) -> SelfTestResult:
        return self._driver.self_test()

    def wait_for_finger(self, timeout: float, cancel: threading.Event | None = None) -> None:
        self._timed("wait", lambda: self._driver.wait_for_finger(timeout, cancel))


def run_session(station: SimulatedStation, scanner_name: ScannerName, settings: dict[str, Any],
                order: tuple[FingerPosition, ...] = tuple(FingerPosition)) -> None:
    mistakes = {position: wrong for position, wrong in MISTAKES.items() if position in order}
    seconds: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    started_at: dict[int, float] = {}
    ended_at: dict[int, float] = {}
    results: dict[int, list[AttemptResult]] = defaultdict(list)
    forced: set[int] = set()
    current = [0]
    citizen = ScriptedCitizen(station, SEED, scanner_name, mistakes=mistakes, impressions=REPLACED)

    def account(what: str, elapsed: float) -> None:
        seconds[current[0]][what] += elapsed

    def listener(event: Event) -> None:
        position = int(event.position)
        if isinstance(event, Prompt) and event.attempt == 1:
            if current[0]:
                ended_at[current[0]] = time.perf_counter()
            current[0] = position
            started_at[position] = time.perf_counter()
        elif isinstance(event, AttemptResult):
            results[position].append(event)
        elif isinstance(event, Forced):
            forced.add(position)
        started = time.perf_counter()
        citizen.on_event(event)
        account("citizen", time.perf_counter() - started)

    session = TenPrintSession(TenPrintPolicy(order=order), listener)
    opened = time.perf_counter()
    driver = create_scanner(scanner_name, settings, usb_backend=station.usb_backend)
    with TimedScanner(driver, account) as scanner:
        open_s = time.perf_counter() - opened
        began = time.perf_counter()
        session.run(scanner)
        total = time.perf_counter() - began
        ended_at[current[0]] = time.perf_counter()
        baud = getattr(driver, "baudrate", None)

    link = f"{baud} baud" if baud else "virtual USB"
    print(f"\n{scanner_name} ({driver.info().model}, {link}): open {open_s:.2f} s, "
          f"ten-print session {total:.1f} s, complete: {session.complete}")
    print("  pos  attempts  scores       caught       finger s   wait  capture   lift  station  citizen")
    totals: dict[str, float] = defaultdict(float)
    for position in order:
        row = seconds[position]
        finger_s = ended_at[position] - started_at[position]
        station_s = finger_s - sum(row.values())
        for key, value in (*row.items(), ("station", station_s), ("finger", finger_s)):
            totals[key] += value
        scores = ",".join(str(r.report.score) for r in results[position])
        caught = ",".join(f"dup of {int(r.duplicate_of)}" for r in results[position] if r.duplicate_of)
        flag = " forced" if position in forced else ""
        print(f"  {int(position):3d}  {len(results[position]):8d}  {scores:11s}  {caught or '-':11s}{flag}  "
              f"{finger_s:8.2f}  {row['wait']:5.3f}  {row['capture']:7.3f}  {row['lift']:5.3f}  "
              f"{station_s:7.2f}  {row['citizen']:7.2f}")
    n = len(order)
    attempts = sum(len(r) for r in results.values())
    print(f"  mean per finger: {totals['finger'] / n:.2f} s (wait {totals['wait'] / n:.2f}, capture+transfer "
          f"{totals['capture'] / n:.2f}, lift {totals['lift'] / n:.2f}, station {totals['station'] / n:.2f}, "
          f"citizen {totals['citizen'] / n:.2f}); {attempts} attempts for {n} fingers")
    expected = {(position, wrong[0]) for position, wrong in mistakes.items()}
    caught_pairs = {(position, int(r.duplicate_of)) for position, rs in results.items() for r in rs
                    if r.duplicate_of is not None and r.attempt == 1}
    false_alarms = [(position, r.attempt) for position, rs in results.items() for r in rs
                    if r.duplicate_of is not None and (position, int(r.duplicate_of)) not in expected]
    print(f"  wrong fingers caught: {len(caught_pairs & expected)}/{len(expected)} "
          f"{sorted(caught_pairs & expected)}; duplicates flagged wrongly: {false_alarms or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="quick run: one finger on the R30x, two on the NB-1010-U")
    args = parser.parse_args()
    every = tuple(FingerPosition)
    orders = SMOKE_ORDERS if args.smoke else {"r30x": every, "nb1010": every}
    positions = sorted({position for order in orders.values() for position in order})
    started = time.perf_counter()
    for position in positions:
        master_print(SEED, int(position))
    print(f"citizen {SEED}: {len(positions)} master prints rendered in {time.perf_counter() - started:.1f} s "
          "(before timing)")
    with SimulatedStation() as station:
        run_session(station, "r30x", {"port": station.r30x.port}, orders["r30x"])
        run_session(station, "nb1010", {}, orders["nb1010"])


if __name__ == "__main__":
    main()
