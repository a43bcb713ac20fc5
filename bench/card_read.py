"""How long reading and verifying a CCCD's chip takes, and how many APDUs it needs, at a simulated
contactless rate of 424 kbit/s, for READ BINARY chunks of 0xDF and 0xFF bytes and for whole files
in one extended-length READ BINARY.

The read is the station's real code (CCID driver over the virtual USB bus, BAC, secure messaging,
LDS parsing, passive authentication) against the simulated reader and chip; the reader simulator
holds every APDU for the time its command and response bytes take at 424 kbit/s (ISO/IEC 14443's
fourth bit rate), so the time printed is air time plus everything the station computes.  The
physical limit is the bytes of EF.COM, DG1, DG2, DG13 and EF.SOD alone over that rate - what no
protocol could beat; "air bytes" adds every APDU header, secure-messaging object, MAC and status
word, which is where the chunk size shows.

    .venv/bin/python bench/card_read.py [--smoke] [--rate 424000] [--repeat 3] [--clone-detection]

The chip announces extended length in its ATR, so "default (auto)" - what the station does - reads
whole files; ``--clone-detection`` gives it DG14 and DG15 (Chip and Active Authentication run,
their APDUs and files count, the limit is over every file).

``--smoke``: one read per mode instead of the median of ``--repeat`` (the tests run it).
"""

from __future__ import annotations

import argparse
import statistics
import time

from capture.document.passive_auth import passive_authentication
from capture.document.reader import ReadOptions, cccd_access, read_identity_document
from crypto.csca import CscaStore
from drivers.smartcard import ccid
from hardware_sim.ccid import CcidReaderSimulator
from hardware_sim.citizens import make_citizen
from hardware_sim.emrtd import EmrtdChip, aa_key, build_files, ca_key, run_pki

MODES = {"chunks of 0xDF": ReadOptions(chunk_size=0xDF, extended=False),
         "chunks of 0xFF": ReadOptions(chunk_size=0xFF, extended=False),
         "extended length": ReadOptions(extended=True),
         "default (auto)": ReadOptions()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=424_000, help="simulated bit rate (bit/s)")
    parser.add_argument("--repeat", type=int, default=3, help="reads per mode (the median is printed)")
    parser.add_argument("--smoke", action="store_true", help="quick run: one read per mode")
    parser.add_argument("--clone-detection", action="store_true",
                        help="a chip with DG14 and DG15: Chip and Active Authentication in every read")
    args = parser.parse_args()
    if args.smoke:
        args.repeat = 1

    citizen = make_citizen(1)
    if args.clone_detection:
        files = build_files(citizen, aa_key=aa_key("rsa"), ca_public_key=ca_key().public_key())
        chip = EmrtdChip(citizen, files=files, aa_key=aa_key("rsa"), ca_key=ca_key(), extended_length=True)
    else:
        chip = EmrtdChip(citizen, extended_length=True)
    trust = CscaStore([run_pki().csca_certificate])
    access = cccd_access(citizen.personal_id, citizen.birth_date.strftime("%y%m%d"),
                         citizen.expiry_date.strftime("%y%m%d"))
    file_bytes = sum(len(data) for data in chip.files.values())
    limit = 8 * file_bytes / args.rate
    print(f"Files: {', '.join(f'{n} {len(d)} B' for n, d in chip.files.items())} = {file_bytes} bytes")
    print(f"Simulated rate {args.rate / 1000:g} kbit/s: physical limit {limit * 1000:.0f} ms\n")
    print(f"{'mode':18} {'APDUs':>6} {'air bytes':>10} {'air time':>9} {'read+verify':>12} {'verify':>7} "
          f"{'vs limit':>9}")

    simulator = CcidReaderSimulator(bit_rate=args.rate)
    simulator.insert_card(chip)
    with ccid.CcidReader(ccid.find(simulator.backend)) as reader:
        for label, options in MODES.items():
            totals, verifies = [], []
            for _ in range(args.repeat):
                apdus, carried = simulator.apdus, simulator.bytes_carried
                started = time.perf_counter()
                document = read_identity_document(reader, access, trust, options=options)
                totals.append(time.perf_counter() - started)
                if not document.verified:
                    raise SystemExit(f"{label}: the card did not verify: {document.verification}")
                groups = {n: d for n, d in document.data_groups.items() if n.startswith("DG")}
                started = time.perf_counter()
                passive_authentication(document.data_groups["SOD"], groups, trust)
                verifies.append(time.perf_counter() - started)
                apdu_count, air = simulator.apdus - apdus, simulator.bytes_carried - carried
            total = statistics.median(totals)
            print(f"{label:18} {apdu_count:6d} {air:10d} {8 * air / args.rate * 1000:7.0f} ms "
                  f"{total * 1000:9.0f} ms {statistics.median(verifies) * 1000:4.0f} ms {total / limit:8.2f}x")


if __name__ == "__main__":
    main()
