"""Token auth as pure ASGI middleware: a dashboard token and a separate ingest token.

Tokens are compared in constant time. ``/health`` stays open for probes, and
so does the web dashboard's shell (its page and static files carry no data;
the page asks for the token and sends it on every API call). The live stream
also takes the token as a ``token`` query parameter, because a browser's
``EventSource`` cannot send headers; that parameter is removed from the
request before anything (the access log included) sees it.
"""

from __future__ import annotations

import hmac
from urllib.parse import unquote_to_bytes

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

OPEN_PATHS = frozenset({"/health", "/", "/dashboard"})
OPEN_PREFIXES = ("/static/",)
INGEST_PATH = "/api/v1/events"
STREAM_PATH = "/api/v1/stream"
QUERY_TOKEN = b"token"


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


def take_query_token(scope: Scope) -> str | None:
    """Remove every ``token`` parameter from the scope's query string; return the last one's value.

    The other parameters are kept byte for byte. The value is returned as
    latin-1-decoded bytes, the form header values arrive in, so
    :func:`token_matches` treats both alike.
    """
    query: bytes = scope.get("query_string", b"")
    kept: list[bytes] = []
    found: str | None = None
    for part in query.split(b"&"):
        name, _, value = part.partition(b"=")
        if unquote_to_bytes(name.replace(b"+", b" ")) == QUERY_TOKEN:
            found = unquote_to_bytes(value.replace(b"+", b" ")).decode("latin-1")
        else:
            kept.append(part)
    if found is not None:
        scope["query_string"] = b"&".join(kept)
    return found


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
    """Require the dashboard token on every HTTP path but the open ones; the ingest token on ingest."""

    def __init__(self, app: ASGIApp, *, api_token: str | None, ingest_token: str | None) -> None:
        self.app = app
        self.api_token = api_token
        self.ingest_token = ingest_token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        if scope["type"] != "http" or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        presented = presented_token(Headers(scope=scope))
        if path == STREAM_PATH:  # always taken out of the query string, even when a header is given
            in_query = take_query_token(scope)
            presented = presented or in_query
        expected = (self.ingest_token or self.api_token) if path == INGEST_PATH else self.api_token
        if expected and not token_matches(presented, expected):
            response = JSONResponse({"error": "Invalid or missing API key"}, status_code=401)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
