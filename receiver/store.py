"""Where the receiver keeps packets: the sealed bytes as files, an SQLite index with each receipt.

The packet is stored *sealed*, exactly as received: it stays verifiable with ``openssl cms`` for
as long as it is kept, and the registry's later processing decrypts it again from this copy.
The index's primary key is the packet id, so a packet can be stored only once, whatever races
between a station's retry and an import from a USB stick.  The same index finds a packet from the
citizen's enrolment number (:mod:`packet.enrolment_number`): the number holds the packet id's first
48 bits, so its packets are one range of the primary key.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from crypto.der import Buffer
from crypto.durable import write_atomically
from packet.enrolment_number import packet_id_prefix


@dataclass(frozen=True)
class StoredPacket:
    packet_id: str
    station_id: str
    sealed_sha256: str
    size: int
    received_at: datetime
    receipt: bytes
    via: str
    """"upload" or "import"."""


class PacketStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.packets = directory / "packets"
        self.packets.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(directory / "index.sqlite", isolation_level=None, check_same_thread=False,
                                   timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("""CREATE TABLE IF NOT EXISTS packets (
            packet_id TEXT PRIMARY KEY, station_id TEXT NOT NULL, sealed_sha256 TEXT NOT NULL,
            size INTEGER NOT NULL, received_at TEXT NOT NULL, receipt BLOB NOT NULL, via TEXT NOT NULL)""")

    def get(self, packet_id: str) -> StoredPacket | None:
        with self._lock:
            return self._get(packet_id)

    def put(self, packet: StoredPacket, sealed: Buffer) -> StoredPacket:
        """Store once; when the id is already stored, return what is stored (the caller compares)."""
        path = self.path_of(packet.packet_id)
        with self._lock:
            existing = self._get(packet.packet_id)
            if existing is not None:
                return existing
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, sealed)
            self._db.execute("INSERT INTO packets VALUES (?, ?, ?, ?, ?, ?, ?)", (
                packet.packet_id, packet.station_id, packet.sealed_sha256, packet.size,
                packet.received_at.isoformat(), packet.receipt, packet.via))
        return packet

    def _get(self, packet_id: str) -> StoredPacket | None:
        row = self._db.execute("SELECT * FROM packets WHERE packet_id = ?", (packet_id,)).fetchone()
        return None if row is None else _stored(row)

    def find_by_number(self, number: str) -> list[StoredPacket]:
        """The packets the citizen's enrolment number names: normally one, none when it has not arrived.

        Raises :class:`packet.enrolment_number.EnrolmentNumberError` for a mistyped number.  Two
        stations' packets may, rarely, share a number; the station on the receipt tells them apart.
        """
        prefix = packet_id_prefix(number)
        # Canonical ids continue "<prefix>-..."; "." sorts right after "-", so this is one index range.
        with self._lock:
            rows = self._db.execute("SELECT * FROM packets WHERE packet_id > ? AND packet_id < ? ORDER BY received_at",
                                    (f"{prefix}-", f"{prefix}.")).fetchall()
        return [_stored(row) for row in rows]

    def path_of(self, packet_id: str) -> Path:
        return self.packets / packet_id[:2] / f"{packet_id}.p7m"

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM packets").fetchone()[0]

    def ids(self) -> list[str]:
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT packet_id FROM packets ORDER BY packet_id")]

    def close(self) -> None:
        self._db.close()


def _stored(row: tuple) -> StoredPacket:
    return StoredPacket(row[0], row[1], row[2], row[3], datetime.fromisoformat(row[4]), row[5], row[6])
