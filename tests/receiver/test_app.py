"""The receiver's HTTP answers, driven at the ASGI level: every refusal has its status and its code."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import uuid

import pytest

from crypto.keys import load_certificate
from crypto.pki import StationSubject, create_dev_pki
from crypto.seal import seal
from packet.build import build_packet
from receiver.app import content_digests, create_app
from receiver.intake import MAX_PACKET_BYTES
from receiver.server import build_intake

SEALED_TYPE = (b"content-type", b"application/pkcs7-mime")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return create_dev_pki(tmp_path_factory.mktemp("pki"), StationSubject("NA-HUNGDUNG-01", "40", "412"))


@pytest.fixture
def app(pki, synthetic, tmp_path):
    return create_app(build_intake(synthetic.receiver_settings(pki, tmp_path / "rx")), idle_timeout_s=0.5)


def _call(app, method: str, path: str, headers=(), chunks=(b"",), *, disconnect: bool = False,
          silent: bool = False):
    """One request through the ASGI app: the body in ``chunks``, then the client gone (``disconnect``)
    or sending nothing more (``silent``)."""
    messages = [{"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks]
    if disconnect:
        messages.append({"type": "http.disconnect"})
    elif not silent:
        messages[-1]["more_body"] = False
    answer = {"body": b""}

    async def receive():
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)  # a client that sends nothing more

    async def send(message):
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": list(headers), "http_version": "1.1", "scheme": "http", "server": ("127.0.0.1", 80),
             "client": ("127.0.0.1", 1)}
    asyncio.run(app(scope, receive, send))
    return answer["status"], answer["body"]


def _refusal(answer) -> tuple[int, str]:
    status, body = answer
    document = json.loads(body)
    assert document["detail"]  # every refusal explains itself
    return status, document["error"]


def _sealed(pki, synthetic):
    record = synthetic.record(fingers=1)
    return str(record.packet_id), bytes(seal(build_packet(record), pki.station_signer(),
                                             load_certificate(pki.registry_certificate)))


def test_a_packet_is_stored_then_answered_again_and_its_receipt_found(app, pki, synthetic):
    packet_id, sealed = _sealed(pki, synthetic)
    path = f"/v1/packets/{packet_id}"
    created = _call(app, "PUT", path, [SEALED_TYPE], [sealed[:1000], sealed[1000:]])
    assert created[0] == 201
    assert _call(app, "PUT", path, [SEALED_TYPE], [sealed]) == (200, created[1])
    assert _call(app, "GET", f"{path}/receipt") == (200, created[1])
    assert _refusal(_call(app, "GET", f"/v1/packets/{uuid.uuid4()}/receipt")) == (404, "not-found")
    assert json.loads(_call(app, "GET", "/health")[1]) == {"status": "ok", "packets": 1}


def test_refusals_before_the_body(app):
    path = f"/v1/packets/{uuid.uuid4()}"
    assert _refusal(_call(app, "PUT", path, [])) == (415, "unsupported-media-type")
    assert _refusal(_call(app, "PUT", path, [(b"content-type", b"text/plain")])) == (415, "unsupported-media-type")
    assert _refusal(_call(app, "PUT", path, [SEALED_TYPE, (b"content-digest", b"sha-256=abc")])) == (
        400, "bad-content-digest")
    too_long = (b"content-length", str(MAX_PACKET_BYTES + 1).encode())
    assert _refusal(_call(app, "PUT", path, [SEALED_TYPE, too_long])) == (413, "too-large")


def test_a_body_longer_than_a_packet_is_cut_off_while_it_arrives(app):
    """No Content-Length (chunked): the limit holds on the bytes received, not on what was declared."""
    piece = bytes(4 * 1024 * 1024)
    chunks = [piece] * (MAX_PACKET_BYTES // len(piece)) + [b"x"]
    assert _refusal(_call(app, "PUT", f"/v1/packets/{uuid.uuid4()}", [SEALED_TYPE], chunks)) == (413, "too-large")
    exactly = [piece] * (MAX_PACKET_BYTES // len(piece))
    assert _refusal(_call(app, "PUT", f"/v1/packets/{uuid.uuid4()}", [SEALED_TYPE], exactly)) == (422, "malformed")


def test_a_client_that_goes_away_or_stops_sending(app):
    path = f"/v1/packets/{uuid.uuid4()}"
    assert _refusal(_call(app, "PUT", path, [SEALED_TYPE], [b"part"], disconnect=True)) == (400, "incomplete")
    silent = _call(app, "PUT", path, [SEALED_TYPE], [b"part", b"more"], silent=True)  # then nothing, for 0.5 s
    assert _refusal(silent) == (408, "idle-timeout")


def test_bad_ids_conflicts_and_digests_are_told_apart(app, pki, synthetic):
    packet_id, sealed = _sealed(pki, synthetic)
    digest = base64.b64encode(hashlib.sha256(sealed).digest())
    assert _refusal(_call(app, "PUT", "/v1/packets/not-a-uuid", [SEALED_TYPE], [sealed])) == (400, "bad-packet-id")
    mismatch = (b"content-digest", b"sha-256=:" + base64.b64encode(hashlib.sha256(b"x").digest()) + b":")
    assert _refusal(_call(app, "PUT", f"/v1/packets/{packet_id}", [SEALED_TYPE, mismatch], [sealed])) == (
        400, "content-digest-mismatch")
    matching = (b"content-digest", b"sha-256=:" + digest + b":")
    assert _call(app, "PUT", f"/v1/packets/{packet_id}", [SEALED_TYPE, matching], [sealed])[0] == 201
    _, other = _sealed(pki, synthetic)
    assert _refusal(_call(app, "PUT", f"/v1/packets/{packet_id}", [SEALED_TYPE], [other])) == (409, "conflict")


SHA256_OF_X = base64.b64encode(hashlib.sha256(b"x").digest()).decode()


def test_content_digest_is_read_as_rfc_9530_says():
    assert content_digests(None) == {}
    assert content_digests(f"SHA-256=:{SHA256_OF_X}:;note=1, md5=:AAAA:") == {"sha-256": hashlib.sha256(b"x").digest()}
    assert content_digests("unixsum=:AAAA:") == {}  # an algorithm we do not check is ignored (RFC 9530 §2)
    spoiled = SHA256_OF_X[:10] + "!" + SHA256_OF_X[10:]  # base64 with a character that is not base64
    for header in (f"sha-256={SHA256_OF_X}", f"sha-256=:{SHA256_OF_X}", f"sha-256={SHA256_OF_X}:", "sha-256=:",
                   f"=:{SHA256_OF_X}:", f"sha-256:{SHA256_OF_X}", f"sha-256=:{spoiled}:",
                   f"sha-256=:{base64.b64encode(bytes(20)).decode()}:", f"sha-256=:{SHA256_OF_X}Q",
                   f"sha-256=Q{SHA256_OF_X}:"):
        with pytest.raises(ValueError):
            content_digests(header)


def test_a_restarted_receiver_opens_the_same_store_and_one_upload_at_a_time_is_a_limit(pki, synthetic, tmp_path):
    intake = build_intake(synthetic.receiver_settings(pki, tmp_path / "rx"))
    create_app(intake)
    app = create_app(intake, uploads_per_client=1)  # the second start finds incoming/ there
    for _ in range(2):  # one after the other: each is the only one in progress
        packet_id, sealed = _sealed(pki, synthetic)
        assert _call(app, "PUT", f"/v1/packets/{packet_id}", [SEALED_TYPE], [sealed])[0] == 201
