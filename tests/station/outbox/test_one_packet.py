"""One citizen, one packet (issue 13): the same id never makes two packets, and a disk that fills at any
step of :meth:`Outbox.add` gives a typed error and leaves nothing behind that recovery would deliver."""

from __future__ import annotations

import errno
import sqlite3
import uuid
from dataclasses import replace

import pytest

from station.config import simulated_station
from station.identity import StationIdentity, load_identity
from station.outbox.sealing import seal_record
from station.outbox.store import DiskSpaceLow, DuplicatePacket, Outbox, OutboxError, PacketNotSaved, PacketState

SEALED = b"\x30\x80 pretend sealed packet" * 100
DISK_FULL = sqlite3.OperationalError("database or disk is full")


class _FailingDatabase:
    """The outbox's connection, failing the first statement that starts with ``verb`` (SQLite's own
    objects cannot be patched)."""

    def __init__(self, database: sqlite3.Connection, verb: str) -> None:
        self._database = database
        self._verb = verb

    def execute(self, statement: str, *args: object) -> sqlite3.Cursor:
        if self._verb and statement.lstrip().upper().startswith(self._verb):
            self._verb = ""
            raise DISK_FULL
        return self._database.execute(statement, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self._database, name)


@pytest.fixture(scope="module")
def pki_identity(tmp_path_factory) -> StationIdentity:
    """The simulated station's identity (its development PKI), made once for the module."""
    return load_identity(replace(simulated_station(), data_dir=tmp_path_factory.mktemp("station")))


def _enospc(*_args: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def _files(outbox: Outbox) -> list[str]:
    return sorted(path.name for path in outbox.packets.iterdir())


def test_the_same_id_and_bytes_twice_is_one_packet(tmp_path):
    outbox = Outbox(tmp_path)
    packet_id = str(uuid.uuid4())
    first = outbox.add(packet_id, SEALED)
    assert outbox.add(packet_id, SEALED) == first
    assert len(outbox.list()) == 1 and _files(outbox) == [f"{packet_id}.p7m"]


def test_the_same_id_with_other_bytes_is_refused_and_the_packet_kept(tmp_path):
    outbox = Outbox(tmp_path)
    packet_id = str(uuid.uuid4())
    outbox.add(packet_id, SEALED)
    with pytest.raises(DuplicatePacket, match="other bytes"):
        outbox.add(packet_id, SEALED + b"resealed")
    assert outbox.read_sealed(packet_id) == SEALED and len(outbox.list()) == 1


@pytest.mark.parametrize("fault", ["write", "insert", "commit"])
def test_a_disk_full_at_any_step_is_typed_leaves_no_orphan_and_the_retry_makes_one_packet(tmp_path, monkeypatch,
                                                                                            fault):
    outbox = Outbox(tmp_path)
    packet_id = str(uuid.uuid4())
    if fault == "write":
        monkeypatch.setattr("station.outbox.store.write_atomically", _enospc)
    else:
        monkeypatch.setattr(outbox, "_db", _FailingDatabase(outbox._db, fault.upper()))
    with pytest.raises(PacketNotSaved) as caught:
        outbox.add(packet_id, SEALED)
    assert isinstance(caught.value, OutboxError) and "Please wait for the officer" in caught.value.citizen_message
    assert _files(outbox) == [] and outbox.list() == []
    monkeypatch.undo()
    outbox.close()
    reopened = Outbox(tmp_path)  # what a restart would recover: nothing
    assert reopened.list() == []
    reopened.add(packet_id, SEALED)  # the session's retry, under the same id
    assert [row.packet_id for row in reopened.list()] == [packet_id] and _files(reopened) == [f"{packet_id}.p7m"]


def test_the_guard_refuses_before_anything_is_written(tmp_path):
    outbox = Outbox(tmp_path, min_free_bytes=2**40)
    with pytest.raises(DiskSpaceLow):
        outbox.add(str(uuid.uuid4()), SEALED)
    assert _files(outbox) == []


def test_sealing_again_after_a_failure_or_a_success_keeps_one_packet(tmp_path, monkeypatch, synthetic, pki_identity):
    outbox = Outbox(tmp_path)
    record = synthetic.record(fingers=1)
    monkeypatch.setattr(outbox, "_db", _FailingDatabase(outbox._db, "INSERT"))
    with pytest.raises(PacketNotSaved):
        seal_record(record, pki_identity, outbox)
    monkeypatch.undo()
    row = seal_record(record, pki_identity, outbox)  # the officer's retry
    again = seal_record(record, pki_identity, outbox)  # a retry of a seal that got through
    assert row == again and row.packet_id == str(record.packet_id) and row.state is PacketState.SEALED
    assert [r.packet_id for r in outbox.list()] == [row.packet_id] and len(_files(outbox)) == 1
