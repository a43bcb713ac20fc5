"""Receipts carried back on the USB stick: the last leg of enrolment without any network.

A mobile team exports its packets (``enrol outbox export DIR``), the registry imports them
(``enrol receiver import DIR``) and writes each packet's signed receipt next to it as
``<id>.receipt.p7s``; back at the station ``enrol outbox receipts DIR`` verifies every receipt
exactly as an upload's (signed by the pinned receipt certificate, for this packet id and these
sealed bytes) and marks the packet acknowledged.  A receipt that does not verify changes nothing.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from pathlib import Path

from crypto.receipt import ReceiptError, verify_receipt
from crypto.trust import TrustStore
from station.outbox.store import Outbox, PacketState

log = logging.getLogger(__name__)
RECEIPT_SUFFIX = ".receipt.p7s"


class ReceiptOutcome(enum.StrEnum):
    ACKNOWLEDGED = "acknowledged"
    ALREADY = "already acknowledged"
    UNKNOWN = "not from this station"
    REJECTED = "rejected"


@dataclass(frozen=True)
class ReceiptResult:
    packet_id: str
    outcome: ReceiptOutcome
    detail: str = ""


def import_receipts(directory: Path, outbox: Outbox, receipt_trust: TrustStore) -> list[ReceiptResult]:
    """Acknowledge every packet of ``outbox`` whose receipt in ``directory`` verifies."""
    results = []
    for path in sorted(directory.glob(f"*{RECEIPT_SUFFIX}")):
        packet_id = path.name.removesuffix(RECEIPT_SUFFIX)
        try:
            row = outbox.get(packet_id)
        except (KeyError, ValueError):
            results.append(ReceiptResult(packet_id, ReceiptOutcome.UNKNOWN))
            continue
        if row.state is PacketState.ACKNOWLEDGED or row.state is PacketState.PURGED:
            results.append(ReceiptResult(packet_id, ReceiptOutcome.ALREADY))
            continue
        data = path.read_bytes()
        try:
            verify_receipt(data, receipt_trust, packet_id=packet_id, sealed_sha256=row.sha256)
        except ReceiptError as error:
            log.warning("receipt for %s from %s rejected: %s", packet_id, directory, error)
            results.append(ReceiptResult(packet_id, ReceiptOutcome.REJECTED, str(error)))
            continue
        outbox.mark_acknowledged(packet_id, data)
        results.append(ReceiptResult(packet_id, ReceiptOutcome.ACKNOWLEDGED))
    return results
