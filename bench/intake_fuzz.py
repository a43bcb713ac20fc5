"""Fuzz the receiver's intake with mutated valid packets and count what escapes as an unexpected exception.

Each input is a real packet changed at one layer (``tests/e2e/synthetic.py``, ``FUZZ_LAYERS``): the
sealed bytes; the SignedData inside a valid envelope; the ZIP, its manifest or its entries under a
valid signature by the station's real key (what a stolen key or a buggy station sends).  Every input
must be stored or refused with a code; anything else is printed (goal: 0).  Afterwards the
receiver's ``/health`` must still answer.  Both registry key kinds (ECDH, RSA-OAEP) take half each.

    .venv/bin/python bench/intake_fuzz.py [--smoke] [--count 100000] [--seed N]

``--smoke`` (the tests run it): 200 inputs.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

import _shared
import httpx

from crypto.pki import StationSubject, create_dev_pki
from receiver.app import create_app
from receiver.server import build_intake


async def _health(app: object) -> int:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://receiver") as client:  # type: ignore[arg-type]
        return (await client.get("/health")).status_code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="quick run: 200 inputs")
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261202)
    args = parser.parse_args()
    count = 200 if args.smoke else args.count
    synthetic = _shared.synthetic()
    totals: dict[str, int] = {}
    unexpected: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="intake-fuzz-") as scratch:
        for index, kind in enumerate(("ec", "rsa")):
            folder = Path(scratch) / kind
            pki = create_dev_pki(folder / "pki", StationSubject("NA-HUNGDUNG-01", "40", "412"), registry_key_type=kind)
            intake = build_intake(synthetic.receiver_settings(pki, folder / "receiver"))
            share = count // 2 + (count % 2 if index == 0 else 0)
            outcomes, escaped = synthetic.fuzz_intake(intake, pki, random.Random(args.seed + index), share)
            for outcome, n in outcomes.items():
                totals[outcome] = totals.get(outcome, 0) + n
            unexpected += escaped
            if asyncio.run(_health(create_app(intake))) != 200:
                unexpected.append(f"{kind}: /health does not answer 200 after the fuzzing")
    elapsed = time.perf_counter() - started
    print(f"intake fuzz: {sum(totals.values())} inputs in {elapsed:.0f} s ({sum(totals.values()) / elapsed:.0f}/s), "
          f"seed {args.seed}, layers {', '.join(synthetic.FUZZ_LAYERS)}")
    for outcome, n in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"  {outcome:24s} {n:8d}")
    print(f"unexpected exceptions: {len(unexpected)} (goal 0); /health answered after the run")
    for description in unexpected[:5]:
        print(description)
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
