"""A station process for the crash tests: enrol N synthetic citizens as the kiosk does at its end, then
upload until every packet is acknowledged.

Run as ``python station_worker.py CONFIG N``; :mod:`kill_runs` SIGKILLs it at random moments and runs
it again.  Each enrolment goes the kiosk's way from the officer's authorisation to the receipt
screen: seal and queue (:func:`station.outbox.sealing.seal_record`, which ``StationServices.seal``
calls), draw the receipt slip (what the receipt screen does first), then mark the packet handed
over (what the receipt screen does once it shows).  What it prints tells the harness how far each
citizen got: ``sealed ID`` once the packet is kept, ``handing ID`` before the mark, ``handed ID``
after it, and ``done`` once nothing is pending.
"""

from __future__ import annotations

import sys
import time
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path

from kiosk.slip import collection_notice, render_slip
from packet.enrolment_number import enrolment_number
from station.config import load_config
from station.identity import load_identity
from station.outbox.sealing import seal_record
from station.outbox.store import PacketState
from station.services import ReceiptSlip, make_uploader, open_outbox


def main() -> int:
    spec = spec_from_file_location("synthetic_enrolment", Path(__file__).with_name("synthetic.py"))
    synthetic = module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(synthetic)  # type: ignore[union-attr]
    config = load_config(Path(sys.argv[1]))
    outbox = open_outbox(config)
    identity = load_identity(config)
    for _ in range(int(sys.argv[2])):
        record = synthetic.record(fingers=4, cheap=True)
        row = seal_record(record, identity, outbox)
        print("sealed", row.packet_id, flush=True)
        slip = ReceiptSlip(enrolment_number(row.packet_id), row.packet_id, record.station_id, record.created_at)
        render_slip(slip, collection_notice(config.kiosk, "vi"))
        print("handing", row.packet_id, flush=True)
        outbox.hand_over(row.packet_id)
        print("handed", row.packet_id, flush=True)
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
