"""The uploader thread: sends due packets to the receiver over HTTPS and keeps only verified receipts.

``PUT /v1/packets/{id}`` is idempotent at the receiver, so the uploader never has to know whether an
earlier attempt got through: after a crash, a timeout or a dropped connection it simply sends
again, and a packet stored before answers with the receipt it already has.

Retries back off exponentially with "full jitter" (delay drawn uniformly from 0 to min(cap,
base·2^attempt); AWS Architecture Blog, "Exponential Backoff And Jitter", 2015), so that a
province's stations coming back online together do not hammer the receiver in step, and a
station offline for hours retries at most every ``max_backoff_s``.

A cycle (:meth:`Uploader.upload_due`) claims one due packet at a time (:meth:`Outbox.claim_next`,
so that another uploader process never sends the same packet).  A packet whose file cannot be read
is quarantined and the cycle goes on.  When the receiver cannot be reached at all (no connection,
or no answer in time) the cycle stops there: a dead network costs its timeout once per cycle, not
once per packet, and the thread waits for that packet's back-off before the next cycle.
"""

from __future__ import annotations

import base64
import enum
import errno
import hashlib
import logging
import os
import random
import socket
import threading
from datetime import UTC, datetime, timedelta

import httpx

from crypto.receipt import ReceiptError, verify_receipt
from crypto.trust import TrustStore
from station.outbox.store import Outbox, PacketRow

log = logging.getLogger(__name__)

SEALED_MEDIA_TYPE = "application/pkcs7-mime; smime-type=authEnveloped-data"
"""RFC 8551 §3.2.2 / RFC 5083 §3: the media type of CMS AuthEnvelopedData."""
REFUSAL_STATUSES = {400, 409, 413, 422}
"""Answers that will not change by sending the same bytes again: the packet is set aside as refused."""


class Outcome(enum.Enum):
    ACKNOWLEDGED = "acknowledged"
    RETRY = "retry"
    REFUSED = "refused"
    QUARANTINED = "quarantined"
    UNREACHABLE = "receiver unreachable"
    """Retried later like ``RETRY``; the receiver could not be reached, so the cycle stopped."""


class Uploader:
    """Uploads the outbox's due packets; :meth:`start` runs it in a daemon thread until :meth:`stop`."""

    def __init__(self, outbox: Outbox, client: httpx.Client, receipt_trust: TrustStore, *,
                 base_delay_s: float = 2.0, max_backoff_s: float = 900.0, lease_s: float = 900.0,
                 rng: random.Random | None = None) -> None:
        self.outbox = outbox
        self.client = client
        self.receipt_trust = receipt_trust
        self.base_delay_s = base_delay_s
        self.max_backoff_s = max_backoff_s
        self.lease_s = lease_s
        """How long a claimed packet stays ours: longer than any one upload, short enough that a crashed
        uploader's packet is sent by another within the quarter hour."""
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._paused_until: datetime | None = None
        self._rng = rng or random.Random()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def upload_due(self) -> dict[Outcome, int]:
        """Try every packet that is due now, once, until the receiver proves unreachable; returns how
        each attempt ended.  (A failed packet is due again only after its back-off, later than ``now``,
        so it is not claimed twice in one cycle.)"""
        results = {outcome: 0 for outcome in Outcome}
        now = datetime.now(UTC)
        self._paused_until = None
        while not self._stop.is_set():
            row = self.outbox.claim_next(self.holder, self.lease_s, now)
            if row is None:
                break
            outcome = self.upload(row)
            results[outcome] += 1
            if outcome is Outcome.UNREACHABLE:
                self._paused_until = self.outbox.get(row.packet_id).next_attempt_at
                break
        return results

    def upload(self, row: PacketRow) -> Outcome:
        """One attempt for one packet, which this uploader has claimed."""
        try:
            sealed = self.outbox.read_sealed(row.packet_id)
        except OSError as error:
            # the reason alone (the path is always packets/<id>.p7m), with its errno name, from which the
            # officer's screen says it in the officer's language (kiosk.ui.officer.quarantine_reason)
            code = errno.errorcode.get(error.errno or 0, "")
            self.outbox.mark_quarantined(row.packet_id, self.holder,
                                         f"unreadable{f' ({code})' if code else ''}: {error.strerror or error}")
            return Outcome.QUARANTINED
        digest = hashlib.sha256(sealed).digest()
        try:
            response = self.client.put(f"/v1/packets/{row.packet_id}", content=sealed, headers=upload_headers(digest))
        except httpx.HTTPError as error:
            self._retry(row, f"network: {type(error).__name__}: {error}")
            return Outcome.UNREACHABLE
        if response.status_code in (200, 201):
            try:
                verify_receipt(response.content, self.receipt_trust, packet_id=row.packet_id,
                               sealed_sha256=digest.hex())
            except ReceiptError as error:
                return self._retry(row, f"bad-receipt: {error}")
            self.outbox.mark_acknowledged(row.packet_id, response.content)
            return Outcome.ACKNOWLEDGED
        if response.status_code in REFUSAL_STATUSES:
            code, detail = _error_of(response)
            self.outbox.mark_refused(row.packet_id, self.holder, f"{code}: {detail}")
            return Outcome.REFUSED
        return self._retry(row, f"HTTP {response.status_code}: {response.text[:200]}")

    def backoff(self, attempts: int) -> float:
        ceiling = min(self.max_backoff_s, self.base_delay_s * 2 ** min(attempts, 30))
        return max(1.0, self._rng.uniform(0, ceiling))

    def _retry(self, row: PacketRow, error: str) -> Outcome:
        delay = self.backoff(row.attempts)  # the claim counted this attempt already
        self.outbox.mark_failed(row.packet_id, self.holder, error, datetime.now(UTC) + timedelta(seconds=delay))
        log.warning("packet %s not delivered (%s); next try in %.0f s", row.packet_id, error, delay)
        return Outcome.RETRY

    # -- thread -------------------------------------------------------------------------

    def notify(self) -> None:
        """A packet was just queued: try now instead of waiting for the next scheduled attempt."""
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="outbox-uploader", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.upload_due()
                self.outbox.purge()
            except Exception:  # the thread must survive anything (a full disk, a locked database)
                log.exception("uploader cycle failed; retrying")
            due = self.outbox.next_attempt_time()
            if due is not None and self._paused_until is not None:
                due = max(due, self._paused_until)  # the receiver was unreachable: wait for the back-off
            wait = 60.0 if due is None else max(0.05, min(60.0, (due - datetime.now(UTC)).total_seconds()))
            self._wake.wait(wait)
            self._wake.clear()


def upload_headers(sha256: bytes) -> dict[str, str]:
    """The headers of a packet's PUT: its media type, and its RFC 9530 Content-Digest, so that the
    receiver (or a proxy) checks the bytes before it decrypts anything."""
    return {"Content-Type": SEALED_MEDIA_TYPE, "Content-Digest": f"sha-256=:{base64.b64encode(sha256).decode()}:"}


def _error_of(response: httpx.Response) -> tuple[str, str]:
    try:
        document = response.json()
        return str(document.get("error", f"http-{response.status_code}")), str(document.get("detail", ""))
    except ValueError:
        return f"http-{response.status_code}", response.text[:200]


def make_client(base_url: str, ssl_context: object, *, timeout_s: float = 60.0) -> httpx.Client:
    """An HTTPS client with the station's client certificate (in ``ssl_context``)."""
    return httpx.Client(base_url=base_url, verify=ssl_context, timeout=httpx.Timeout(timeout_s, connect=10.0))  # type: ignore[arg-type]
