"""Reading vsmartcard's vicc ePass (Debian's vicc, corrected as tests/peers/conftest.py describes)
through the real pcscd + vpcd: APDUs per read, time per read, and how that time splits between the
exchanges (pyscard -> pcscd -> vpcd -> vicc and back: mostly vicc's own Python) and the station's
share (BAC, secure messaging, parsing, passive authentication).

    .venv/bin/python bench/vicc_read.py [--smoke] [--reads 10]

Needs what tests/peers needs (root for pcscd's socket; scripts/setup.sh installs the packages).
``--smoke``: two reads.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path

from cryptography import x509

from capture.document.mrz import MrzInformation
from capture.document.reader import ReadOptions, read_identity_document
from crypto.csca import CscaStore
from drivers.smartcard.models import create_reader
from hardware_sim.pcscd import READERS, PrivatePcscd

PEERS = Path(__file__).resolve().parents[1] / "tests" / "peers" / "conftest.py"
SPECIMEN = MrzInformation("L898902C", "690806", "940623")


def _peers():
    if "vicc_peers" not in sys.modules:
        spec = spec_from_file_location("vicc_peers", PEERS)
        module = module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules["vicc_peers"] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    return sys.modules["vicc_peers"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reads", type=int, default=10)
    parser.add_argument("--smoke", action="store_true", help="two reads (the tests run it)")
    args = parser.parse_args()
    reads = 2 if args.smoke else args.reads
    peers = _peers()
    with tempfile.TemporaryDirectory(prefix="vicc-bench-") as folder, PrivatePcscd() as daemon:
        root = Path(folder)
        files = peers.load_card_data().write_card(root / "card")
        card = peers.ViccCard(root / "card", peers.patched_copy(root / "package"), files)
        trust = CscaStore([x509.load_pem_x509_certificate(card.csca_pem)])
        vicc = peers.ViccProcess(card, daemon.port + 1, root / "vicc.log")
        vicc.wait_connected()
        rows = []
        try:
            for _ in range(reads):
                with create_reader("pcsc", {"reader": READERS[1]}) as reader:
                    reader.wait_for_card(5)
                    counter = {"apdus": 0, "seconds": 0.0}
                    exchange = reader.exchange

                    def counted(command: bytes, exchange=exchange, counter=counter) -> bytes:
                        started = time.perf_counter()
                        try:
                            return exchange(command)
                        finally:
                            counter["apdus"] += 1
                            counter["seconds"] += time.perf_counter() - started

                    reader.exchange = counted
                    started = time.perf_counter()
                    document = read_identity_document(reader, SPECIMEN, trust,
                                                      options=ReadOptions(data_groups=("DG1", "DG2")))
                    total = time.perf_counter() - started
                if not document.verified:
                    raise SystemExit(f"vicc's card did not verify: {document.verification}")
                rows.append((counter["apdus"], total, counter["seconds"]))
        finally:
            vicc.stop()
        if vicc.errors():
            raise SystemExit(f"vicc raised: {vicc.errors()}")
    size = sum(len(files[n]) for n in ("COM", "DG1", "DG2", "SOD"))
    apdus = statistics.median(r[0] for r in rows)
    total = statistics.median(r[1] for r in rows)
    exchanges = statistics.median(r[2] for r in rows)
    print(f"vicc ePass via pcscd + vpcd: COM, DG1, DG2, SOD = {size} bytes, {reads} reads (medians)")
    print(f"APDUs per read          {apdus:8.0f}")
    print(f"read + verify           {total * 1000:8.0f} ms")
    print(f"in exchanges            {exchanges * 1000:8.0f} ms  ({exchanges / apdus * 1000:.1f} ms per APDU: "
          "pcscd, vpcd and vicc)")
    print(f"the station's share     {(total - exchanges) * 1000:8.0f} ms  ({(total - exchanges) / total:.0%})")


if __name__ == "__main__":
    main()
