"""The receiver's HTTP API (ASGI, Starlette).

``PUT /v1/packets/{id}``: body = the sealed packet.  ``201`` (stored now) or ``200`` (already stored)
with the receipt (DER CMS SignedData) as body; ``422``/``409``/``400``/``413`` with
``{"error": code, "detail": text}`` when refused — the codes are those of :mod:`crypto.errors`
and :mod:`receiver.intake`.  ``GET /v1/packets/{id}/receipt``: the receipt again, or ``404``.
``GET /health``: ``{"status": "ok", "packets": n}``.
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from crypto.errors import PacketError
from receiver.intake import MAX_PACKET_BYTES, BadPacketId, Intake, PacketConflict

log = logging.getLogger(__name__)

RECEIPT_MEDIA_TYPE = "application/pkcs7-mime; smime-type=signed-data"


def create_app(intake: Intake) -> Starlette:
    async def put_packet(request: Request) -> Response:
        packet_id = request.path_params["packet_id"]
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_PACKET_BYTES:
            return _refusal(413, "too-large", f"a packet may hold at most {MAX_PACKET_BYTES} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_PACKET_BYTES:
                return _refusal(413, "too-large", f"a packet may hold at most {MAX_PACKET_BYTES} bytes")
        try:
            accepted = await run_in_threadpool(intake.accept, packet_id, bytes(body))
        except PacketError as error:
            status = 409 if isinstance(error, PacketConflict) else 400 if isinstance(error, BadPacketId) else 422
            log.warning("packet %s refused: %s (%s)", packet_id, error.code, error)
            return _refusal(status, error.code, str(error))
        return Response(accepted.receipt, status_code=201 if accepted.created else 200,
                        media_type=RECEIPT_MEDIA_TYPE)

    async def get_receipt(request: Request) -> Response:
        stored = await run_in_threadpool(intake.store.get, request.path_params["packet_id"])
        if stored is None:
            return _refusal(404, "not-found", "no packet with this id is stored")
        return Response(stored.receipt, media_type=RECEIPT_MEDIA_TYPE)

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok", "packets": await run_in_threadpool(intake.store.count)})

    return Starlette(routes=[
        Route("/v1/packets/{packet_id}", put_packet, methods=["PUT"]),
        Route("/v1/packets/{packet_id}/receipt", get_receipt, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
    ])


def _refusal(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status)
