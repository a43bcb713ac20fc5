"""From an enrolment record in memory to a sealed packet in the outbox, with nothing plaintext on disk."""

from __future__ import annotations

from capture.record import EnrolmentRecord
from crypto.seal import seal
from packet.build import build_packet
from station.identity import StationIdentity
from station.outbox.store import Outbox, PacketRow


def seal_record(record: EnrolmentRecord, identity: StationIdentity, outbox: Outbox) -> PacketRow:
    """Build the packet, seal it for the registry and queue it.  On any error the record is untouched
    (the caller still holds it and may try again); nothing has been written except, at most, a whole
    sealed packet."""
    outbox.check_space()
    packet = build_packet(record)
    sealed = seal(packet, identity.signer, identity.registry_certificate, chain=identity.chain)
    return outbox.add(str(record.packet_id), sealed)
