"""The outbox as a state machine: guarded moves, one holder per packet (leases), schema migration."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from station.outbox.store import SCHEMA_VERSION, TRANSITIONS, Outbox, PacketState, WrongState

SEALED = b"\x30\x80 pretend sealed packet" * 100

SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS packets (
    packet_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    sealed_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    acknowledged_at TEXT,
    receipt BLOB,
    exported_at TEXT
);
CREATE INDEX IF NOT EXISTS packets_due ON packets (state, next_attempt_at);
"""
"""The schema before versioning (``user_version`` 0), as stations in the field have it."""


def _id() -> str:
    return str(uuid.uuid4())


def _raw(outbox: Outbox, packet_id: str) -> tuple:
    return outbox._db.execute("SELECT * FROM packets WHERE packet_id = ?", (packet_id,)).fetchone()


def test_every_state_is_in_the_transition_table():
    assert set(TRANSITIONS) == set(PacketState)
    assert TRANSITIONS[PacketState.PURGED] == frozenset()


@pytest.mark.parametrize("move", [
    lambda outbox, packet_id: outbox.mark_failed(packet_id, "me", "network: down", datetime.now(UTC)),
    lambda outbox, packet_id: outbox.mark_refused(packet_id, "me", "tampered: test"),
    lambda outbox, packet_id: outbox.mark_quarantined(packet_id, "me", "unreadable: test"),
])
@pytest.mark.parametrize("state", ["sealed", "acknowledged", "held by another"])
def test_a_move_from_the_wrong_state_raises_and_changes_nothing(tmp_path, move, state):
    outbox = Outbox(tmp_path)
    packet_id = _id()
    outbox.add(packet_id, SEALED)
    if state == "acknowledged":
        outbox.mark_acknowledged(packet_id, b"receipt")
    elif state == "held by another":
        outbox.claim_next("other", 60)
    before = _raw(outbox, packet_id)
    with pytest.raises(WrongState, match=f"packet {packet_id} is .*; cannot go uploading → ") as caught:
        move(outbox, packet_id)
    assert caught.value.packet_id == packet_id
    assert "held by other" in str(caught.value) or state != "held by another"
    assert _raw(outbox, packet_id) == before


def test_acknowledging_twice_keeps_the_first_receipt_and_does_not_raise(tmp_path):
    outbox = Outbox(tmp_path)
    packet_id = _id()
    outbox.add(packet_id, SEALED)
    outbox.claim_next("me", 60)
    outbox.mark_acknowledged(packet_id, b"receipt")
    before = _raw(outbox, packet_id)
    outbox.mark_acknowledged(packet_id, b"receipt")  # a late duplicate
    assert _raw(outbox, packet_id) == before
    with pytest.raises(WrongState, match="cannot go uploading → sealed"):  # the holder cannot undo it
        outbox.mark_failed(packet_id, "me", "network: late", datetime.now(UTC))
    assert outbox.get(packet_id).state is PacketState.ACKNOWLEDGED and outbox.get(packet_id).lease_holder is None


def test_concurrent_claims_over_one_directory_never_share_a_packet(tmp_path):
    ids = [_id() for _ in range(50)]
    setup = Outbox(tmp_path)
    for packet_id in ids:
        setup.add(packet_id, SEALED)
    setup.close()
    workers, tries = 4, 50  # 200 claims over 50 packets
    outboxes = [Outbox(tmp_path) for _ in range(workers)]  # one connection each, as separate processes have
    start = threading.Barrier(workers)
    claimed: list[list[str]] = [[] for _ in range(workers)]

    def claim(worker: int) -> None:
        start.wait()
        for _ in range(tries):
            row = outboxes[worker].claim_next(f"worker-{worker}", lease_s=600)
            if row is not None:
                claimed[worker].append(row.packet_id)

    threads = [threading.Thread(target=claim, args=(worker,)) for worker in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    everything = [packet_id for per_worker in claimed for packet_id in per_worker]
    assert sorted(everything) == sorted(ids)  # each packet claimed exactly once
    for worker, per_worker in enumerate(claimed):
        assert all(outboxes[0].get(i).lease_holder == f"worker-{worker}" for i in per_worker)


def test_a_live_lease_is_not_claimable_and_an_expired_one_is(tmp_path):
    first, second = Outbox(tmp_path), Outbox(tmp_path)
    packet_id = _id()
    first.add(packet_id, SEALED)
    now = datetime.now(UTC)
    held = first.claim_next("first", lease_s=60, now=now)
    assert held.packet_id == packet_id and held.state is PacketState.UPLOADING and held.attempts == 1
    assert held.lease_holder == "first" and held.lease_until == now + timedelta(seconds=60)
    assert second.claim_next("second", 60, now + timedelta(seconds=59)) is None
    assert second.next_attempt_time() == held.lease_until  # when the uploader should look again
    taken = second.claim_next("second", 60, now + timedelta(seconds=61))  # "first" crashed
    assert taken.packet_id == packet_id and taken.lease_holder == "second" and taken.attempts == 2
    with pytest.raises(WrongState, match="held by second"):  # the late first holder cannot overwrite it
        first.mark_failed(packet_id, "first", "network: late", now)
    second.mark_failed(packet_id, "second", "network: down", now + timedelta(seconds=70))
    row = first.get(packet_id)
    assert row.state is PacketState.SEALED and row.lease_holder is None and row.lease_until is None


def test_retry_brings_back_refused_and_quarantined_but_leaves_a_held_packet(tmp_path):
    outbox = Outbox(tmp_path)
    refused, quarantined, held = _id(), _id(), _id()
    for packet_id in (refused, quarantined, held):
        outbox.add(packet_id, SEALED)
    outbox.claim_next("me", 60)
    outbox.mark_refused(refused, "me", "tampered: test")
    outbox.claim_next("me", 60)
    outbox.mark_quarantined(quarantined, "me", "unreadable: test")
    outbox.claim_next("other", 600)
    counts = outbox.status().counts
    assert (counts[PacketState.REFUSED], counts[PacketState.QUARANTINED], counts[PacketState.UPLOADING]) == (1, 1, 1)
    assert outbox.status().last_errors[quarantined] == "unreadable: test"
    assert outbox.retry() == 2
    assert outbox.get(refused).state is PacketState.SEALED and outbox.get(quarantined).state is PacketState.SEALED
    assert outbox.get(held).state is PacketState.UPLOADING and outbox.get(held).lease_holder == "other"


def test_a_schema_1_database_is_migrated_and_keeps_its_rows(tmp_path):
    database = sqlite3.connect(tmp_path / "outbox.sqlite")
    database.executescript(SCHEMA_V1)
    now = datetime.now(UTC).isoformat()
    sealed, uploading, acknowledged = _id(), _id(), _id()
    for packet_id, state, receipt in ((sealed, "sealed", None), (uploading, "uploading", None),
                                      (acknowledged, "acknowledged", b"receipt")):
        database.execute("INSERT INTO packets (packet_id, state, size, sha256, sealed_at, next_attempt_at, receipt) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)", (packet_id, state, len(SEALED), "00" * 32, now, now, receipt))
    database.commit()
    database.close()
    outbox = Outbox(tmp_path)
    assert outbox._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    assert {row.packet_id: row.state for row in outbox.list()} == {
        sealed: PacketState.SEALED, uploading: PacketState.UPLOADING, acknowledged: PacketState.ACKNOWLEDGED}
    assert outbox.receipt(acknowledged) == b"receipt"
    assert outbox.not_handed_over() == []  # their citizens left before the station kept track
    # the row a schema-1 station left uploading has no lease: it is claimable, and so is the sealed one
    assert {outbox.claim_next("me", 60).packet_id for _ in range(2)} == {sealed, uploading}
    outbox.close()
    again = Outbox(tmp_path)  # opening a current database migrates nothing
    assert again._db.execute("PRAGMA user_version").fetchone()[0] == 3 and len(again.list()) == 3
