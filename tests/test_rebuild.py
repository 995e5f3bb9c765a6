"""Rebuild: replaying the retained log gives the live views key by key, then readers switch."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import redis
import redis.asyncio as aredis

from aegis_stream.keys import Keys
from aegis_stream.rebuild import RebuildRefused, RebuildResult, rebuild
from aegis_stream.settings import Settings
from aegis_stream.views import ViewReader
from aegis_stream.worker import Worker
from tests.worker.test_projector import generated, produce


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def dump(r: redis.Redis, keys: Keys) -> dict[str, Any]:
    """Every view key of one version (the checkpoint's bookkeeping aside), by name without the version."""
    out: dict[str, Any] = {}
    marker = f":v{keys.version}:"
    for name in r.scan_iter(match=f"{keys.prefix}:v{keys.version}:*", count=1000):
        text = name.decode()
        if text.endswith(":checkpoint"):
            continue
        kind = r.type(name).decode()
        value: Any
        if kind == "hash":
            value = r.hgetall(name)
        elif kind == "list":
            value = r.lrange(name, 0, -1)
        else:
            value = r.zrange(name, 0, -1, withscores=True)
        out[text.replace(marker, ":v*:")] = value
    return out


async def test_rebuilt_views_equal_the_live_ones_and_readers_switch(
    settings: Settings, keys: Keys, async_redis: aredis.Redis, sync_redis: redis.Redis
) -> None:
    events = generated(3000)
    retried = [{**e, "event_id": f"e-{i}"} for i, e in enumerate(events[:500])]
    produce(settings, keys, events[500:] + retried + retried)  # retries, counted once
    sync_redis.xadd(keys.stream(0), {b"e": b"\xc1"})  # a dead letter
    future = {**events[0], "timestamp": "2099-01-01T00:00:00Z"}
    produce(settings, keys, [future])  # dead-lettered as too far ahead, by the live projector and the rebuild
    await Worker(async_redis, settings, clock=wall_ms).run(burst=True)
    live = dump(sync_redis, keys)
    assert live  # the live views exist

    letters = sync_redis.xlen(keys.dead(0))
    assert letters == 2
    result = await rebuild(async_redis, settings, clock_ms=wall_ms)
    assert (result.previous_version, result.version, result.entries) == (1, 2, 3502)
    assert sync_redis.xlen(keys.dead(0)) == letters  # the rebuild does not append them again
    live_cp = sync_redis.hgetall(keys.checkpoint(0))
    rebuilt_cp = sync_redis.hgetall(keys.at_version(2).checkpoint(0))
    for counter in (b"events", b"dead", b"duplicates", b"id"):
        assert rebuilt_cp[counter] == live_cp[counter], counter
    assert result.events == 3000
    assert dump(sync_redis, keys.at_version(2)) == live  # key by key

    # readers follow the pointer
    reader = ViewReader(async_redis, keys)
    assert (await reader.active_keys()).version == 2
    assert (await reader.aggregates()).total == 3000

    # a projector that started before the rebuild moves to the new version and the old one stops changing
    produce(settings, keys, generated(7))
    await Worker(async_redis, settings, clock=wall_ms).run(burst=True)
    assert sync_redis.hget(keys.at_version(2).totals(0), "total") == b"3007"
    assert sync_redis.hget(keys.totals(0), "total") == b"3000"
    assert (await reader.aggregates()).total == 3007


async def test_rebuild_into_the_current_version_is_refused(
    settings: Settings, async_redis: aredis.Redis
) -> None:
    with pytest.raises(RebuildRefused, match="views version 1 is the one in use"):
        await rebuild(async_redis, settings, clock_ms=wall_ms, target=1)
    for bad in (0, -1, 10**20):
        with pytest.raises(RebuildRefused, match="views version must be between 1 and 1000000"):
            await rebuild(async_redis, settings, clock_ms=wall_ms, target=bad)
    assert await async_redis.get(Keys(settings.key_prefix).rebuild_lock()) is None  # released


async def test_two_rebuilds_at_once_one_is_refused_and_the_views_stay_exact(
    settings: Settings, keys: Keys, async_redis: aredis.Redis, sync_redis: redis.Redis
) -> None:
    settings = settings.with_overrides(batch_size=50)  # many batches: the two overlap
    events = generated(2000)
    produce(settings, keys, events)
    await Worker(async_redis, settings, clock=wall_ms).run(burst=True)
    live = dump(sync_redis, keys)
    outcomes = await asyncio.gather(
        rebuild(async_redis, settings, clock_ms=wall_ms),
        rebuild(async_redis, settings, clock_ms=wall_ms),
        return_exceptions=True,
    )
    done = [o for o in outcomes if isinstance(o, RebuildResult)]
    refused = [o for o in outcomes if isinstance(o, RebuildRefused)]
    assert len(done) == 1 and len(refused) == 1, outcomes
    assert "another rebuild is running" in str(refused[0])
    assert done[0].version == 2
    assert dump(sync_redis, keys.at_version(2)) == live
    assert await ViewReader(async_redis, keys).active_keys() == keys.at_version(2)
