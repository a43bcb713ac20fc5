"""The registry finds an enrolment from the number on the citizen's receipt."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from packet.enrolment_number import EnrolmentNumberError, enrolment_number
from receiver.store import PacketStore, StoredPacket


def _put(store: PacketStore, packet_id: str, station: str) -> StoredPacket:
    packet = StoredPacket(packet_id, station, "00" * 32, 3, datetime.now(UTC), b"receipt", "upload")
    return store.put(packet, b"abc")


def test_the_receipts_number_finds_its_packet_and_only_it(tmp_path):
    store = PacketStore(tmp_path)
    wanted = str(uuid.uuid4())
    _put(store, wanted, "NA-01")
    twin = wanted[:14] + "4fff-8fff-ffffffffffff"  # same first 48 bits: another station's rare namesake
    _put(store, twin, "HN-07")
    neighbours = [f"{wanted[:12]}{(int(wanted[12], 16) + step) % 16:x}-4000-8000-000000000000" for step in (1, 15)]
    for neighbour in neighbours:  # ids just above and below the number's range
        _put(store, neighbour, "NA-01")
    found = store.find_by_number(enrolment_number(wanted))
    assert sorted((packet.packet_id, packet.station_id) for packet in found) == sorted(
        [(wanted, "NA-01"), (twin, "HN-07")])
    assert store.find_by_number(enrolment_number(uuid.uuid4())) == []


def test_a_mistyped_number_is_refused(tmp_path):
    store = PacketStore(tmp_path)
    number = enrolment_number(uuid.uuid4())
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    with pytest.raises(EnrolmentNumberError, match="mistyped"):
        store.find_by_number(wrong)
