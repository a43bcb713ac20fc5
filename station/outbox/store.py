"""Durable outbox state: SQLite (WAL, ``synchronous=FULL``) for the states, one file per sealed packet.

Order of writes, so that a crash at any point loses nothing and duplicates nothing:

1. the sealed packet file is written atomically (:mod:`crypto.durable`);
2. then its row is inserted (state ``sealed``), in the same ``BEGIN IMMEDIATE`` transaction that
   first checked that no row has this packet id.

A crash between 1 and 2 leaves a file without a row: :meth:`Outbox.recover` (run at every start)
adds the row.  A *failure* between 1 and 2 (the disk fills, the database cannot grow) is different:
the caller is still there, holding the record, and will seal again under the same packet id (the
kiosk session fixes the id once per citizen), so :meth:`Outbox.add` deletes the file it has just
written and raises :class:`PacketNotSaved`.  We chose deleting over keeping: a kept file would be a
packet the citizen was told had *not* been saved, and the one that the retry writes replaces it
anyway; deleting leaves exactly one way for a packet to exist (file and row together), and a retry
under the same id finds nothing in its way.  The same packet id added twice is idempotent for the
same bytes and :class:`DuplicatePacket` for other bytes: never two packets, never a packet replaced.

A packet becomes ``acknowledged`` only once its verified receipt is stored: first as the file
``<id>.receipt`` beside the packet (atomically), then in its row.  The files are the truth the
database can be rebuilt from: a crash between the two, or a lost database, leaves a receipt file,
and recovery acknowledges every packet that has one.  Purging deletes the packet file and keeps its
receipt file, the registry's proof that it has the enrolment.

A database that SQLite reports corrupt when it is opened (``SQLITE_CORRUPT``, ``SQLITE_NOTADB``,
or a failed ``PRAGMA quick_check``) is moved aside as ``outbox.sqlite.corrupt-<time>`` (kept for
the technician) and rebuilt from the files, logged as critical: packets become ``sealed`` (or
``acknowledged`` with a receipt) and are sent again, which the receiver's idempotent ``PUT``
answers with the receipt it already has.  What a rebuild loses is history only: attempts, errors,
refusals (refused packets are tried once more), and the rows of purged packets.  A database that
cannot be opened at all (permissions, a locked or missing disk) is :class:`DatabaseUnavailable`,
never moved: :func:`export_packet_files` still copies every packet from the files alone.

States (:data:`TRANSITIONS` is the whole list of allowed moves; each move is one guarded ``UPDATE``
whose ``WHERE`` names the expected state, so it is atomic across processes, and a packet in any
other state raises :class:`WrongState` and changes nothing): ``sealed`` → ``uploading`` →
``acknowledged`` → ``purged`` (file deleted after the retention period, row and receipt kept);
``uploading`` → ``sealed`` again after a failed attempt; ``refused`` when the receiver rejects the
packet for good (its error code is kept); ``quarantined`` when its file cannot be read (the error is
kept, so one bad file does not block the queue).  ``enrol outbox retry`` puts refused and
quarantined packets back.  A verified receipt acknowledges a packet in any not yet acknowledged
state: it is the registry's proof that it stored these bytes (receipts also come back by USB stick).

Exactly one uploader holds a packet: :meth:`Outbox.claim_next` takes the next due packet in one
``BEGIN IMMEDIATE`` transaction and writes a lease (holder, expiry) on it, so the kiosk's uploader
thread and an ``enrol outbox upload`` process never send the same packet together.  A holder that
crashed leaves its packet ``uploading``; once the lease has expired the packet is claimable again,
and the receiver's ``PUT`` is idempotent, so the second upload gets the same receipt.

Handed over: a packet is sealed before the citizen sees the receipt screen, so a crash (a kill, a
power cut) in between leaves an enrolment that is kept, and will be delivered, but whose citizen
saw the screen go dark and may come back to enrol again.  The kiosk marks a packet *handed over*
(:meth:`Outbox.hand_over`) once its receipt is on the screen; :meth:`Outbox.not_handed_over` lists
the others, with the time and the officer who authorised them (kept in the row: station metadata,
no citizen data, as the packet itself cannot be read on the station), for the officer screen, so the
citizen is told and not enrolled twice; the officer marks each one handed over once done.  A packet
recovered from its file alone was not handed over either (the crash came before ``add`` returned),
unless a stored receipt shows the registry has had it for a while; rows older than this mark
(schema version 3) count as handed over.

SQLite's WAL with ``synchronous=FULL`` makes each committed transaction durable across power loss
(sqlite.org/pragma.html#pragma_synchronous).  The schema carries a version (``PRAGMA user_version``)
and :data:`_MIGRATIONS` brings an older database up to date when it is opened.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from crypto.durable import fsync_directory, is_temporary, write_atomically
from drivers.errors import N_, ExplainedError

log = logging.getLogger(__name__)

PACKET_SUFFIX = ".p7m"
STORED_RECEIPT_SUFFIX = ".receipt"
"""The verified receipt kept beside its packet (``<id>.receipt``), so that acknowledgements survive the database."""
DATABASE_NAME = "outbox.sqlite"
PACKETS_FOLDER = "packets"
_CORRUPT_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
SEAL_HEADROOM_BYTES = 32 * 1024 * 1024
"""Room one more sealed packet may need (the largest packets are ~10 MB) on top of the free-space floor."""


class PacketState(enum.StrEnum):
    SEALED = "sealed"
    UPLOADING = "uploading"
    ACKNOWLEDGED = "acknowledged"
    REFUSED = "refused"
    PURGED = "purged"
    QUARANTINED = "quarantined"


TRANSITIONS: dict[PacketState, frozenset[PacketState]] = {
    PacketState.SEALED: frozenset({PacketState.UPLOADING, PacketState.ACKNOWLEDGED}),
    PacketState.UPLOADING: frozenset({PacketState.ACKNOWLEDGED, PacketState.REFUSED, PacketState.SEALED,
                                      PacketState.QUARANTINED}),
    PacketState.REFUSED: frozenset({PacketState.SEALED, PacketState.ACKNOWLEDGED}),
    PacketState.QUARANTINED: frozenset({PacketState.SEALED, PacketState.ACKNOWLEDGED}),
    PacketState.ACKNOWLEDGED: frozenset({PacketState.PURGED}),
    PacketState.PURGED: frozenset(),
}
"""The allowed moves: source state → states it may go to.  Every state change of :class:`Outbox` is one of them."""


class OutboxError(ExplainedError):
    """The outbox cannot take or keep a packet.  Carries a citizen message (gettext id) and a technician hint."""

    citizen_message = N_("This station cannot save the enrolment right now. Please wait for the officer.")
    officer_hint = N_("Nothing already saved is lost. Call the technician before enrolling more citizens on "
                      "this station.")
    technician_hint = "Check the data directory's disk and permissions, then run `enrol outbox status`."


class DiskSpaceLow(OutboxError):
    """Too little free disk space to seal another packet safely: refused *before* the enrolment starts."""

    citizen_message = N_("This station's storage is full. Enrolment is paused until the officer frees space.")
    officer_hint = N_("Connect the station to the network so that the saved enrolments can be sent, or copy "
                      "them to a USB drive on the officer screen. If it stays full, call the technician.")
    technician_hint = ("Upload or export the outbox (`enrol outbox export DIR`), or free space on the data "
                       "directory's disk; acknowledged packets are purged after the retention period.")


class PacketNotSaved(OutboxError):
    """The packet could not be saved (the disk filled, the database could not grow): nothing of it is
    kept, and sealing again under the same packet id is safe."""


class DuplicatePacket(OutboxError):
    """A packet with this id is already kept, with other bytes: it is neither replaced nor doubled."""


class DatabaseUnavailable(OutboxError):
    """The outbox database cannot be opened (not corruption: permissions, a lock, a missing disk).
    The packet files are untouched; :func:`export_packet_files` still copies them."""


class WrongState(OutboxError):
    """A packet is not in a state the wanted move starts from (or is held by another uploader): nothing changed."""

    def __init__(self, packet_id: str, state: PacketState, wanted: str) -> None:
        super().__init__(f"packet {packet_id} is {state}; cannot {wanted}")
        self.packet_id = packet_id
        self.state = state
        self.wanted = wanted


@dataclass(frozen=True)
class PacketRow:
    packet_id: str
    state: PacketState
    size: int
    sha256: str
    sealed_at: datetime
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    acknowledged_at: datetime | None
    exported_at: datetime | None
    lease_holder: str | None
    lease_until: datetime | None
    officer: str | None = None
    """Who authorised the enrolment (the kiosk's officer id), None when unknown (a row rebuilt from its file)."""
    handed_over_at: datetime | None = None
    """When the citizen saw the receipt (or the officer marked the enrolment handed over); None: not yet."""


@dataclass(frozen=True)
class OutboxStatus:
    counts: dict[PacketState, int]
    oldest_pending: datetime | None
    free_bytes: int
    min_free_bytes: int
    last_errors: dict[str, str]
    """packet id → last error, for packets not yet acknowledged."""
    quarantined: dict[str, str] = field(default_factory=dict)
    """packet id → why its file could not be read, for the packets set aside (a subset of ``last_errors``)."""
    not_handed_over: tuple[PacketRow, ...] = ()
    """The kept enrolments whose citizen never saw the receipt (:meth:`Outbox.not_handed_over`)."""


_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # version 1: the first schema (databases made before versioning have user_version 0 and this table)
    ("""CREATE TABLE IF NOT EXISTS packets (
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
    )""",
     "CREATE INDEX IF NOT EXISTS packets_due ON packets (state, next_attempt_at)"),
    # version 2: the uploader's lease, so that exactly one uploader holds a packet
    ("ALTER TABLE packets ADD COLUMN lease_holder TEXT",
     "ALTER TABLE packets ADD COLUMN lease_until TEXT"),
    # version 3: who authorised the enrolment, and whether its citizen saw the receipt (see "Handed over");
    # the packets of earlier versions were not tracked, and are taken as handed over when they were sealed
    ("ALTER TABLE packets ADD COLUMN officer TEXT",
     "ALTER TABLE packets ADD COLUMN handed_over_at TEXT",
     "UPDATE packets SET handed_over_at = sealed_at"),
)
"""Schema version N is reached by running ``_MIGRATIONS[N - 1]``; append, never edit, a migration."""
SCHEMA_VERSION = len(_MIGRATIONS)
NOT_CONFIRMED = (PacketState.SEALED, PacketState.UPLOADING, PacketState.REFUSED, PacketState.QUARANTINED)
"""The states of a packet the registry has not acknowledged: what is still pending, and what an export copies."""


def _free_bytes(directory: Path) -> int:
    return shutil.disk_usage(directory).free


class _Corrupt(Exception):
    """SQLite says the database file is corrupt (inside :class:`Outbox` only: it is then rebuilt)."""


def _set_aside(path: Path) -> Path:
    """Rename a corrupt database, with its WAL and shared-memory files, to ``<name>.corrupt-<UTC time>``
    (SQLite finds the WAL of the renamed copy by the same suffixes, should the technician open it)."""
    aside = path.with_name(f"{path.name}.corrupt-{_now():%Y%m%dT%H%M%S%fZ}")
    try:
        for suffix in ("-wal", "-shm", ""):
            companion = path.with_name(path.name + suffix)
            if companion.exists():
                companion.rename(aside.with_name(aside.name + suffix))
        fsync_directory(path.parent)
    except OSError as error:
        raise DatabaseUnavailable(f"{path} is corrupt and cannot be moved aside: {error}") from error
    return aside


class Outbox:
    """The station's queue of sealed packets under ``directory`` (``outbox.sqlite`` + ``packets/``)."""

    def __init__(self, directory: Path, *, min_free_bytes: int = 200 * 1024 * 1024,
                 retention: timedelta = timedelta(days=30),
                 free_bytes: Callable[[Path], int] = _free_bytes) -> None:
        self.directory = directory
        self.packets = directory / PACKETS_FOLDER
        self.packets.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.min_free_bytes = min_free_bytes
        self.retention = retention
        self._free_bytes = free_bytes
        self._lock = threading.RLock()
        self._db = self._open_database()
        self.recover()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _open_database(self) -> sqlite3.Connection:
        """The database, checked and migrated; a corrupt one is set aside and a new one made (the rows
        then come back from the files in :meth:`recover`)."""
        path = self.directory / DATABASE_NAME
        try:
            return self._connect(path)
        except _Corrupt as corrupt:
            aside = _set_aside(path)
            log.critical("OUTBOX DATABASE CORRUPT (%s): moved aside to %s; rebuilding it from the packet "
                         "files in %s", corrupt, aside.name, self.packets)
        return self._connect(path)

    def _connect(self, path: Path) -> sqlite3.Connection:
        """Open, check (``PRAGMA quick_check``) and migrate the database at ``path``; raise :class:`_Corrupt`
        when SQLite finds it corrupt and :class:`DatabaseUnavailable` when it cannot open it at all."""
        try:
            database = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        except sqlite3.Error as error:
            raise DatabaseUnavailable(f"cannot open {path}: {error}") from error
        try:
            database.execute("PRAGMA journal_mode=WAL")
            database.execute("PRAGMA synchronous=FULL")
            problems = [row[0] for row in database.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise _Corrupt("; ".join(problems[:3]))
            self._db = database
            self._migrate()
        except sqlite3.DatabaseError as error:
            database.close()
            if getattr(error, "sqlite_errorcode", 0) & 0xFF in _CORRUPT_CODES:  # extended codes keep the primary
                raise _Corrupt(str(error)) from error
            raise DatabaseUnavailable(f"cannot open {path}: {error}") from error
        except _Corrupt:
            database.close()
            raise
        return database

    def _migrate(self) -> None:
        """Bring the database to :data:`SCHEMA_VERSION`, each version in its own transaction, so that a
        crash mid-way leaves a database at some whole version (two processes opening it together wait)."""
        with self._lock:
            while True:
                with self._transaction():
                    version = self._db.execute("PRAGMA user_version").fetchone()[0]
                    if version >= SCHEMA_VERSION:
                        return
                    for statement in _MIGRATIONS[version]:
                        self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version = {version + 1}")
                log.info("outbox database migrated to schema version %d", version + 1)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``: takes the database's write lock first, so that what is read
        inside cannot change before it is written (other connections wait, up to the busy timeout)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:  # SQLite rolls back by itself after some errors (SQLITE_FULL, SQLITE_IOERR)
                self._db.execute("ROLLBACK")
            raise

    # -- taking packets -------------------------------------------------------------------

    def check_space(self, needed: int = SEAL_HEADROOM_BYTES) -> None:
        """Raise :class:`DiskSpaceLow` unless ``needed`` bytes fit above the free-space floor."""
        free = self._free_bytes(self.directory)
        if free - needed < self.min_free_bytes:
            raise DiskSpaceLow(f"{free // 2**20} MiB free on {self.directory}; a packet needs "
                               f"{needed // 2**20} MiB above the {self.min_free_bytes // 2**20} MiB floor")

    def add(self, packet_id: str, sealed: bytes, *, officer: str | None = None) -> PacketRow:
        """Keep a sealed packet durably (file, then row, in one transaction; see the module docstring).

        The same id again is idempotent for the same bytes and :class:`DuplicatePacket` for others.
        Raises :class:`DiskSpaceLow` before writing anything, and :class:`PacketNotSaved` when the file
        or the row cannot be written: the file is then removed, so a retry under the same id is safe.
        ``officer`` is who authorised it, for the list of enrolments not handed over."""
        packet_id = str(uuid.UUID(packet_id))
        digest = hashlib.sha256(sealed).hexdigest()
        path = self.path_of(packet_id)
        with self._lock:
            try:
                with self._transaction():
                    existing = self.find(packet_id)
                    if existing is not None:
                        return _same_packet(existing, digest)
                    self.check_space(len(sealed))
                    write_atomically(path, sealed)
                    self._insert(packet_id, len(sealed), digest, _now(), officer=officer)
            except OSError as error:
                _discard(path)  # the rename may have happened before the directory's fsync failed
                raise PacketNotSaved(f"cannot write {path.name}: {error.strerror}") from error
            except sqlite3.Error as error:
                _discard(path)
                raise PacketNotSaved(f"cannot record packet {packet_id}: {error}") from error
        log.info("packet %s sealed (%d bytes) and queued", packet_id, len(sealed))
        return self.get(packet_id)

    def _insert(self, packet_id: str, size: int, digest: str, sealed_at: datetime, *, officer: str | None = None,
                handed_over_at: datetime | None = None) -> None:
        self._db.execute(
            "INSERT INTO packets (packet_id, state, size, sha256, sealed_at, next_attempt_at, officer, "
            "handed_over_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (packet_id, PacketState.SEALED, size, digest, sealed_at.isoformat(), sealed_at.isoformat(), officer,
             handed_over_at.isoformat() if handed_over_at else None))

    def path_of(self, packet_id: str) -> Path:
        return self.packets / f"{packet_id}{PACKET_SUFFIX}"

    def receipt_path_of(self, packet_id: str) -> Path:
        return self.packets / f"{packet_id}{STORED_RECEIPT_SUFFIX}"

    def read_sealed(self, packet_id: str) -> bytes:
        return self.path_of(packet_id).read_bytes()

    def recover(self) -> None:
        """Make state and files agree after a crash (see the module docstring); idempotent.

        Packets left ``uploading`` are not touched: another process may hold them right now, and those
        of a crashed holder become claimable when its lease expires."""
        with self._lock:
            for path in self.packets.iterdir():
                if is_temporary(path):
                    path.unlink(missing_ok=True)
                elif path.suffix == PACKET_SUFFIX and self.find(path.stem) is None:
                    data = path.read_bytes()
                    sealed_at = datetime.fromtimestamp(path.stat().st_mtime, UTC)
                    confirmed = path.with_suffix(STORED_RECEIPT_SUFFIX).exists()  # its citizen is long gone
                    self._insert(path.stem, len(data), hashlib.sha256(data).hexdigest(), sealed_at,
                                 handed_over_at=sealed_at if confirmed else None)
                    log.warning("recovered packet %s whose row was lost", path.stem)
            self._acknowledge_from_receipt_files()
            self._write_missing_receipt_files()

    def _acknowledge_from_receipt_files(self) -> None:
        """Every packet with a receipt file beside it is acknowledged (a crash came between the file
        and the row, or the rows were rebuilt)."""
        for path in self.packets.glob(f"*{STORED_RECEIPT_SUFFIX}"):
            row = self.find(path.stem)
            if row is not None and PacketState.ACKNOWLEDGED in TRANSITIONS[row.state]:
                self._acknowledge_row(row.packet_id, path.read_bytes())
                log.warning("packet %s acknowledged from its stored receipt", row.packet_id)

    def _write_missing_receipt_files(self) -> None:
        """Receipts kept only in rows (stored before receipt files existed) get their file, so that
        they too survive the database and the files alone tell what is confirmed."""
        rows = self._db.execute("SELECT packet_id FROM packets WHERE state IN (?, ?) AND receipt IS NOT NULL",
                                (PacketState.ACKNOWLEDGED, PacketState.PURGED)).fetchall()
        for (packet_id,) in rows:
            path = self.receipt_path_of(packet_id)
            receipt = None if path.exists() else self.receipt(packet_id)
            if receipt:
                write_atomically(path, receipt)

    # -- the uploader's side ---------------------------------------------------------------

    _DUE = ("(state = 'sealed' AND next_attempt_at <= :now) "
            "OR (state = 'uploading' AND COALESCE(lease_until, '') <= :now)")
    """Claimable: sealed and due, or held by a lease that has expired (a holder that crashed; a row left
    ``uploading`` by a schema-1 station has no lease at all)."""

    def claim_next(self, holder: str, lease_s: float, now: datetime | None = None) -> PacketRow | None:
        """Take the next claimable packet for ``holder`` until ``now + lease_s`` (state ``uploading``,
        one more attempt), or return None.  One ``BEGIN IMMEDIATE`` transaction: two uploaders, in
        threads or processes, never get the same packet while its lease lasts."""
        now = now or _now()
        with self._lock, self._transaction():
            row = self._db.execute(f"SELECT packet_id FROM packets WHERE {self._DUE} "
                                   "ORDER BY next_attempt_at, sealed_at LIMIT 1", {"now": now.isoformat()}).fetchone()
            if row is None:
                return None
            self._db.execute(
                "UPDATE packets SET state = ?, attempts = attempts + 1, lease_holder = ?, lease_until = ? "
                "WHERE packet_id = ?",
                (PacketState.UPLOADING, holder, (now + timedelta(seconds=lease_s)).isoformat(), row[0]))
        return self.get(row[0])

    def next_attempt_time(self) -> datetime | None:
        """When the earliest pending packet becomes claimable (None when nothing is pending)."""
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(CASE state WHEN 'uploading' THEN COALESCE(lease_until, next_attempt_at) "
                "ELSE next_attempt_at END) FROM packets WHERE state IN (?, ?)",
                (PacketState.SEALED, PacketState.UPLOADING)).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def mark_acknowledged(self, packet_id: str, receipt: bytes) -> None:
        """Store the (already verified) receipt and mark the packet acknowledged: the receipt file
        first, then the row (a crash between the two is repaired by :meth:`recover`).

        From any state that :data:`TRANSITIONS` lets reach ``acknowledged``, whoever holds it: a
        verified receipt proves the registry stored these bytes.  A packet already acknowledged (or
        purged) keeps its first receipt and this call does nothing, without raising: a late duplicate
        receipt (an upload and a USB stick, or a retried upload) is expected, and either is proof.
        Raises :class:`OutboxError` when the receipt file cannot be written (nothing changes)."""
        state = self.get(packet_id).state
        if state in (PacketState.ACKNOWLEDGED, PacketState.PURGED):
            return
        try:
            write_atomically(self.receipt_path_of(packet_id), receipt)
        except OSError as error:
            raise OutboxError(f"cannot store the receipt of {packet_id}: {error.strerror}") from error
        if self._acknowledge_row(packet_id, receipt):
            log.info("packet %s acknowledged", packet_id)
            return
        state = self.get(packet_id).state
        if state not in (PacketState.ACKNOWLEDGED, PacketState.PURGED):
            raise WrongState(packet_id, state, "be acknowledged")

    def _acknowledge_row(self, packet_id: str, receipt: bytes) -> bool:
        """The row's half of :meth:`mark_acknowledged`: one guarded ``UPDATE``; whether it changed the row."""
        sources = [state for state, targets in TRANSITIONS.items() if PacketState.ACKNOWLEDGED in targets]
        marks = ", ".join("?" for _ in sources)
        with self._lock:
            cursor = self._db.execute(
                "UPDATE packets SET state = ?, receipt = ?, acknowledged_at = ?, last_error = NULL, "
                f"lease_holder = NULL, lease_until = NULL WHERE packet_id = ? AND state IN ({marks})",
                (PacketState.ACKNOWLEDGED, receipt, _now().isoformat(), packet_id, *sources))
        return bool(cursor.rowcount)

    def mark_failed(self, packet_id: str, holder: str, error: str, retry_at: datetime) -> None:
        """``holder``'s attempt failed: the packet is sealed again and due at ``retry_at``."""
        self._release(packet_id, holder, PacketState.SEALED, "last_error = ?, next_attempt_at = ?",
                      error, retry_at.isoformat())

    def mark_refused(self, packet_id: str, holder: str, error: str) -> None:
        """The receiver rejected ``holder``'s upload for good: set aside until an officer's retry."""
        self._release(packet_id, holder, PacketState.REFUSED, "last_error = ?", error)
        log.error("packet %s refused by the receiver: %s", packet_id, error)

    def mark_quarantined(self, packet_id: str, holder: str, error: str) -> None:
        """``holder`` could not read the packet's file: set aside (not due any more) with the error, so
        that the rest of the queue goes on; an officer's retry puts it back once the file is restored."""
        self._release(packet_id, holder, PacketState.QUARANTINED, "last_error = ?", error)
        log.error("packet %s quarantined: %s", packet_id, error)

    def _release(self, packet_id: str, holder: str, target: PacketState, assignments: str, *values: object) -> None:
        """Move a packet that ``holder`` holds out of ``uploading``, dropping the lease; raise
        :class:`WrongState` (and change nothing) if it is in another state or held by someone else
        (``holder``'s lease expired and another uploader claimed it)."""
        if target not in TRANSITIONS[PacketState.UPLOADING]:
            raise ValueError(f"{target} is not reached from {PacketState.UPLOADING}")
        with self._lock:
            cursor = self._db.execute(
                f"UPDATE packets SET state = ?, {assignments}, lease_holder = NULL, lease_until = NULL "
                "WHERE packet_id = ? AND state = ? AND lease_holder = ?",
                (target, *values, packet_id, PacketState.UPLOADING, holder))
        if not cursor.rowcount:
            row = self.get(packet_id)
            held = f" (held by {row.lease_holder})" if row.state is PacketState.UPLOADING else ""
            raise WrongState(packet_id, row.state, f"go {PacketState.UPLOADING} → {target} for {holder}{held}")

    def hand_over(self, packet_id: str) -> None:
        """The citizen has seen the receipt of ``packet_id`` (or the officer has told them): it leaves
        :meth:`not_handed_over`.  The first time stands; an unknown id raises :class:`KeyError`."""
        self.get(packet_id)
        self._set(packet_id, "handed_over_at = COALESCE(handed_over_at, ?)", _now().isoformat())

    def not_handed_over(self) -> list[PacketRow]:
        """The kept enrolments whose citizen never saw the receipt (a crash after sealing), oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM packets WHERE handed_over_at IS NULL ORDER BY sealed_at").fetchall()
        return [_to_row(row) for row in rows]

    def receipt(self, packet_id: str) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT receipt FROM packets WHERE packet_id = ?", (packet_id,)).fetchone()
        return row[0] if row else None

    # -- the operator's side ---------------------------------------------------------------

    def retry(self) -> int:
        """Make every sealed, refused and quarantined packet due now; returns how many.  Packets being
        uploaded are left to their holder (a crashed holder's become claimable when its lease expires)."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE packets SET state = ?, next_attempt_at = ? WHERE state IN (?, ?, ?)",
                (PacketState.SEALED, _now().isoformat(), PacketState.SEALED, PacketState.REFUSED,
                 PacketState.QUARANTINED))
        return cursor.rowcount

    def export(self, destination: Path) -> list[str]:
        """Copy every packet not yet acknowledged to ``destination`` (a USB stick), durably, and note
        when; returns the ids.  What is copied is chosen from the files (:func:`export_packet_files`),
        the same way as when the database is lost.

        The packets stay in the outbox: an exported packet is acknowledged only by a receipt, whether
        the uploader later sends it itself (the receiver answers a duplicate with the same receipt)
        or not.
        """
        exported = export_packet_files(self.packets, destination)
        for packet_id in exported:
            self._set(packet_id, "exported_at = ?", _now().isoformat())
        return exported

    def exportable(self) -> list[PacketRow]:
        """The rows of the packets :meth:`export` would copy now (to size a drive before copying)."""
        return [row for row in self.list(*NOT_CONFIRMED) if self.path_of(row.packet_id).exists()]

    def purge(self, now: datetime | None = None) -> int:
        """Delete the files of packets acknowledged more than the retention period ago; their receipt
        files stay (the registry's proof that it has them)."""
        cutoff = ((now or _now()) - self.retention).isoformat()
        with self._lock:
            rows = self._db.execute("SELECT packet_id FROM packets WHERE state = ? AND acknowledged_at <= ?",
                                    (PacketState.ACKNOWLEDGED, cutoff)).fetchall()
            for (packet_id,) in rows:
                self.path_of(packet_id).unlink(missing_ok=True)
                self._db.execute("UPDATE packets SET state = ? WHERE packet_id = ? AND state = ?",
                                 (PacketState.PURGED, packet_id, PacketState.ACKNOWLEDGED))
        return len(rows)

    def get(self, packet_id: str) -> PacketRow:
        row = self.find(packet_id)
        if row is None:
            raise KeyError(packet_id)
        return row

    def find(self, packet_id: str) -> PacketRow | None:
        """The packet's row, or None when the outbox has no packet with this id."""
        row = self._row(packet_id)
        return None if row is None else _to_row(row)

    def list(self, *states: PacketState) -> list[PacketRow]:
        with self._lock:
            if states:
                marks = ", ".join("?" for _ in states)
                rows = self._db.execute(f"SELECT * FROM packets WHERE state IN ({marks}) ORDER BY sealed_at",
                                        states).fetchall()
            else:
                rows = self._db.execute("SELECT * FROM packets ORDER BY sealed_at").fetchall()
        return [_to_row(row) for row in rows]

    def status(self) -> OutboxStatus:
        with self._lock:
            counts = {state: 0 for state in PacketState}
            for state, count in self._db.execute("SELECT state, COUNT(*) FROM packets GROUP BY state"):
                counts[PacketState(state)] = count
            oldest = self._db.execute("SELECT MIN(sealed_at) FROM packets WHERE state IN (?, ?, ?, ?)",
                                      NOT_CONFIRMED).fetchone()[0]
            errors = dict(self._db.execute(
                "SELECT packet_id, last_error FROM packets WHERE last_error IS NOT NULL AND state != ?",
                (PacketState.ACKNOWLEDGED,)).fetchall())
            quarantined = {row.packet_id: row.last_error or "" for row in self.list(PacketState.QUARANTINED)}
        return OutboxStatus(counts, datetime.fromisoformat(oldest) if oldest else None,
                            self._free_bytes(self.directory), self.min_free_bytes, errors, quarantined,
                            tuple(self.not_handed_over()))

    def _row(self, packet_id: str) -> tuple | None:
        with self._lock:
            return self._db.execute("SELECT * FROM packets WHERE packet_id = ?", (packet_id,)).fetchone()

    def _set(self, packet_id: str, assignments: str, *values: object) -> None:
        with self._lock:
            self._db.execute(f"UPDATE packets SET {assignments} WHERE packet_id = ?", (*values, packet_id))


def export_packet_files(packets: Path, destination: Path) -> list[str]:
    """Copy every packet file of ``packets`` that has no stored receipt beside it to ``destination``,
    durably; returns the packet ids.  From the files alone, so that a lost database strands nothing
    (receipt files are written before a packet is marked acknowledged, so none is missed).

    A packet file that cannot be read is left out (and logged; the outbox quarantines it): only a
    failure to write ``destination`` raises, so that a caller can blame the drive."""
    destination.mkdir(parents=True, exist_ok=True)
    exported = []
    for path in sorted(packets.glob(f"*{PACKET_SUFFIX}")):
        if path.with_suffix(STORED_RECEIPT_SUFFIX).exists():
            continue
        try:
            sealed = path.read_bytes()
        except OSError as error:
            log.error("packet %s not exported: its file cannot be read: %s", path.stem, error)
            continue
        write_atomically(destination / path.name, sealed)
        exported.append(path.stem)
    return exported


def _same_packet(existing: PacketRow, digest: str) -> PacketRow:
    """Adding a packet id the outbox has: the same bytes are the same packet, other bytes an error."""
    if existing.sha256 != digest:
        raise DuplicatePacket(f"packet {existing.packet_id} is already kept ({existing.state}) with other bytes")
    return existing


def _discard(path: Path) -> None:
    """Delete a packet file that :meth:`Outbox.add` wrote but could not record, durably, so that a crash
    cannot bring it back for recovery to deliver.  If even that fails the file stays: the retry under
    the same id replaces it, or, after a restart, recovery delivers it as the one packet of its citizen."""
    try:
        path.unlink(missing_ok=True)
        fsync_directory(path.parent)
    except OSError as error:
        log.error("packet file %s, not recorded, could not be removed: %s", path.name, error)


def _to_row(row: tuple) -> PacketRow:
    (packet_id, state, size, sha256, sealed_at, attempts, next_attempt_at, last_error, acknowledged_at,
     _receipt, exported_at, lease_holder, lease_until, officer, handed_over_at) = row
    return PacketRow(packet_id, PacketState(state), size, sha256, datetime.fromisoformat(sealed_at), attempts,
                     datetime.fromisoformat(next_attempt_at), last_error,
                     datetime.fromisoformat(acknowledged_at) if acknowledged_at else None,
                     datetime.fromisoformat(exported_at) if exported_at else None,
                     lease_holder, datetime.fromisoformat(lease_until) if lease_until else None, officer,
                     datetime.fromisoformat(handed_over_at) if handed_over_at else None)


def _now() -> datetime:
    return datetime.now(UTC)


