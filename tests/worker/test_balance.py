"""Balancing: partitions spread over the live workers, and come back when one stops."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

import pytest
import redis.asyncio as aredis

from aegis_stream.keys import Keys
from aegis_stream.settings import Settings
from aegis_stream.worker import Worker
from aegis_stream.worker.balance import FairShare, fair_share, should_give_up


@pytest.mark.parametrize(
    ("partitions", "live", "share"),
    [(1, 1, 1), (4, 1, 4), (4, 2, 2), (3, 2, 2), (5, 2, 3), (4, 3, 2), (2, 5, 1), (4, 0, 4)],
)
def test_fair_share(partitions: int, live: int, share: int) -> None:
    assert fair_share(partitions, live) == share


@pytest.mark.parametrize(
    ("held", "partitions", "others", "give_up"),
    [
        (4, 4, [], False),  # alone: everything is its share
        (4, 4, [0], True),  # a new worker with nothing
        (3, 4, [1], True),
        (2, 4, [2], False),  # balanced
        (4, 4, [2], False),  # a killed worker's fresh record: it holds its share, so nothing is given
        (3, 3, [0], True),
        (2, 3, [1], False),  # 2 is the share of 3 over 2
        (2, 4, [0, 2], False),  # at its share already
        (1, 1, [0], False),
    ],
)
def test_should_give_up(held: int, partitions: int, others: list[int], give_up: bool) -> None:
    assert should_give_up(held, partitions, others) is give_up


async def test_only_live_workers_under_their_share_are_given_leases(
    async_redis: aredis.Redis, settings: Settings
) -> None:
    keys = Keys(settings.key_prefix, 1, 4)
    now = 1_800_000_000_000

    async def other(heartbeat_ms: int, active: int) -> None:
        parts = {str(p): {"active": p < active} for p in range(4)}
        record = {"consumer": "other", "heartbeat_ms": heartbeat_ms, "partitions": parts}
        await async_redis.set(keys.worker_health("other"), json.dumps(record))
        await async_redis.zadd(keys.worker_index(), {"other": heartbeat_ms + 60_000})

    def share() -> FairShare:  # a new one each time: it caches what it read
        return FairShare(async_redis, keys, consumer="me", lease_ms=10_000, clock=lambda: now)

    assert not await share().over(4)  # nobody else
    await other(now - 1_000, active=0)
    assert await share().over(4)
    await other(now - 1_000, active=2)  # e.g. just killed: its record still says it holds two
    assert not await share().over(4)
    await other(now - 20_000, active=0)  # heartbeat older than a lease period: not alive
    assert not await share().over(4)


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
