"""The receiver's HTTP API (ASGI, Starlette).

``PUT /v1/packets/{id}``: body = the sealed packet (``Content-Type: application/pkcs7-mime``, and
``Content-Digest`` (RFC 9530) checked when sent).  ``201`` (stored now) or ``200`` (already stored)
with the receipt (DER CMS SignedData) as body; ``422``/``409``/``400``/``408``/``413``/``415``/``429`` with
``{"error": code, "detail": text}`` when refused — the codes are those of :mod:`crypto.errors`,
:mod:`receiver.intake` and this module's (``unsupported-media-type``, ``bad-content-digest``,
``content-digest-mismatch``, ``idle-timeout``, ``too-large``, ``too-many-uploads``).
``GET /v1/packets/{id}/receipt``: the receipt again, or ``404``.
``GET /health``: ``{"status": "ok", "packets": n}``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import io
import logging
import mmap
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import BinaryIO

from cryptography import x509
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from crypto.der import Buffer
from crypto.errors import PacketError
from crypto.trust import Usage
from receiver.intake import MAX_PACKET_BYTES, BadPacketId, Intake, PacketConflict

log = logging.getLogger(__name__)

RECEIPT_MEDIA_TYPE = "application/pkcs7-mime; smime-type=signed-data"
SEALED_MEDIA_TYPE = "application/pkcs7-mime"
"""RFC 8551 §3.2: CMS enveloped content (the smime-type parameter is not required)."""
DIGEST_ALGORITHMS = {"sha-256": "sha256", "sha-512": "sha512"}
"""RFC 9530 §5 (the IANA Hash Algorithms for HTTP Digest Fields): the two active algorithms."""


def content_digests(header: str | None) -> dict[str, bytes]:
    """The digests of a ``Content-Digest`` field (RFC 9530 §2: a structured-field Dictionary of
    Byte Sequences, RFC 8941 §3.2, §3.3.5) by algorithm; algorithms other than :data:`DIGEST_ALGORITHMS`
    are ignored, as §2 lets a recipient do.  :class:`ValueError` for a field that is not such a dictionary."""
    if header is None:
        return {}
    digests: dict[str, bytes] = {}
    for member in header.split(","):
        key, equals, value = member.strip().partition("=")
        value = value.split(";")[0].strip()  # parameters are allowed and carry nothing we use
        if not equals or not key or len(value) < 2 or value[0] != ":" or value[-1] != ":":
            raise ValueError(f"{member.strip()!r} is not algorithm=:base64:")
        try:
            digest = base64.b64decode(value[1:-1], validate=True)
        except binascii.Error as error:
            raise ValueError(f"{key}: not base64 ({error})") from None
        name = key.strip().lower()
        if name in DIGEST_ALGORITHMS:
            if len(digest) != hashlib.new(DIGEST_ALGORITHMS[name]).digest_size:
                raise ValueError(f"{name}: {len(digest)} bytes is not a {name} digest")
            digests[name] = digest
    return digests


class ByteBudget:
    """At most ``limit`` bytes of request bodies in progress at once; a larger request waits its turn.

    A body goes to a file as it arrives, but opening the packet holds its decrypted content in memory
    once (:func:`crypto.envelope.open_envelope`), so the receiver's memory for uploads stays near one
    budget, whatever the number of clients.  A request larger than the whole budget runs alone.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held = 0
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def hold(self, size: int) -> AsyncIterator[None]:
        size = min(size, self.limit)
        async with self._changed:
            await self._changed.wait_for(lambda: self._held + size <= self.limit)
            self._held += size
        try:
            yield
        finally:
            async with self._changed:
                self._held -= size
                self._changed.notify_all()


def create_app(intake: Intake, *, idle_timeout_s: float = 30.0, budget_bytes: int = MAX_PACKET_BYTES,
               uploads_per_client: int = 2) -> Starlette:
    """The API over ``intake`` (see :class:`PacketApi` for the two limits)."""
    api = PacketApi(intake, idle_timeout_s=idle_timeout_s, budget_bytes=budget_bytes,
                    uploads_per_client=uploads_per_client)
    return Starlette(routes=[
        Route("/v1/packets/{packet_id}", api.put_packet, methods=["PUT"]),
        Route("/v1/packets/{packet_id}/receipt", api.get_receipt, methods=["GET"]),
        Route("/health", api.health, methods=["GET"]),
    ])


class PacketApi:
    """The requests' handlers and what they share.  ``budget_bytes`` bounds the bodies in progress
    at once (their declared sizes): an upload beyond it waits before its body is read, so the memory
    of many large uploads is bounded by the budget, not by their number (see :class:`ByteBudget`).
    ``uploads_per_client``: uploads one TLS client certificate may have in progress at once (a
    station uploads one packet at a time; a stolen key opening hundreds would hold the budget)."""

    def __init__(self, intake: Intake, *, idle_timeout_s: float, budget_bytes: int, uploads_per_client: int) -> None:
        self.intake = intake
        self.idle_timeout_s = idle_timeout_s
        self.budget = ByteBudget(budget_bytes)
        self.uploads_per_client = uploads_per_client
        self.in_progress: dict[str, int] = {}
        """Uploads in progress by client certificate (PEM; "" without TLS)."""
        self.spool = intake.store.directory / "incoming"
        self.spool.mkdir(exist_ok=True)

    async def put_packet(self, request: Request) -> Response:
        client = _client_certificate(request)
        if client:
            try:
                self.intake.station_trust().verify(x509.load_pem_x509_certificate(client.encode()),
                                                   at=datetime.now(UTC), usage=Usage.TLS_CLIENT)
            except PacketError as error:  # revoked since the connection opened, or under a stale-CRL policy
                log.warning("upload refused: the client certificate: %s (%s)", error.code, error)
                return _refusal(403, error.code, f"this station's certificate is not accepted: {error}")
        if self.in_progress.get(client, 0) >= self.uploads_per_client:
            return _refusal(429, "too-many-uploads",
                            f"this station already has {self.uploads_per_client} uploads in progress")
        self.in_progress[client] = self.in_progress.get(client, 0) + 1
        try:
            return await self._put_packet(request)
        finally:
            self.in_progress[client] -= 1
            if not self.in_progress[client]:
                del self.in_progress[client]

    async def _put_packet(self, request: Request) -> Response:
        packet_id = request.path_params["packet_id"]
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != SEALED_MEDIA_TYPE:
            return _refusal(415, "unsupported-media-type",
                            f"a sealed packet is sent as {SEALED_MEDIA_TYPE} (RFC 8551), not {media_type or 'untyped'}")
        try:
            expected = content_digests(request.headers.get("content-digest"))
        except ValueError as error:
            return _refusal(400, "bad-content-digest", f"Content-Digest (RFC 9530): {error}")
        declared = request.headers.get("content-length")
        size = int(declared) if declared is not None and declared.isdigit() else MAX_PACKET_BYTES
        if size > MAX_PACKET_BYTES:
            return _refusal(413, "too-large", f"a packet may hold at most {MAX_PACKET_BYTES} bytes")
        async with self.budget.hold(size):
            # The body's own file on the store's disk (never /tmp, often memory): a body costs the receiver
            # a buffer, not its size.  It has no name, so nothing is left after a crash; it holds what the
            # station sealed, and the decrypted content is never written anywhere.
            with tempfile.TemporaryFile(dir=self.spool) as body:
                refusal = await _receive(request, body, expected, self.idle_timeout_s)
                if refusal is not None:
                    return refusal
                try:
                    with _mapped(body) as sealed:
                        accepted = await run_in_threadpool(self.intake.accept, packet_id, sealed)
                except PacketError as error:
                    status = (409 if isinstance(error, PacketConflict) else 400 if isinstance(error, BadPacketId)
                              else 422)
                    log.warning("packet %s refused: %s (%s)", packet_id, error.code, error)
                    return _refusal(status, error.code, str(error))
        return Response(accepted.receipt, status_code=201 if accepted.created else 200,
                        media_type=RECEIPT_MEDIA_TYPE)

    async def get_receipt(self, request: Request) -> Response:
        stored = await run_in_threadpool(self.intake.store.get, request.path_params["packet_id"])
        if stored is None:
            return _refusal(404, "not-found", "no packet with this id is stored")
        return Response(stored.receipt, media_type=RECEIPT_MEDIA_TYPE)

    async def health(self, _request: Request) -> Response:
        return JSONResponse({"status": "ok", "packets": await run_in_threadpool(self.intake.store.count)})


async def _receive(request: Request, body: BinaryIO, expected: dict[str, bytes], idle_timeout_s: float,
                   ) -> Response | None:
    """Write the request body to ``body`` as it arrives, checking its ``Content-Digest``; the refusal
    when the client stops sending, goes away, sends too much or sends other bytes than it declared."""
    packet_id = request.path_params["packet_id"]
    received = 0
    hashers = {name: hashlib.new(DIGEST_ALGORITHMS[name]) for name in expected}
    chunks = request.stream().__aiter__()
    while True:
        try:
            chunk = await asyncio.wait_for(chunks.__anext__(), idle_timeout_s)
        except StopAsyncIteration:
            break
        except ClientDisconnect:
            log.info("packet %s: the client went away after %d bytes", packet_id, received)
            return _refusal(400, "incomplete", "the connection closed before the packet was complete")
        except TimeoutError:
            log.warning("packet %s: no body data for %.0f s after %d bytes; cut off", packet_id,
                        idle_timeout_s, received)
            return _refusal(408, "idle-timeout", f"no data for {idle_timeout_s:.0f} s")
        received += len(chunk)
        if received > MAX_PACKET_BYTES:
            return _refusal(413, "too-large", f"a packet may hold at most {MAX_PACKET_BYTES} bytes")
        body.write(chunk)
        for hasher in hashers.values():
            hasher.update(chunk)
    for name, hasher in hashers.items():
        if not hmac.compare_digest(hasher.digest(), expected[name]):
            return _refusal(400, "content-digest-mismatch",
                            f"the body's {name} differs from its Content-Digest: changed on the way")
    return None


@contextlib.contextmanager
def _mapped(file: BinaryIO) -> Iterator[Buffer]:
    """The body's file mapped read-only: the packet is read where it lies, the kernel keeps or drops
    its pages as memory allows (they are the file's), and nothing copies it whole."""
    file.flush()
    if not file.seek(0, io.SEEK_END):
        yield b""  # an empty file cannot be mapped
        return
    mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        yield mapped
    finally:
        with contextlib.suppress(BufferError):  # a view still held by a refusal's traceback: unmapped when freed
            mapped.close()


def _client_certificate(request: Request) -> str:
    """The TLS client's certificate (PEM) as the server passed it (ASGI TLS extension), or "" without TLS."""
    chain = request.scope.get("extensions", {}).get("tls", {}).get("client_cert_chain") or [""]
    return str(chain[0])


def _refusal(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status)
