"""Balancing: partitions spread over the live workers, and come back when one stops."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
import redis.asyncio as aredis

from aegis_stream.keys import Keys
from aegis_stream.settings import Settings
from aegis_stream.worker import Worker
from aegis_stream.worker.balance import fair_share


@pytest.mark.parametrize(
    ("partitions", "live", "share"),
    [(1, 1, 1), (4, 1, 4), (4, 2, 2), (3, 2, 2), (5, 2, 3), (4, 3, 2), (2, 5, 1), (4, 0, 4)],
)
def test_fair_share(partitions: int, live: int, share: int) -> None:
    assert fair_share(partitions, live) == share


async def holders(r: aredis.Redis, keys: Keys) -> list[str | None]:
    """The consumer holding each partition's lease (tokens are ``consumer:random``)."""
    out: list[str | None] = []
    for p in keys.all_partitions():
        token = await r.get(keys.lease(p))
        out.append(token.decode().rsplit(":", 1)[0] if token else None)
    return out


async def wait_for(condition: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_two_workers_split_four_partitions_and_one_takes_all_back(
    settings: Settings, async_redis: aredis.Redis
) -> None:
    settings = settings.with_overrides(partitions=4, lease_ms=400)
    keys = Keys(settings.key_prefix, 1, 4)
    first = Worker(async_redis, settings.with_overrides(consumer="w-one"))
    one = asyncio.create_task(first.run())
    await wait_for(lambda: _all_held_by(async_redis, keys, {"w-one"}))
    second = Worker(async_redis, settings.with_overrides(consumer="w-two"))
    two = asyncio.create_task(second.run())

    async def split() -> bool:
        held = await holders(async_redis, keys)
        return held.count("w-one") == 2 and held.count("w-two") == 2

    await wait_for(split)
    first.stop()
    await one
    await wait_for(lambda: _all_held_by(async_redis, keys, {"w-two"}))
    second.stop()
    await two
    assert await holders(async_redis, keys) == [None] * 4  # a clean stop gives every lease up


async def _all_held_by(r: aredis.Redis, keys: Keys, names: set[str]) -> bool:
    return set(await holders(r, keys)) == names
