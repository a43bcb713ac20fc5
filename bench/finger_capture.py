"""Time per finger on each simulated scanner, through the real drivers: wait, capture, transfer.

For each scanner, 10 fingers (one citizen's ten) are taken one after the other:

* wait: from the finger touching the sensor (placed by a timer 0.3-0.35 s, drawn at random, after
  ``wait_for_finger`` started polling, so that placements fall anywhere between two polls) to
  ``wait_for_finger`` returning: the detection latency of the poll;
* capture: the sensor taking the image.  R30x: one GenImg round trip (the command that images the
  finger into the module's buffer; ``finger_present`` sends it).  NB-1010-U: the pre-capture and
  capture commands with their replies, timed from the driver's traffic log;
* transfer: moving the image to the station.  R30x: ``capture()``, which uploads the latched image
  (UpImage: acknowledgement then 4-bit data packets at the line's baud rate).  NB-1010-U: the
  90 bulk IN image reads of 540 bytes.

The R30x module sits on a pty at the rate the driver negotiates (up to 115200 baud); the
NB-1010-U on the virtual USB backend (so its figure is the protocol's software cost, not USB
bus time).

    .venv/bin/python bench/finger_capture.py [--smoke]

``--smoke`` (the tests run it): one finger per scanner instead of ten.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import threading
import time

import numpy as np

from drivers.fingerprint.models import create_scanner
from hardware_sim.fingerprints import master_print
from hardware_sim.simulated_station import ScannerName, SimulatedStation

SEED = 4242
FINGERS = range(1, 11)
PLACE_AFTER_S = (0.3, 0.35)


class TrafficClock(logging.Handler):
    """Notes when the driver logged each packet (its traffic logger writes one record per transfer)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((time.perf_counter(), record.getMessage()))


def _row(name: str, values: list[float]) -> str:
    return (f"{name:9s} median {1000 * statistics.median(values):7.1f} ms  min {1000 * min(values):7.1f}  "
            f"max {1000 * max(values):7.1f}")


def measure(station: SimulatedStation, name: ScannerName, rng: np.random.Generator,
            fingers: range = FINGERS) -> None:
    settings = {"port": station.r30x.port} if name == "r30x" else {}
    clock = TrafficClock()
    traffic = logging.getLogger("drivers.fingerprint.nb1010.traffic")
    waits, captures, transfers = [], [], []
    opened = time.perf_counter()
    with create_scanner(name, settings, usb_backend=station.usb_backend) as scanner:
        open_s = time.perf_counter() - opened
        for position in fingers:
            image = station.finger_image(SEED, position, name)
            placed_at: list[float] = []

            def place(image=image, placed_at=placed_at) -> None:
                placed_at.append(time.perf_counter())
                station.scanner(name).place_finger(image)

            timer = threading.Timer(rng.uniform(*PLACE_AFTER_S), place)
            timer.start()
            scanner.wait_for_finger(10.0)
            waits.append(time.perf_counter() - placed_at[0])
            if name == "r30x":
                started = time.perf_counter()
                if not scanner.finger_present():  # GenImg again: the sensor's own imaging time
                    raise SystemExit("the simulated module lost the finger")
                captures.append(time.perf_counter() - started)
                started = time.perf_counter()
                scanner.capture()
                transfers.append(time.perf_counter() - started)
            else:
                clock.records.clear()
                traffic.addHandler(clock)
                traffic.setLevel(logging.DEBUG)
                try:
                    started = time.perf_counter()
                    scanner.capture()
                    ended = time.perf_counter()
                finally:
                    traffic.removeHandler(clock)
                    traffic.setLevel(logging.NOTSET)
                replied = next(t for t, message in clock.records if "reply to capture" in message)
                captures.append(replied - started)
                transfers.append(ended - replied)
            station.lift_finger(name)
        model = scanner.info().model
        link = f"{scanner.baudrate} baud" if name == "r30x" else "virtual USB"
    print(f"\n{name} ({model}, {link}), {len(fingers)} finger{'s' * (len(fingers) != 1)}; open {open_s:.2f} s")
    print("  " + _row("wait", waits))
    print("  " + _row("capture", captures))
    print("  " + _row("transfer", transfers))
    per_finger = [w + c + t for w, c, t in zip(waits, captures, transfers, strict=True)]
    print("  " + _row("total", per_finger))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="quick run: one finger per scanner")
    args = parser.parse_args()
    fingers = FINGERS[:1] if args.smoke else FINGERS
    for position in fingers:
        master_print(SEED, position)  # rendered before timing
    low, high = PLACE_AFTER_S
    print(f"Time per finger through the drivers (finger placed {low:g}-{high:g} s after polling starts)")
    rng = np.random.default_rng(2)
    with SimulatedStation() as station:
        measure(station, "r30x", rng, fingers)
        measure(station, "nb1010", rng, fingers)


if __name__ == "__main__":
    main()
