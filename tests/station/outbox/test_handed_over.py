"""Enrolments kept while their citizen saw no receipt (issue 13): the outbox knows which packets were
handed over (the receipt shown, or the officer's word), lists the others with their time and officer,
and keeps listing them across restarts, a lost row and a migration, until one is handed over."""

from __future__ import annotations

import sqlite3
import uuid

import pytest

from station.outbox.store import SCHEMA_VERSION, Outbox

SEALED = b"\x30\x80 pretend sealed packet" * 100


def _id() -> str:
    return str(uuid.uuid4())


def test_a_packet_is_listed_until_handed_over_with_its_time_and_officer(tmp_path):
    outbox = Outbox(tmp_path)
    first, second = _id(), _id()
    outbox.add(first, SEALED, officer="CB-0042")
    outbox.add(second, SEALED, officer="CB-0007")
    assert [(row.packet_id, row.officer) for row in outbox.not_handed_over()] == [(first, "CB-0042"),
                                                                                   (second, "CB-0007")]
    assert outbox.not_handed_over()[0].sealed_at == outbox.get(first).sealed_at
    outbox.hand_over(first)
    assert [row.packet_id for row in outbox.not_handed_over()] == [second]
    assert [row.packet_id for row in outbox.status().not_handed_over] == [second]
    assert outbox.get(first).handed_over_at is not None and outbox.get(second).handed_over_at is None


def test_the_first_hand_over_stands_and_an_unknown_packet_is_an_error(tmp_path):
    outbox = Outbox(tmp_path)
    packet_id = _id()
    outbox.add(packet_id, SEALED)
    outbox.hand_over(packet_id)
    first = outbox.get(packet_id).handed_over_at
    outbox.hand_over(packet_id)
    assert outbox.get(packet_id).handed_over_at == first
    with pytest.raises(KeyError):
        outbox.hand_over(_id())


def test_the_list_survives_a_restart_and_an_acknowledgement(tmp_path):
    outbox = Outbox(tmp_path)
    packet_id = _id()
    outbox.add(packet_id, SEALED, officer="CB-0042")
    outbox.mark_acknowledged(packet_id, b"receipt")  # reaching the registry does not tell the citizen
    outbox.close()
    again = Outbox(tmp_path)
    assert [(row.packet_id, row.officer) for row in again.not_handed_over()] == [(packet_id, "CB-0042")]


def test_a_packet_whose_row_was_lost_is_listed_with_its_officer_unknown(tmp_path):
    """A kill between the packet file and its row: ``add`` never returned, so nobody saw a receipt."""
    outbox = Outbox(tmp_path)
    packet_id = _id()
    outbox.path_of(packet_id).write_bytes(SEALED)
    outbox.recover()
    [row] = outbox.not_handed_over()
    assert row.packet_id == packet_id and row.officer is None


def test_a_rebuilt_row_with_a_stored_receipt_counts_as_handed_over(tmp_path):
    """A lost database: packets the registry confirmed long ago do not flood the officer's list."""
    outbox = Outbox(tmp_path)
    confirmed, waiting = _id(), _id()
    for packet_id in (confirmed, waiting):
        outbox.path_of(packet_id).write_bytes(SEALED)
    outbox.receipt_path_of(confirmed).write_bytes(b"receipt")
    outbox.recover()
    assert [row.packet_id for row in outbox.not_handed_over()] == [waiting]


def test_packets_from_before_the_mark_count_as_handed_over(tmp_path):
    """A schema-2 database (made before the mark existed): its packets' citizens left long ago."""
    outbox = Outbox(tmp_path)
    packet_id = _id()
    outbox.add(packet_id, SEALED)
    outbox.close()
    database = sqlite3.connect(tmp_path / "outbox.sqlite")
    database.executescript("ALTER TABLE packets DROP COLUMN officer; ALTER TABLE packets DROP COLUMN handed_over_at;"
                           "PRAGMA user_version = 2;")
    database.close()
    migrated = Outbox(tmp_path)
    assert migrated.not_handed_over() == []
    assert migrated.get(packet_id).handed_over_at == migrated.get(packet_id).sealed_at
    assert sqlite3.connect(tmp_path / "outbox.sqlite").execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
