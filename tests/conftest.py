"""Shared fixtures: a real server, per-test key prefixes, event factories.

The real server is ``AEGIS_TEST_REDIS_URL`` if set, else the local Redis at
127.0.0.1:6379 when it answers, else an embedded engine started for the
session. Every test gets its own key prefix and deletes what it made; no
test ever flushes a server it did not start.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import redis
import redis.asyncio as aredis

from aegis_stream.engine import EmbeddedEngine
from aegis_stream.keys import Keys
from aegis_stream.settings import Settings

BASE_TS = "2026-11-30T12:00:00+00:00"


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real Redis/Valkey server for this test session."""
    configured = os.environ.get("AEGIS_TEST_REDIS_URL")
    if configured:
        yield configured
        return
    local = "redis://127.0.0.1:6379/0"
    if _answers(local):
        yield local
        return
    engine = EmbeddedEngine(tmp_path_factory.mktemp("engine"))
    try:
        yield engine.start()
    finally:
        engine.stop()


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix unique to this test; every key starting with it is deleted afterwards."""
    name = f"aegis-test-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    try:
        batch = list(client.scan_iter(match=f"{name}*", count=1000))  # also "<name>-suffix:*"
        for i in range(0, len(batch), 500):
            client.delete(*batch[i : i + 500])
    finally:
        client.close()


@pytest.fixture
def settings(redis_url: str, prefix: str) -> Settings:
    """Settings pointing at the test server with this test's prefix and test-friendly timings."""
    return Settings(redis_url=redis_url, key_prefix=prefix, block_ms=50, lease_ms=1000, claim_idle_ms=0)


@pytest.fixture
def keys(settings: Settings) -> Keys:
    """Key names for ``settings``."""
    return Keys(settings.key_prefix, settings.views_version, settings.partitions)


@pytest.fixture
def sync_redis(redis_url: str) -> Iterator[redis.Redis]:
    """A blocking client on the test server."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
async def async_redis(redis_url: str) -> AsyncIterator[aredis.Redis]:
    """An asyncio client on the test server."""
    client = aredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


def event_dict(**overrides: Any) -> dict[str, Any]:
    """A valid event mapping; override any field."""
    base: dict[str, Any] = {
        "session_id": "s-1",
        "timestamp": BASE_TS,
        "action_type": "read_file",
        "action_target": "docs/readme.md",
        "risk_level": "LOW",
        "approval": "auto",
        "matched_rule": "reads",
        "result_status": "success",
        "agent_id": "agent-a",
    }
    base.update(overrides)
    return base


@pytest.fixture
def make_event() -> Callable[..., dict[str, Any]]:
    """Factory fixture for valid event mappings."""
    return event_dict


# Changes to a valid wire head (short keys, see wire.py) that validation refuses or
# normalises: a tag must not make any of them count differently.
HEAD_CHANGES: list[dict[str, Any]] = [
    {"v": 2},
    {"t": "0"},
    {"t": -5},
    {"t": 2**62},
    {"a": "never"},
    {"r": "low"},  # the full path upper-cases it; the head path does not guess
    {"at": 7},
    {"at": ""},
    {"s": 12345},
    {"ag": ["a", "b"]},
    {"tg": {"x": 1}},
    {"cd": "deep"},
    {"cd": -1},
    {"id": 99},
    {"id": ""},
    {"rs": 5},
    {"rs": ""},
    {"zz": 1},
    {"p": [1, 2]},
    {"p": "text"},
]
