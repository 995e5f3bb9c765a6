"""``POST /api/v1/events``: agents append events over HTTP (JSON array or msgpack body).

Each event is validated on its own; the valid ones are appended in one
pipelined round trip, and the answer says, per event, its stream id or why
it was refused. Events without a decision are classified by the policy in
force. The body is read up to ``AEGIS_MAX_INGEST_BYTES`` and refused past it.
"""

from __future__ import annotations

import json
from typing import Any

import msgpack
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aegis_stream.api.state import app_state
from aegis_stream.producer import AsyncProducer

JSON_TYPES = ("application/json", "")
MSGPACK_TYPES = ("application/msgpack", "application/x-msgpack", "application/vnd.msgpack")


class BodyError(Exception):
    """The request body cannot be taken: ``status`` and a message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_body(request: Request, limit: int) -> bytes:
    """The body, read no further than ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyError(413, f"request body exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyError(413, f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_body(body: bytes, content_type: str) -> list[Any]:
    """The events of a JSON or msgpack body: an array of objects (a single object is one event)."""
    kind = content_type.split(";", maxsplit=1)[0].strip().lower()
    try:
        if kind in MSGPACK_TYPES:
            # invalid UTF-8 stays in the strings (escaped), so only that event is refused
            data = msgpack.unpackb(body, raw=False, strict_map_key=False, unicode_errors="surrogateescape")
        elif kind in JSON_TYPES:
            data = json.loads(body)
        else:
            raise BodyError(415, "Content-Type must be application/json or application/msgpack")
    except BodyError:
        raise
    except (ValueError, RecursionError, msgpack.UnpackException) as e:
        name = "msgpack" if kind in MSGPACK_TYPES else "JSON"
        raise BodyError(400, f"request body is not valid {name}: {(str(e) or type(e).__name__)[:200]}") from e
    if isinstance(data, dict):
        return [data]
    if not isinstance(data, list):
        raise BodyError(400, f"request body must be an array of events, got {type(data).__name__}")
    return data


async def ingest(request: Request) -> JSONResponse:
    """Validate and append events; 200 if all were appended, 207 if some, 400 if none."""
    state = app_state(request)
    try:
        body = await read_body(request, state.settings.max_ingest_bytes)
        events = parse_body(body, request.headers.get("content-type", ""))
    except BodyError as e:
        return JSONResponse({"error": e.message}, status_code=e.status)
    producer = AsyncProducer(
        state.redis,
        state.keys,
        policy=state.policy,
        max_bytes=state.settings.max_event_bytes,
        clock=state.clock_us,
        max_future_skew_ms=state.settings.max_future_skew_ms,
        signer=state.signer,
    )
    outcomes = await producer.emit_each(events)
    results: list[dict[str, Any]] = []
    for i, outcome in enumerate(outcomes):
        if isinstance(outcome, str):
            results.append({"index": i, "status": "accepted", "id": outcome})
        else:
            results.append({"index": i, "status": "rejected", "error": outcome.reason})
    accepted = sum(1 for r in results if r["status"] == "accepted")
    rejected = len(results) - accepted
    answer: dict[str, Any] = {"accepted": accepted, "rejected": rejected, "results": results}
    if rejected and not accepted:
        answer = {"error": f"all {rejected} events were rejected", **answer}
        return JSONResponse(answer, status_code=400)
    return JSONResponse(answer, status_code=207 if rejected else 200)


ROUTES = [Route("/api/v1/events", ingest, methods=["POST"])]
