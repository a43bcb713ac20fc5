"""The uploader's decisions, against a scripted HTTP transport: receipts checked, refusals kept, back-off bounded."""

from __future__ import annotations

import hashlib
import random
import socket
import ssl
import threading
import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from crypto.keys import FileSigner, load_certificate, load_private_key
from crypto.pki import StationSubject, create_dev_pki
from crypto.receipt import RegistryReceipt, sign_receipt
from crypto.trust import TrustStore
from station.outbox.store import Outbox, PacketState
from station.outbox.uploader import Outcome, Uploader, make_client

SEALED = b"sealed bytes " * 50


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return create_dev_pki(tmp_path_factory.mktemp("pki"), StationSubject("S-1", "40", "412"))


def _uploader(tmp_path, pki, handler, signer_pki=None):
    outbox = Outbox(tmp_path)
    packet_id = str(uuid.uuid4())
    outbox.add(packet_id, SEALED)
    client = httpx.Client(base_url="https://receiver.test", transport=httpx.MockTransport(handler))
    trust = TrustStore([load_certificate(pki.receipt_certificate)])
    return outbox, packet_id, Uploader(outbox, client, trust, rng=random.Random(1))


def _receipt(pki, packet_id, data=SEALED):
    signer = FileSigner(load_private_key(pki.receipt_key, None), load_certificate(pki.receipt_certificate))
    return sign_receipt(RegistryReceipt(packet_id, hashlib.sha256(data).hexdigest(), "S-1",
                                datetime.now(UTC).replace(microsecond=0), "test"), signer)


def test_valid_receipt_acknowledges(tmp_path, pki):
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["request"] = request
        seen["response"] = httpx.Response(201, content=_receipt(pki, request.url.path.split("/")[-1]))
        return seen["response"]

    outbox, packet_id, uploader = _uploader(tmp_path, pki, handler)
    second = str(uuid.uuid4())
    outbox.add(second, SEALED)
    assert uploader.upload_due()[Outcome.ACKNOWLEDGED] == 2
    assert outbox.get(packet_id).state is PacketState.ACKNOWLEDGED
    assert outbox.receipt(second) == seen["response"].content  # the receipt itself is kept
    request = seen["request"]
    assert request.method == "PUT" and request.content == SEALED
    assert request.headers["content-type"].startswith("application/pkcs7-mime")
    assert request.headers["content-digest"].startswith("sha-256=:")


@pytest.mark.parametrize("receipt_for", ["other-bytes", "other-packet", "garbage"])
def test_a_receipt_that_does_not_prove_storage_is_not_an_acknowledgement(tmp_path, pki, receipt_for):
    def handler(request: httpx.Request) -> httpx.Response:
        packet_id = request.url.path.split("/")[-1]
        body = {"other-bytes": lambda: _receipt(pki, packet_id, b"else"),
                "other-packet": lambda: _receipt(pki, str(uuid.uuid4())),
                "garbage": lambda: b"<html>proxy says ok</html>"}[receipt_for]()
        return httpx.Response(200, content=body)

    outbox, packet_id, uploader = _uploader(tmp_path, pki, handler)
    assert uploader.upload_due()[Outcome.RETRY] == 1
    row = outbox.get(packet_id)
    assert row.state is PacketState.SEALED and row.last_error.startswith("bad-receipt")


def test_refusal_is_kept_with_its_code(tmp_path, pki):
    def handler(_request):
        return httpx.Response(422, json={"error": "wrong-recipient", "detail": "not for us"})

    outbox, packet_id, uploader = _uploader(tmp_path, pki, handler)
    assert uploader.upload_due()[Outcome.REFUSED] == 1
    row = outbox.get(packet_id)
    assert row.state is PacketState.REFUSED and row.last_error == "wrong-recipient: not for us"


@pytest.mark.parametrize("failure", ["connect", "timeout", "503"])
def test_transient_failures_back_off(tmp_path, pki, failure):
    def handler(request):
        if failure == "connect":
            raise httpx.ConnectError("refused", request=request)
        if failure == "timeout":
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(503, text="maintenance")

    outbox, packet_id, uploader = _uploader(tmp_path, pki, handler)
    before = datetime.now(UTC)
    assert uploader.upload_due()[Outcome.RETRY if failure == "503" else Outcome.UNREACHABLE] == 1
    row = outbox.get(packet_id)
    assert row.state is PacketState.SEALED and row.attempts == 1 and row.next_attempt_at > before
    assert row.last_error.startswith("HTTP 503: maintenance" if failure == "503" else "network: ")
    assert outbox.claim_next("test", 60) is None  # not due again before its back-off


def test_the_first_retry_comes_within_two_base_delays(tmp_path, pki):
    """A first failure waits up to 2 x 2 s (jittered, at least 1 s): the delay of attempt one, not zero or two."""
    outbox, first, uploader = _uploader(tmp_path, pki, lambda _request: httpx.Response(503))
    for _ in range(29):
        outbox.add(str(uuid.uuid4()), SEALED)
    before = datetime.now(UTC)
    assert uploader.upload_due()[Outcome.RETRY] == 30
    delays = [(row.next_attempt_at - before).total_seconds() for row in outbox.list()]
    assert min(delays) >= 0.9 and 2.5 < max(delays) <= 4.5


def test_backoff_grows_with_jitter_and_is_capped(tmp_path, pki):
    _, _, uploader = _uploader(tmp_path, pki, lambda r: httpx.Response(503))
    uploader.max_backoff_s = 900
    early = [uploader.backoff(1) for _ in range(200)]
    late = [uploader.backoff(40) for _ in range(200)]
    assert max(early) <= 4 and min(early) >= 1 and any(delay < 2 for delay in early)
    uploader.max_backoff_s = 10**6
    assert max(uploader.backoff(10) for _ in range(200)) > 1000  # 2 s x 2^10, exponential
    assert max(late) <= 900 and len({round(x) for x in late}) > 50  # jittered, not in lock-step


def _until(predicate, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_the_thread_sends_what_is_queued_when_notified_and_stops(tmp_path, pki):
    def handler(request):
        return httpx.Response(201, content=_receipt(pki, request.url.path.split("/")[-1]))

    outbox, first, uploader = _uploader(tmp_path, pki, handler)
    uploader.start()
    try:
        assert _until(lambda: outbox.get(first).state is PacketState.ACKNOWLEDGED)
        second = str(uuid.uuid4())
        outbox.add(second, SEALED)
        uploader.notify()  # without it the thread sleeps 60 s: nothing else is due
        assert _until(lambda: outbox.get(second).state is PacketState.ACKNOWLEDGED)
    finally:
        uploader.stop()
    assert not uploader._thread.is_alive()


def test_the_thread_retries_when_the_back_off_is_over_and_survives_a_failing_cycle(tmp_path, pki, monkeypatch):
    answers = iter([httpx.Response(503, text="maintenance")])

    def handler(request):
        return next(answers, None) or httpx.Response(201, content=_receipt(pki, request.url.path.split("/")[-1]))

    outbox, packet_id, uploader = _uploader(tmp_path, pki, handler)
    purge, failures = outbox.purge, []

    def failing_once():
        if not failures:
            failures.append("disk")
            raise OSError("disk full")
        return purge()

    monkeypatch.setattr(outbox, "purge", failing_once)
    uploader.start()
    try:  # the 503's back-off is at most 4 s for a first attempt; the thread wakes for it, not after 60 s
        assert _until(lambda: outbox.get(packet_id).state is PacketState.ACKNOWLEDGED, timeout_s=15)
    finally:
        uploader.stop()
    assert failures == ["disk"]


@pytest.mark.parametrize(("answer", "kept"), [
    (httpx.Response(413, text="too big"), "http-413: too big"),
    (httpx.Response(422, json={"detail": "no code"}), "http-422: no code"),
    (httpx.Response(422, json={"error": "malformed"}), "malformed: "),
])
def test_a_refusal_keeps_what_the_receiver_said(tmp_path, pki, answer, kept):
    outbox, packet_id, uploader = _uploader(tmp_path, pki, lambda _request: answer)
    assert uploader.upload_due()[Outcome.REFUSED] == 1
    assert outbox.get(packet_id).last_error == kept


def test_the_client_talks_to_the_receiver_with_bounded_waits():
    client = make_client("https://receiver.example:8443", ssl.create_default_context(), timeout_s=45)
    assert str(client.base_url) == "https://receiver.example:8443"
    assert client.timeout.read == 45 and client.timeout.connect == 10


def test_an_uploader_never_started_stops(tmp_path, pki):
    _, _, uploader = _uploader(tmp_path, pki, lambda _request: httpx.Response(503))
    uploader.stop()  # the kiosk stops its services whatever got started


def _receipt_handler(pki):
    return lambda request: httpx.Response(201, content=_receipt(pki, request.url.path.split("/")[-1]))


@pytest.mark.parametrize("unreadable", ["missing", "I/O error"])
def test_an_unreadable_packet_is_quarantined_and_the_next_is_still_sent(tmp_path, pki, monkeypatch, unreadable):
    outbox, broken, uploader = _uploader(tmp_path, pki, _receipt_handler(pki))
    fine = str(uuid.uuid4())
    outbox.add(fine, SEALED)
    if unreadable == "missing":
        outbox.path_of(broken).unlink()
    else:
        read_sealed = outbox.read_sealed

        def failing(packet_id):
            if packet_id == broken:
                raise OSError(5, "Input/output error")
            return read_sealed(packet_id)

        monkeypatch.setattr(outbox, "read_sealed", failing)
    results = uploader.upload_due()
    assert results[Outcome.QUARANTINED] == 1 and results[Outcome.ACKNOWLEDGED] == 1
    row = outbox.get(broken)
    assert row.state is PacketState.QUARANTINED
    assert row.last_error.startswith("unreadable (ENOENT): " if unreadable == "missing" else "unreadable (EIO): ")
    assert outbox.get(fine).state is PacketState.ACKNOWLEDGED
    assert outbox.status().counts[PacketState.QUARANTINED] == 1
    assert outbox.claim_next("test", 60) is None and outbox.next_attempt_time() is None  # not due any more


class _BlackHole:
    """A receiver that accepts TCP connections and never answers: a dead route seen from the station."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(connection)

    def close(self) -> None:
        self.listener.close()
        for connection in self.connections:
            connection.close()


@pytest.fixture
def black_hole():
    hole = _BlackHole()
    yield hole
    hole.close()


def _black_hole_uploader(tmp_path, pki, black_hole, packets: int):
    outbox = Outbox(tmp_path)
    for _ in range(packets):
        outbox.add(str(uuid.uuid4()), SEALED)
    client = httpx.Client(base_url=f"http://127.0.0.1:{black_hole.port}", timeout=0.3)
    trust = TrustStore([load_certificate(pki.receipt_certificate)])
    return outbox, Uploader(outbox, client, trust, rng=random.Random(1))


def test_a_black_holed_receiver_costs_one_timeout_per_cycle(tmp_path, pki, black_hole):
    outbox, uploader = _black_hole_uploader(tmp_path, pki, black_hole, packets=5)
    results = uploader.upload_due()
    assert results[Outcome.UNREACHABLE] == 1 and sum(results.values()) == 1
    assert len(black_hole.connections) == 1
    rows = outbox.list()
    assert [row.attempts for row in rows] == [1, 0, 0, 0, 0]  # the others wait for the next cycle
    assert rows[0].state is PacketState.SEALED and rows[0].last_error.startswith("network: ReadTimeout")


def test_after_a_black_holed_cycle_the_thread_waits_for_the_back_off(tmp_path, pki, black_hole):
    outbox, uploader = _black_hole_uploader(tmp_path, pki, black_hole, packets=5)
    uploader.start()  # the first back-off is at least 1 s; without the pause the next cycles start at once
    try:
        time.sleep(0.9)
    finally:
        uploader.stop()
    assert len(black_hole.connections) == 1
