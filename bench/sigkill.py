"""SIGKILL of the station's sealing step and its uploader, hundreds of times: what is lost, what the
registry stores twice, and whether every citizen who saw no receipt is on the officer's list.

Each run is one station process (``tests/e2e/station_worker.py``) that enrols one synthetic citizen
the kiosk's way from the officer's authorisation to the receipt screen (seal and queue, draw the
receipt slip, mark the packet handed over) and then uploads to a receiver (TLS, client certificates,
the reference intake) until nothing is pending; it is SIGKILLed at a random moment, and the next run
starts on what it left (``tests/e2e/kill_runs.py`` says how the moments are spread and judged).  A
last run, never killed, uploads what remains.  Goals (issue 13): lost 0, duplicated 0, unlisted 0.

    .venv/bin/python bench/sigkill.py [--smoke] [--kills 200] [--seed 1]

``--smoke`` (the tests run it): 3 kills.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import _shared

from crypto.pki import StationSubject, load_dev_pki
from station.services import open_outbox


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    kills = 3 if args.smoke else args.kills
    synthetic, harness = _shared.synthetic(), _shared.kill_runs()
    with tempfile.TemporaryDirectory(prefix="sigkill-") as scratch:
        root = Path(scratch)
        data = root / "station"
        pki = load_dev_pki(data / "dev-pki", StationSubject("NA-HUNGDUNG-01", "00", "000"))
        receiver = synthetic.RunningReceiver(synthetic.receiver_settings(pki, root / "receiver")).start()
        try:
            config_file = root / "station.toml"
            config_file.write_text(f'[station]\nid = "NA-HUNGDUNG-01"\nsimulated = true\n[paths]\n'
                                   f'data_dir = "{data}"\n[outbox]\nreceiver_url = "{receiver.url}"\n')
            plaintext: list[str] = []

            def progress(tally: object) -> None:
                if tally.runs % 25 == 0:  # type: ignore[attr-defined]
                    plaintext.extend(synthetic.scan_for_plaintext(data))
                    print(f"  {tally.runs} runs, {tally.killed} killed", flush=True)  # type: ignore[attr-defined]

            begun = time.monotonic()
            tally = harness.run_kills(config_file, kills, args.seed, every_run=progress)
            seconds = time.monotonic() - begun
            verdict = harness.judge(tally, open_outbox(synthetic.station_config(data, receiver.url)),
                                    receiver.intake.store)
            plaintext.extend(synthetic.scan_for_plaintext(data))
        finally:
            receiver.stop()
    print(f"runs {tally.runs}, SIGKILLed {tally.killed} ({tally.killed_after_sealing} after the packet was kept, "
          f"{tally.killed - tally.killed_after_sealing} before), worker lifetime {tally.lifetime_s:.2f} s, "
          f"{seconds:.0f} s in all")
    print(f"packets kept {verdict.packets}, acknowledged by the registry {verdict.acknowledged}")
    print(f"sealed packets lost: {len(verdict.lost)} (goal 0)")
    print(f"duplicated or stray at the receiver: {verdict.duplicated} (goal 0)")
    print(f"kept while the citizen saw no receipt: {len(verdict.not_handed_over)}, all on the officer's list: "
          f"{'yes' if not verdict.unlisted else f'NO, {len(verdict.unlisted)} missing'}; with their officer: "
          f"{verdict.officer_known} (the others' rows were rebuilt from their files); listed although the "
          f"receipt showed: {len(verdict.wrongly_listed)} (goal 0)")
    print(f"plaintext files found on the station's disk: {len(plaintext)} (goal 0)")
    print(f"runs that failed by themselves: {len(verdict.failures)} (goal 0)")
    for failure in sorted(set(verdict.failures)):
        print(f"  {verdict.failures.count(failure)} x {failure}")
    return 0 if verdict.sound and not plaintext else 1


if __name__ == "__main__":
    sys.exit(main())
