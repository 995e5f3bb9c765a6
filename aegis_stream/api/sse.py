"""``GET /api/v1/stream``: the live dashboard's Server-Sent Events (``text/event-stream``).

The stream opens with a ``retry:`` hint and a ``ready`` event, sent once the
shared reader is positioned, so every event appended after ``ready`` is sent.
Then come ``events`` (new audit events of one partition, as audit-log rows
without their ``id``, params redacted) and ``views`` (the projector applied
something, or a rebuild switched the views), and a comment line every
``HEARTBEAT_S`` on an idle stream. A client more than the hub's queue behind
is dropped: its stream ends (or, stuck in a send, is cut off) and the
browser reconnects by itself.

Auth is the dashboard token, as a header or, since a browser's
``EventSource`` cannot send headers, a ``token`` query parameter (see
auth.py). A server calls :func:`end_streams` as it starts shutting down, so
open streams never hold its shutdown up.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from aegis_stream.api.live import LiveHub, Message, Subscriber
from aegis_stream.api.state import AppState, app_state

log = logging.getLogger(__name__)

PATH = "/api/v1/stream"
HEARTBEAT_S = 15.0
RETRY_MS = 3000
DROP_GRACE_S = 1.0  # a dropped client still stuck in a send is cut off after this
HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no", "X-Content-Type-Options": "nosniff"}
MEDIA_TYPE = "text/event-stream"


def hub_for(state: AppState) -> LiveHub:
    """The app's hub, made on first use."""
    if state.live is None:
        settings = state.settings
        state.live = LiveHub(
            state.redis,
            state.keys,
            block_ms=settings.block_ms,
            max_bytes=settings.max_event_bytes,
            audit_log=settings.audit_log,
        )
    return state.live


def end_streams(app: Any) -> None:
    """End every live stream of ``app`` and refuse new ones; for a server that starts shutting down."""
    state = getattr(getattr(app, "state", None), "aegis", None)
    if isinstance(state, AppState):
        hub_for(state).end_streams()


async def stop(state: AppState) -> None:
    """Stop the app's hub, if it was ever made (from the lifespan, before the client closes)."""
    if state.live is not None:
        await state.live.close()


def _chunk(data: bytes) -> dict[str, Any]:
    return {"type": "http.response.body", "body": data, "more_body": True}


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class EventStream(Response):
    """The streaming response of one subscriber; it unsubscribes however it ends."""

    media_type = MEDIA_TYPE

    def __init__(self, hub: LiveHub, sub: Subscriber, ready: dict[str, Any]) -> None:
        self.status_code = 200
        self.background = None
        self.init_headers(HEADERS)  # no body, so no content-length
        self._hub = hub
        self._sub = sub
        self._ready = ready

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Stream until the hub ends it, the client goes away, or a dropped client is cut off."""
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            tasks = [
                asyncio.create_task(self._pump(send)),
                asyncio.create_task(_disconnected(receive)),
                asyncio.create_task(self._cut_off()),
            ]
            try:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                done = await asyncio.gather(*tasks, return_exceptions=True)
                failed = done[0]
                if isinstance(failed, Exception) and not isinstance(failed, OSError):
                    log.error("live stream failed", exc_info=failed)
        finally:
            await self._hub.unsubscribe(self._sub)

    async def _pump(self, send: Send) -> None:
        hello = f"retry: {RETRY_MS}\n\n".encode() + Message("ready", self._ready).encode()
        await send(_chunk(hello))
        while True:
            try:
                message = await asyncio.wait_for(self._sub.queue.get(), HEARTBEAT_S)
            except TimeoutError:
                await send(_chunk(b": ping\n\n"))
                continue
            if message is None:
                break
            await send(_chunk(message.encode()))
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _cut_off(self) -> None:
        await self._sub.dropped.wait()
        await asyncio.sleep(DROP_GRACE_S)


async def stream(request: Request) -> Response:
    """Subscribe to the live stream (``HEAD`` answers the headers only)."""
    if request.method == "HEAD":
        return Response(headers=HEADERS, media_type=MEDIA_TYPE)
    state = app_state(request)
    hub = hub_for(state)
    if hub.closed:
        return JSONResponse({"error": "Shutting down"}, status_code=503)
    sub = await hub.subscribe()
    ready = {"partitions": state.keys.partitions, "heartbeat_s": HEARTBEAT_S}
    return EventStream(hub, sub, ready)


ROUTES = [Route(PATH, stream)]
