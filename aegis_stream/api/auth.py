"""Token auth as pure ASGI middleware: a dashboard token and a separate ingest token.

Tokens are compared in constant time. ``/health`` stays open for probes.
"""

from __future__ import annotations

import hmac

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

OPEN_PATHS = frozenset({"/health"})
INGEST_PATH = "/api/v1/events"


def presented_token(headers: Headers) -> str | None:
    """The token a request carries: ``X-API-Key`` or ``Authorization: Bearer``."""
    key = headers.get("x-api-key")
    if key:
        return key
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def token_matches(presented: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented token with the configured one.

    Header values arrive as latin-1-decoded bytes; comparing those raw bytes
    with the UTF-8 bytes of the setting lets non-ASCII tokens work.
    """
    if presented is None:
        return False
    try:
        raw = presented.encode("latin-1")
    except UnicodeEncodeError:
        raw = presented.encode("utf-8")
    return hmac.compare_digest(raw, expected.encode("utf-8"))


class TokenAuth:
    """Require the dashboard token on every HTTP path but ``/health``; the ingest token on ingest."""

    def __init__(self, app: ASGIApp, *, api_token: str | None, ingest_token: str | None) -> None:
        self.app = app
        self.api_token = api_token
        self.ingest_token = ingest_token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        expected = (self.ingest_token or self.api_token) if scope["path"] == INGEST_PATH else self.api_token
        if expected and not token_matches(presented_token(Headers(scope=scope)), expected):
            response = JSONResponse({"error": "Invalid or missing API key"}, status_code=401)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
