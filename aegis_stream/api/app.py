"""``create_app(settings)``: the ASGI application, with the Redis client opened in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import redis
from redis.exceptions import RedisClusterException
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aegis_stream.api import anomalies, audit, dashboard, ingest, policy_routes, reports, sse, web
from aegis_stream.api.auth import TokenAuth, presented_token, token_matches
from aegis_stream.api.metrics import ROUTE as METRICS_ROUTE
from aegis_stream.api.openapi import ROUTE as OPENAPI_ROUTE
from aegis_stream.api.policy_watch import PolicyWatcher
from aegis_stream.api.requestid import SERVER_ERROR, RequestId
from aegis_stream.api.state import AppState, app_state
from aegis_stream.bundled import BUNDLED_POLICIES, resolve_policy
from aegis_stream.clock import wall_clock_us
from aegis_stream.errors import ConfigError, StoreError
from aegis_stream.keys import Keys
from aegis_stream.layout import check_partitions
from aegis_stream.policy import Policy
from aegis_stream.settings import Settings
from aegis_stream.store import TRANSIENT_ERRORS, async_client
from aegis_stream.views import ViewReader

log = logging.getLogger(__name__)


def load_configured_policy(settings: Settings) -> Policy:
    """The policy file (or bundled policy name) the settings name, or the empty policy."""
    return resolve_policy(settings.policy_path) or Policy()


async def health(request: Request) -> JSONResponse:
    """Liveness probe: open even when a token is configured, and says whether one is.

    With a token configured, it also says whether the request carried it
    (``authorized``). The web page asks here first, so that signing in, or a
    wrong token, never costs a refused call (which the browser reports as an
    error).
    """
    expected = app_state(request).settings.api_token
    if expected is None:
        return JSONResponse({"status": "ok", "auth_required": False})
    authorized = token_matches(presented_token(request.headers), expected)
    return JSONResponse({"status": "ok", "auth_required": True, "authorized": authorized})


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _store_error(request: Request, exc: Exception) -> Response:
    log.warning("store error on %s: %s", request.url.path, exc)
    message = str(exc) if isinstance(exc, StoreError) else "Store unavailable"
    return JSONResponse({"error": message}, status_code=503)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s", request.url.path, exc_info=exc)
    return JSONResponse(SERVER_ERROR, status_code=500)


def create_app(
    settings: Settings,
    *,
    policy: Policy | None = None,
    clock_us: Callable[[], int] = wall_clock_us,
) -> Starlette:
    """Build the API for ``settings`` (whose ``redis_url`` must be resolved already).

    ``clock_us`` is "now" in microseconds since the epoch (injected by tests).
    """
    if not settings.redis_url:
        raise ConfigError("create_app needs settings.redis_url (start the engine first)")
    loaded = policy if policy is not None else load_configured_policy(settings)
    # An explicit policy object is fixed; a policy file is followed (D7). Bundled ones never change.
    watched = settings.policy_path if policy is None and settings.policy_poll_ms else None
    if watched in BUNDLED_POLICIES:
        watched = None
    keys = Keys(settings.key_prefix, settings.views_version, settings.partitions)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        assert settings.redis_url is not None
        client = async_client(settings.redis_url, block_ms=settings.block_ms, cluster=settings.cluster)
        state = AppState(
            settings=settings,
            keys=keys,
            redis=client,
            reader=ViewReader(client, keys),
            policy=loaded,
            clock_us=clock_us,
        )
        app.state.aegis = state
        with contextlib.suppress(*TRANSIENT_ERRORS):  # a store down at start: the API answers 503
            await check_partitions(client, keys)
        watcher = None
        if watched:
            state.policy_watcher = PolicyWatcher(state, watched)
            watcher = asyncio.create_task(state.policy_watcher.run(settings.policy_poll_ms / 1000))
        try:
            yield
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            await sse.stop(state)  # the live stream's reader, if a client ever started it
            await client.aclose()

    routes = [
        Route("/health", health),
        *dashboard.ROUTES,
        *audit.ROUTES,
        *reports.ROUTES,
        *policy_routes.ROUTES,
        *anomalies.ROUTES,
        *ingest.ROUTES,
        *sse.ROUTES,
        METRICS_ROUTE,
        OPENAPI_ROUTE,
        *web.routes(),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(RequestId),  # outermost: 401s and 500s carry the request id too
            Middleware(TokenAuth, api_token=settings.api_token, ingest_token=settings.ingest_token),
        ],
        exception_handlers={
            HTTPException: _http_error,
            StoreError: _store_error,
            redis.RedisError: _store_error,
            RedisClusterException: _store_error,  # a cluster with no reachable node
            ConnectionError: _store_error,
            Exception: _server_error,
        },
    )
