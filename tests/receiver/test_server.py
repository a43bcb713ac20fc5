"""The receiver over real TLS (uvicorn): client certificates required and checked against the station CA."""

from __future__ import annotations

import ssl

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from crypto.keys import load_certificate
from crypto.pki import StationSubject, create_dev_pki
from crypto.seal import seal
from packet.build import build_packet

SUBJECT = StationSubject("NA-HUNGDUNG-01", "40", "412")
SEALED = {"Content-Type": "application/pkcs7-mime; smime-type=authEnveloped-data"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return create_dev_pki(tmp_path_factory.mktemp("pki"), SUBJECT)


@pytest.fixture(scope="module")
def receiver(pki, synthetic, tmp_path_factory):
    running = synthetic.RunningReceiver(synthetic.receiver_settings(pki, tmp_path_factory.mktemp("rx"))).start()
    yield running
    running.stop()


def _client(pki, *, certificate=True, other=None):
    context = ssl.create_default_context(cafile=str(pki.root))
    if certificate:
        source = other or pki
        context.load_cert_chain(source.station_certificate, source.station_key,
                                password=source.station_passphrase.read_bytes().strip())
    return context


def test_health_and_put_and_receipt(receiver, pki, synthetic):
    record = synthetic.record(fingers=1)
    sealed = seal(build_packet(record), pki.station_signer(), load_certificate(pki.registry_certificate))
    with httpx.Client(base_url=receiver.url, verify=_client(pki), headers=SEALED) as client:
        assert client.get("/health").json()["status"] == "ok"
        first = client.put(f"/v1/packets/{record.packet_id}", content=bytes(sealed))
        assert first.status_code == 201
        again = client.put(f"/v1/packets/{record.packet_id}", content=bytes(sealed))
        assert again.status_code == 200 and again.content == first.content
        assert client.get(f"/v1/packets/{record.packet_id}/receipt").content == first.content
        missing = client.get("/v1/packets/00000000-0000-4000-8000-000000000000/receipt")
        assert missing.status_code == 404
        refused = client.put("/v1/packets/00000000-0000-4000-8000-000000000000", content=b"junk")
        assert refused.status_code == 422 and refused.json()["error"] == "malformed"
    # the body went through a file of its own on the store's disk, which left nothing behind
    store = receiver.intake.store
    assert store.path_of(str(record.packet_id)).read_bytes() == sealed
    assert (store.directory / "incoming").is_dir() and not any((store.directory / "incoming").iterdir())


def test_a_packet_refused_deep_inside_is_answered_and_leaves_nothing(receiver, pki, synthetic):
    """Refused while the received file is mapped and views of it are held (the GCM tag fails at the end)."""
    record = synthetic.record(fingers=1)
    sealed = seal(build_packet(record), pki.station_signer(), load_certificate(pki.registry_certificate))
    sealed[len(sealed) // 2] ^= 0x01
    with httpx.Client(base_url=receiver.url, verify=_client(pki), headers=SEALED) as client:
        refused = client.put(f"/v1/packets/{record.packet_id}", content=bytes(sealed))
        assert refused.status_code == 422 and refused.json()["error"] == "tampered"
        assert client.get("/health").json()["status"] == "ok"
    assert not any((receiver.intake.store.directory / "incoming").iterdir())


def test_client_without_certificate_is_refused(receiver, pki):
    context = _client(pki, certificate=False)
    with pytest.raises(httpx.HTTPError), httpx.Client(base_url=receiver.url, verify=context) as client:
        client.get("/health").raise_for_status()


def test_client_certificate_of_another_ca_is_refused(receiver, pki, tmp_path):
    other = create_dev_pki(tmp_path / "other", SUBJECT)
    with pytest.raises(httpx.HTTPError), httpx.Client(base_url=receiver.url, verify=_client(pki, other=other)) as c:
        c.get("/health").raise_for_status()


def _digest(data: bytes, algorithm: str = "sha256") -> str:
    import base64
    import hashlib

    return base64.b64encode(hashlib.new(algorithm, data).digest()).decode()


def test_media_type_and_content_digest_are_checked_before_the_packet(receiver, pki, synthetic):
    record = synthetic.record(fingers=1)
    sealed = seal(build_packet(record), pki.station_signer(), load_certificate(pki.registry_certificate))
    url = f"/v1/packets/{record.packet_id}"
    with httpx.Client(base_url=receiver.url, verify=_client(pki)) as client:
        untyped = client.put(url, content=bytes(sealed), headers={"Content-Type": "application/octet-stream"})
        assert untyped.status_code == 415 and untyped.json()["error"] == "unsupported-media-type"
        for header, code in [(f"sha-256=:{_digest(b'other bytes')}:", "content-digest-mismatch"),
                             (f"sha-512=:{_digest(b'x', 'sha512')}:, sha-256=:{_digest(sealed)}:",
                              "content-digest-mismatch"),
                             ("sha-256=not-base64", "bad-content-digest"),
                             (f"sha-256=:{_digest(sealed, 'sha512')}:", "bad-content-digest")]:
            refused = client.put(url, content=bytes(sealed), headers={**SEALED, "Content-Digest": header})
            assert refused.status_code == 400 and refused.json()["error"] == code, header
        assert receiver.intake.store.get(str(record.packet_id)) is None
        both = f"sha-512=:{_digest(sealed, 'sha512')}:, sha-256=:{_digest(sealed)}:, md5=:AAAA:"
        assert client.put(url, content=bytes(sealed), headers={**SEALED, "Content-Digest": both}).status_code == 201


def test_a_client_that_stops_sending_is_cut_off(pki, synthetic, tmp_path):
    """It declares 10 MB and sends 1 KB: after the idle timeout the receiver answers 408 and closes."""
    import dataclasses
    import socket

    settings = dataclasses.replace(synthetic.receiver_settings(pki, tmp_path / "rx"), idle_timeout_s=1.0)
    running = synthetic.RunningReceiver(settings).start()
    try:
        context = _client(pki)
        with socket.create_connection(("127.0.0.1", settings.port), timeout=10) as raw, \
                context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(b"PUT /v1/packets/00000000-0000-4000-8000-000000000000 HTTP/1.1\r\nHost: x\r\n"
                        b"Content-Type: application/pkcs7-mime\r\nContent-Length: 10000000\r\n\r\n" + bytes(1024))
            answer = b""
            while b"idle-timeout" not in answer and (chunk := tls.recv(4096)):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 408") and b"idle-timeout" in answer
    finally:
        running.stop()


def test_one_station_has_at_most_two_uploads_in_progress(pki, synthetic, tmp_path):
    """A third upload from the same client certificate while two are open is refused (429); another
    certificate is not held up by it.  Driven at the ASGI level, with the TLS extension the server adds."""
    import asyncio

    from crypto.keys import generate_station_key
    from crypto.pki import issue_station_certificate, make_csr
    from receiver.app import create_app
    from receiver.server import build_intake

    app = create_app(build_intake(synthetic.receiver_settings(pki, tmp_path / "rx")), idle_timeout_s=5)
    release = asyncio.Event()

    def station_pem(station_id: str) -> str:
        key = generate_station_key()
        return issue_station_certificate(make_csr(StationSubject(station_id, "40", "412"), key),
                                         load_certificate(pki.station_ca), pki.ca_key(pki.station_ca_key)
                                         ).public_bytes(serialization.Encoding.PEM).decode()

    station_a, station_b = station_pem("NA-A-01"), station_pem("NA-B-02")

    async def put(certificate: str) -> int:
        async def receive():
            await release.wait()  # the body never comes until released
            return {"type": "http.disconnect"}

        statuses = []

        async def send(message):
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        scope = {"type": "http", "method": "PUT", "path": "/v1/packets/00000000-0000-4000-8000-000000000000",
                 "raw_path": b"/v1/packets/00000000-0000-4000-8000-000000000000", "query_string": b"",
                 "headers": [(b"content-type", b"application/pkcs7-mime"), (b"content-length", b"10")],
                 "http_version": "1.1", "scheme": "https", "server": ("127.0.0.1", 443), "client": ("127.0.0.1", 1),
                 "extensions": {"tls": {"client_cert_chain": [certificate]}}}
        await app(scope, receive, send)
        return statuses[0] if statuses else 0

    async def scenario():
        first = [asyncio.create_task(put(station_a)) for _ in range(2)]
        await asyncio.sleep(0.2)
        third = await asyncio.wait_for(put(station_a), 2)
        other = asyncio.create_task(put(station_b))
        await asyncio.sleep(0.2)
        assert not other.done()  # station B's upload was admitted and waits for its body
        release.set()
        return third, await asyncio.gather(*first, other)

    third, _ = asyncio.run(scenario())
    assert third == 429


def test_a_fault_in_the_receiver_reaches_its_log_not_its_console(pki, synthetic, tmp_path, monkeypatch, capfd):
    """An unexpected error (here the store's disk failing) is a 500 for the station and a log record for
    the operator, whose console shows its line without the traceback (rule 9): uvicorn is not let install
    its own console handlers, which print tracebacks."""
    import logging

    running = synthetic.RunningReceiver(synthetic.receiver_settings(pki, tmp_path / "rx")).start()
    try:
        def failing_count() -> int:
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(running.intake.store, "count", failing_count)
        with httpx.Client(base_url=running.url, verify=_client(pki)) as client:
            assert client.get("/health").status_code == 500
    finally:
        running.stop()
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        assert not logger.handlers and logger.propagate, f"uvicorn's own console handler is installed on {name}"
    assert "Traceback" not in capfd.readouterr().err
