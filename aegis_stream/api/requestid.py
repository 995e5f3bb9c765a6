"""Request ids, as pure ASGI middleware: one id per request, on the response and on its log records.

An incoming ``X-Request-ID`` is kept if it is sane (1 to 128 characters of
``[A-Za-z0-9._:-]``), else a new one (uuid4 hex) is made. Every response
carries it, 401s and 500s included: the middleware is the outermost one, and
answers an unhandled error itself, before Starlette's error middleware would
(which sits outside every user middleware). While the request runs, the id
is in a context variable that :class:`RequestIdFilter` copies onto log
records. One access-log line per request is logged here (uvicorn's own access
log is off): method, path (never the query string, which may carry a token),
status, duration and id.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from collections.abc import Callable

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Request-ID"
MAX_LENGTH = 128
MAX_LOGGED_PATH = 256
_SANE = re.compile(rf"[A-Za-z0-9._:-]{{1,{MAX_LENGTH}}}")

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("aegis_request_id", default=None)
access_log = logging.getLogger("aegis_stream.access")


def sane_request_id(value: str | None) -> str | None:
    """``value`` if it may be used as a request id as it is, else None."""
    if value is not None and _SANE.fullmatch(value):
        return value
    return None


def new_request_id() -> str:
    """A fresh request id: 32 hex digits."""
    return uuid.uuid4().hex


def loggable_path(path: str) -> str:
    """A path fit for a log line: control characters escaped, bounded length."""
    shown = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in path[:MAX_LOGGED_PATH])
    return shown + ("..." if len(path) > MAX_LOGGED_PATH else "")


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to records logged while a request is handled (install it on handlers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Copy the current request id onto ``record``, unless it carries one already."""
        request_id = REQUEST_ID.get()
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        return True


SERVER_ERROR = {"error": "Internal server error"}  # the body of every 500 (app.py answers it too)


class RequestId:
    """Give every HTTP request an id, echo it in ``X-Request-ID``, and log one access line."""

    def __init__(self, app: ASGIApp, *, timer: Callable[[], float] = time.perf_counter) -> None:
        self.app = app
        self.timer = timer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = sane_request_id(Headers(scope=scope).get(HEADER)) or new_request_id()
        token = REQUEST_ID.set(request_id)
        started = self.timer()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if not status:  # nothing sent yet: answer here, so the 500 carries the id too
                status = 500
                response = JSONResponse(SERVER_ERROR, status_code=500)
                try:
                    await response(scope, receive, send_with_id)
                except Exception:  # the client is gone: the original error is the one to report
                    status = 0
            self._log(scope, status, started, request_id)
            # The id stays set: Starlette's error handler and the server log this error after us,
            # in this request's own context.
            raise
        self._log(scope, status, started, request_id)
        REQUEST_ID.reset(token)

    def _log(self, scope: Scope, status: int, started: float, request_id: str) -> None:
        duration_ms = round((self.timer() - started) * 1000, 1)
        method, path = scope["method"], loggable_path(scope["path"])
        client = scope.get("client")
        access_log.info(
            "%s %s %d %.1fms",
            method,
            path,
            status,
            duration_ms,
            extra={
                "request_id": request_id,
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": duration_ms,
                "client": client[0] if client else None,
            },
        )
