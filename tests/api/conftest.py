"""API fixtures: load events through the real pipeline, then serve them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import redis.asyncio as aredis
from starlette.testclient import TestClient

from aegis_stream.api import create_app
from aegis_stream.keys import Keys
from aegis_stream.policy import Policy
from aegis_stream.producer import Producer
from aegis_stream.settings import Settings
from aegis_stream.worker import Worker


def load(settings: Settings, events: list[dict[str, Any]], now_ms: int | None = None) -> None:
    """Produce ``events`` and drain them with a burst worker (whose clock is ``now_ms``, if given)."""
    assert settings.redis_url
    keys = Keys(settings.key_prefix, settings.views_version, settings.partitions)
    client = redis.Redis.from_url(settings.redis_url)
    try:
        for i in range(0, len(events), 1000):
            Producer(client, keys).emit_many(events[i : i + 1000])
    finally:
        client.close()

    async def drain() -> None:
        assert settings.redis_url
        r = aredis.Redis.from_url(settings.redis_url)
        try:
            clock = {"clock": lambda: now_ms} if now_ms is not None else {}
            await Worker(r, settings, **clock).run(burst=True)
        finally:
            await r.aclose()

    asyncio.run(drain())


@pytest.fixture
def serve(settings: Settings) -> Iterator[Callable[..., TestClient]]:
    """Factory: ``serve(events, now_ms=..., policy=..., **setting_overrides)`` -> a started TestClient."""
    clients: list[TestClient] = []

    def make(
        events: list[dict[str, Any]] | None = None,
        *,
        now_ms: int | None = None,
        policy: Policy | None = None,
        **overrides: Any,
    ) -> TestClient:
        configured = settings.with_overrides(**overrides) if overrides else settings
        if events:
            load(configured, events, now_ms)
        clock = (lambda: now_ms * 1000) if now_ms is not None else None
        app = create_app(configured, policy=policy, **({"clock_us": clock} if clock else {}))
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)
