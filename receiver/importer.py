"""Import packets carried from a station without network (``enrol outbox export DIR`` on a USB stick).

Each ``<id>.p7m`` goes through exactly the checks of an upload; its receipt is written next to it
as ``<id>.receipt.p7s`` so that the stick can carry the receipts back if wanted.  A bad packet is
reported and the others are still imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crypto.errors import PacketError
from receiver.intake import Intake


@dataclass(frozen=True)
class ImportResult:
    packet_id: str
    outcome: str
    """"stored", "duplicate", "unreadable" (the file could not be read), or the refusal's error code."""
    detail: str = ""


def import_directory(directory: Path, intake: Intake) -> list[ImportResult]:
    results = []
    for path in sorted(directory.glob("*.p7m")):
        packet_id = path.stem
        try:
            accepted = intake.accept(packet_id, path.read_bytes(), via="import")
        except OSError as error:  # a folder named X.p7m, an unreadable file: the others are still imported
            results.append(ImportResult(packet_id, "unreadable", f"{path.name}: {error.strerror}"))
            continue
        except PacketError as error:
            results.append(ImportResult(packet_id, error.code, str(error)))
            continue
        (directory / f"{packet_id}.receipt.p7s").write_bytes(accepted.receipt)
        results.append(ImportResult(packet_id, "stored" if accepted.created else "duplicate"))
    return results
