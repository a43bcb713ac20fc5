"""A corrupt ``outbox.sqlite`` strands nothing (issue 13): it is set aside and rebuilt from the packet files,
acknowledgements survive as receipt files beside their packets, and export works from the files alone."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from station.outbox.store import DatabaseUnavailable, Outbox, PacketState, export_packet_files

SEALED = b"\x30\x80 pretend sealed packet" * 100
RECEIPT = b"\x30\x82 pretend verified receipt"


def _id() -> str:
    return str(uuid.uuid4())


def _station(tmp_path) -> tuple[Outbox, dict[str, str]]:
    """An outbox with one packet in each state that matters: waiting, acknowledged, purged, refused."""
    outbox = Outbox(tmp_path, retention=timedelta(days=1))
    ids = {name: _id() for name in ("refused", "sealed", "acknowledged", "purged")}
    outbox.add(ids["refused"], SEALED)
    assert outbox.claim_next("me", 60).packet_id == ids["refused"]
    outbox.mark_refused(ids["refused"], "me", "tampered: test")
    for name in ("sealed", "acknowledged", "purged"):
        outbox.add(ids[name], SEALED)
    outbox.mark_acknowledged(ids["purged"], RECEIPT)
    assert outbox.purge(datetime.now(UTC) + timedelta(days=2)) == 1
    outbox.mark_acknowledged(ids["acknowledged"], RECEIPT)
    outbox.mark_acknowledged(ids["acknowledged"], RECEIPT + b"late")  # a late duplicate receipt changes nothing
    return outbox, ids


def test_purge_keeps_the_receipt_file_and_acknowledging_writes_it(tmp_path):
    outbox, ids = _station(tmp_path)
    assert outbox.receipt_path_of(ids["purged"]).read_bytes() == RECEIPT
    assert not outbox.path_of(ids["purged"]).exists()
    assert outbox.receipt_path_of(ids["acknowledged"]).read_bytes() == RECEIPT == outbox.receipt(ids["acknowledged"])
    assert not outbox.receipt_path_of(ids["sealed"]).exists()


@pytest.mark.parametrize("damage", ["garbage", "malformed page"])
def test_a_corrupt_database_is_set_aside_and_rebuilt_from_the_files(tmp_path, caplog, damage):
    outbox, ids = _station(tmp_path)
    for _ in range(200):  # enough rows for pages beyond the first, which the damage hits
        outbox.add(_id(), b"x")
    outbox.close()
    database = tmp_path / "outbox.sqlite"
    data = bytearray(database.read_bytes())
    if damage == "garbage":
        data[:] = b"not a database at all " * 500
    else:
        data[4096 * 2:4096 * 4] = b"\xde\xad" * 4096
    database.write_bytes(bytes(data))
    with caplog.at_level(logging.CRITICAL, logger="station.outbox.store"):
        rebuilt = Outbox(tmp_path)
    assert "CORRUPT" in caplog.text
    (aside,) = tmp_path.glob("outbox.sqlite.corrupt-*")
    assert aside.read_bytes() == bytes(data)  # kept for the technician
    assert rebuilt.get(ids["sealed"]).state is PacketState.SEALED
    assert rebuilt.get(ids["refused"]).state is PacketState.SEALED  # tried once more
    assert rebuilt.get(ids["acknowledged"]).state is PacketState.ACKNOWLEDGED  # the receipt file survived
    assert rebuilt.receipt(ids["acknowledged"]) == RECEIPT
    assert rebuilt.find(ids["purged"]) is None and rebuilt.receipt_path_of(ids["purged"]).is_file()
    assert len(rebuilt.list(PacketState.SEALED)) == 2 + 200


def test_a_database_that_cannot_be_opened_is_not_moved_and_export_works_from_the_files(tmp_path):
    outbox, ids = _station(tmp_path)
    outbox.close()
    (tmp_path / "outbox.sqlite").unlink()
    (tmp_path / "outbox.sqlite").mkdir()  # SQLITE_CANTOPEN: not corruption, nothing to rebuild over
    with pytest.raises(DatabaseUnavailable, match="cannot open"):
        Outbox(tmp_path)
    assert (tmp_path / "outbox.sqlite").is_dir() and not list(tmp_path.glob("*.corrupt-*"))
    exported = export_packet_files(tmp_path / "packets", tmp_path / "usb")
    assert sorted(exported) == sorted([ids["sealed"], ids["refused"]])  # every one without a stored receipt
    assert (tmp_path / "usb" / f"{ids['sealed']}.p7m").read_bytes() == SEALED


def test_a_crash_between_the_receipt_file_and_the_row_is_acknowledged_at_the_next_start(tmp_path, monkeypatch):
    outbox = Outbox(tmp_path)
    packet_id = _id()
    outbox.add(packet_id, SEALED)

    def crash(*_args: object) -> bool:
        raise SystemExit("killed")

    monkeypatch.setattr(outbox, "_acknowledge_row", crash)
    with pytest.raises(SystemExit):
        outbox.mark_acknowledged(packet_id, RECEIPT)
    assert outbox.get(packet_id).state is PacketState.SEALED
    outbox.close()
    reopened = Outbox(tmp_path)
    assert reopened.get(packet_id).state is PacketState.ACKNOWLEDGED and reopened.receipt(packet_id) == RECEIPT


def test_receipts_kept_only_in_rows_get_their_file_at_the_next_start(tmp_path):
    """A station acknowledged packets before receipt files existed: its receipts become files too,
    so that they survive a rebuild and the files alone tell what to export."""
    outbox, ids = _station(tmp_path)
    outbox.close()
    for packet_id in (ids["acknowledged"], ids["purged"]):
        Outbox(tmp_path).receipt_path_of(packet_id).unlink()
    reopened = Outbox(tmp_path)
    assert reopened.receipt_path_of(ids["acknowledged"]).read_bytes() == RECEIPT
    assert reopened.receipt_path_of(ids["purged"]).read_bytes() == RECEIPT


def test_export_copies_quarantined_packets_whose_file_exists(tmp_path):
    outbox = Outbox(tmp_path)
    kept, lost = _id(), _id()
    for packet_id in (kept, lost):
        outbox.add(packet_id, SEALED)
        outbox.claim_next("me", 60)
        outbox.mark_quarantined(packet_id, "me", "unreadable: Input/output error")
    outbox.path_of(lost).unlink()
    assert [row.packet_id for row in outbox.exportable()] == [kept]
    assert outbox.export(tmp_path / "usb") == [kept]
    assert outbox.get(kept).exported_at is not None
    assert outbox.status().quarantined == {kept: "unreadable: Input/output error",
                                           lost: "unreadable: Input/output error"}


def test_a_packet_file_that_cannot_be_read_is_left_out_of_an_export(tmp_path, monkeypatch):
    outbox = Outbox(tmp_path)
    bad, good = sorted([_id(), _id()])
    for packet_id in (bad, good):
        outbox.add(packet_id, SEALED)
    outbox.path_of(bad).unlink()
    outbox.path_of(bad).mkdir()  # read_bytes: IsADirectoryError
    assert export_packet_files(outbox.packets, tmp_path / "usb") == [good]
