"""Outbox state: atomic files, crash recovery, disk guard, export, retry, purge."""

from __future__ import annotations

import errno
import os
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from station.outbox.store import DiskSpaceLow, Outbox, OutboxError, PacketState

SEALED = b"\x30\x80 pretend sealed packet" * 100


def _id() -> str:
    return str(uuid.uuid4())


def test_add_writes_file_then_row_and_pragmas(tmp_path):
    outbox = Outbox(tmp_path)
    packet_id = _id()
    row = outbox.add(packet_id, SEALED)
    assert row.state is PacketState.SEALED and row.size == len(SEALED)
    assert outbox.read_sealed(packet_id) == SEALED
    assert oct(outbox.path_of(packet_id).stat().st_mode & 0o777) == "0o600"
    database = sqlite3.connect(tmp_path / "outbox.sqlite")
    assert database.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert outbox._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert outbox.claim_next("test", 60).packet_id == packet_id


def test_recovery_after_crash_between_file_and_row(tmp_path):
    outbox = Outbox(tmp_path)
    orphan = _id()
    outbox.path_of(orphan).write_bytes(SEALED)
    (outbox.packets / f".{_id()}.p7m.tmp-999").write_bytes(b"half written")
    uploading = _id()
    outbox.add(uploading, SEALED)
    crashed = outbox.claim_next("crashed", lease_s=60)
    outbox.close()
    reopened = Outbox(tmp_path)
    assert reopened.get(orphan).state is PacketState.SEALED
    assert reopened.get(uploading).state is PacketState.UPLOADING  # another process may still hold it
    later = crashed.lease_until + timedelta(seconds=1)
    assert {reopened.claim_next("next", 60, later).packet_id for _ in range(2)} == {orphan, uploading}
    assert not [p for p in reopened.packets.iterdir() if ".tmp-" in p.name]


def test_disk_guard_refuses_before_sealing(tmp_path):
    free = {"bytes": 10 * 2**30}
    outbox = Outbox(tmp_path, min_free_bytes=200 * 2**20, free_bytes=lambda _path: free["bytes"])
    outbox.check_space()
    free["bytes"] = 210 * 2**20
    with pytest.raises(DiskSpaceLow, match="MiB free") as caught:
        outbox.check_space()
    assert "storage is full" in caught.value.citizen_message
    assert "export" in caught.value.technician_hint
    with pytest.raises(DiskSpaceLow):
        outbox.add(_id(), SEALED * 10000)
    assert outbox.list() == []
    assert outbox.status().free_bytes == 210 * 2**20


def test_disk_full_while_writing_loses_nothing_already_queued(tmp_path, monkeypatch):
    outbox = Outbox(tmp_path)
    kept = _id()
    outbox.add(kept, SEALED)

    def full(_fd, _data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("crypto.durable.os.write", full)
    with pytest.raises(OutboxError, match="No space left"):
        outbox.add(_id(), SEALED)
    monkeypatch.undo()
    assert [row.packet_id for row in outbox.list()] == [kept]
    assert sorted(p.name for p in outbox.packets.iterdir()) == [f"{kept}.p7m"]


def test_export_retry_and_purge(tmp_path):
    outbox = Outbox(tmp_path / "outbox", retention=timedelta(days=30))
    first, second, third = _id(), _id(), _id()
    for packet_id in (first, second, third):
        outbox.add(packet_id, SEALED)
    outbox.mark_acknowledged(first, b"receipt")
    claimed = outbox.claim_next("test", 60)
    assert claimed.packet_id == second
    outbox.mark_refused(second, "test", "tampered: test")
    exported = outbox.export(tmp_path / "usb")
    assert sorted(exported) == sorted([second, third])
    assert (tmp_path / "usb" / f"{third}.p7m").read_bytes() == SEALED
    assert outbox.get(third).exported_at is not None
    assert outbox.retry() == 2
    assert outbox.get(second).state is PacketState.SEALED
    assert outbox.purge(datetime.now(UTC) + timedelta(days=29)) == 0
    assert outbox.purge(datetime.now(UTC) + timedelta(days=31)) == 1
    assert outbox.get(first).state is PacketState.PURGED and not outbox.path_of(first).exists()
    assert outbox.receipt(first) == b"receipt"


def test_acknowledged_only_once(tmp_path):
    outbox = Outbox(tmp_path)
    packet_id = _id()
    outbox.add(packet_id, SEALED)
    outbox.mark_acknowledged(packet_id, b"first")
    outbox.mark_acknowledged(packet_id, b"second")
    assert outbox.receipt(packet_id) == b"first"
    assert outbox.status().counts[PacketState.ACKNOWLEDGED] == 1


def test_bad_packet_id_is_refused(tmp_path):
    with pytest.raises(ValueError):
        Outbox(tmp_path).add("../../etc/passwd", SEALED)
