"""The web dashboard: its page at ``/`` and ``/dashboard``, its files under ``/static/``.

Everything is package data (``aegis_stream/web/``): plain ES modules, CSS and
an SVG icon, no build step and no CDN, so the page works on an offline
network. The shell is open without a token and carries no data; the page
asks for the token when the API answers 401 and sends it on every call.

Every response here carries a strict Content-Security-Policy (only this
origin's scripts, styles and connections; no inline script, no framing, DOM
sinks locked by Trusted Types) and ``X-Content-Type-Options: nosniff``.
Files are revalidated on every load (``no-cache`` with an ETag, so an
unchanged file costs a 304): an upgraded package is never shadowed by a
stale cached module.
"""

from __future__ import annotations

import functools
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PACKAGE = "aegis_stream"
FOLDER = "web"
CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
CACHE_CONTROL = "no-cache"


@functools.cache
def index_html() -> bytes:
    """The page's HTML, read once from the package."""
    return (resources.files(PACKAGE) / FOLDER / "index.html").read_bytes()


async def index(request: Request) -> Response:
    """The dashboard page (the same page for ``/`` and ``/dashboard``; it routes by URL hash)."""
    headers = {**SECURITY_HEADERS, "Cache-Control": CACHE_CONTROL}
    return Response(index_html(), media_type="text/html", headers=headers)


class WithHeaders:
    """Wrap an ASGI app, adding the security headers and ``Cache-Control`` to its responses."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        added = {**SECURITY_HEADERS, "Cache-Control": CACHE_CONTROL}
        self._raw = [(k.lower().encode(), v.encode()) for k, v in added.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve ``scope`` through the wrapped app, with the headers added to its start message."""

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"cache-control"]
                message = {**message, "headers": [*headers, *self._raw]}
            await send(message)

        await self.app(scope, receive, add_headers)


def routes() -> list[BaseRoute]:
    """The page's two routes and the static files' mount."""
    files = StaticFiles(packages=[(PACKAGE, FOLDER)])
    return [
        Route("/", index),
        Route("/dashboard", index),
        Mount("/static", app=WithHeaders(files), name="static"),
    ]
