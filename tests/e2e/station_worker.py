"""A station process for the crash tests: seal N new synthetic enrolments, then upload until all are acknowledged.

Run as ``python station_worker.py CONFIG N``; the test SIGKILLs it at random moments and runs it again.
"""

from __future__ import annotations

import sys
import time
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path

from station.config import load_config
from station.identity import load_identity
from station.outbox.sealing import seal_record
from station.outbox.store import PacketState
from station.services import make_uploader, open_outbox


def main() -> int:
    spec = spec_from_file_location("synthetic_enrolment", Path(__file__).with_name("synthetic.py"))
    synthetic = module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(synthetic)  # type: ignore[union-attr]
    config = load_config(Path(sys.argv[1]))
    outbox = open_outbox(config)
    identity = load_identity(config)
    for _ in range(int(sys.argv[2])):
        row = seal_record(synthetic.record(fingers=4, cheap=True), identity, outbox)
        print("sealed", row.packet_id, flush=True)
    uploader = make_uploader(config, outbox, identity)
    uploader.base_delay_s = 0.05
    uploader.lease_s = 1.0  # a killed run's packet is claimable by the next run a second later
    deadline = time.monotonic() + 60
    while outbox.list(PacketState.SEALED, PacketState.UPLOADING) and time.monotonic() < deadline:
        uploader.upload_due()
        time.sleep(0.02)
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
