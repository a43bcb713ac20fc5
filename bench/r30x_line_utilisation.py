"""How busy the R30x driver keeps the serial line during an image upload (target: >= 95 %).

Runs the driver against the wire-level simulator, which paces its output at the baud rate, once
at 57600 baud (the modules' default) and once at the fastest rate the driver negotiates, and
prints for each: the upload time (UpImage sent -> last data packet parsed), the bytes moved on
the wire in both directions (command, acknowledgement, every data packet with its header and
checksum), the wire time of those bytes (10 bit times per byte: start, 8 data, stop) and the
ratio wire time / upload time.

    .venv/bin/python bench/r30x_line_utilisation.py [--smoke]

``--smoke`` (the tests run it): one upload, at the fastest rate only (~3.5 s of wire time).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from drivers.fingerprint.r30x import IMAGE_BYTES, R30xScanner
from hardware_sim.r30x import R30xSimulator


def ridge_pattern() -> np.ndarray:
    """A 288 x 256 fingerprint-like test image (curved sine ridges)."""
    y, x = np.mgrid[0:288, 0:256].astype(np.float64)
    return np.clip(150 + 90 * np.sin(2 * np.pi * (x + 12 * np.sin(y / 47.0)) / 9.0), 0, 255).astype(np.uint8)


def measure(max_baudrate: int) -> None:
    image = ridge_pattern()
    with R30xSimulator() as sim:
        sim.place_finger(image)
        with R30xScanner(sim.port, max_baudrate=max_baudrate) as scanner:
            if not scanner.finger_present():
                raise SystemExit("the simulated module saw no finger")
            received, sent = sim.bytes_received, sim.bytes_sent
            started = time.perf_counter()
            captured = scanner.capture()
            elapsed = time.perf_counter() - started
            time.sleep(0.05)  # let the simulator's thread finish counting its last write
            moved = (sim.bytes_received - received) + (sim.bytes_sent - sent)
            baud = scanner.baudrate
    correct = np.array_equal(captured.pixels, (image >> 4) * 17)
    wire_time = moved * 10 / baud
    print(
        f"{baud:>7} baud  upload {elapsed:6.3f} s  wire bytes {moved:6d} "
        f"(image data {IMAGE_BYTES})  wire time {wire_time:6.3f} s  "
        f"line busy {100 * wire_time / elapsed:5.1f} %  image {'correct' if correct else 'WRONG'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="quick run: one upload at the fastest rate")
    args = parser.parse_args()
    print("R30x image upload over the simulated UART line (pty, paced at 10 bit times per byte)")
    if not args.smoke:
        measure(max_baudrate=57600)
    measure(max_baudrate=115200)


if __name__ == "__main__":
    main()
