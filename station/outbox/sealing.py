"""From an enrolment record in memory to a sealed packet in the outbox, with nothing plaintext on disk.

One citizen, one packet: the record's packet id is fixed by the caller for the whole enrolment (the
kiosk session makes it once per citizen), so sealing again after a failure (a full disk, the
officer's retry) writes the packet under the same id, and sealing a record whose packet is already
kept returns that packet instead of making a second one.
"""

from __future__ import annotations

from capture.record import EnrolmentRecord
from crypto.seal import seal
from packet.build import build_packet
from station.identity import StationIdentity
from station.outbox.store import Outbox, PacketRow


def seal_record(record: EnrolmentRecord, identity: StationIdentity, outbox: Outbox) -> PacketRow:
    """Build the packet, seal it for the registry and queue it, unless the outbox already keeps the
    record's packet (a retry of a seal that got through).  On any error the record is untouched (the
    caller still holds it and may try again); nothing has been written except, at most, a whole
    sealed packet."""
    packet_id = str(record.packet_id)
    kept = outbox.find(packet_id)
    if kept is not None:
        return kept
    outbox.check_space()
    packet = build_packet(record)
    sealed = seal(packet, identity.signer, identity.registry_certificate, chain=identity.chain)
    return outbox.add(packet_id, sealed, officer=record.operator_id)
