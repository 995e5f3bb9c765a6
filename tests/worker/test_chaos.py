"""Kill -9 workers at random points while two compete for each partition: views stay exact."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest
import redis.asyncio as aredis

from aegis_stream.keys import GROUP, Keys
from aegis_stream.settings import Settings
from aegis_stream.views import ViewReader
from aegis_stream.worker import Worker
from tests.views.test_profiles import as_dict, expected_profiles
from tests.worker.test_projector import expected_views, generated, produce


def spawn(settings: Settings) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "REDIS_URL": settings.redis_url or "",
        "AEGIS_KEY_PREFIX": settings.key_prefix,
        "AEGIS_PARTITIONS": str(settings.partitions),
        "AEGIS_BATCH_SIZE": "20",  # many small batches: kills land mid-run
        "AEGIS_LEASE_MS": "300",
        # the default AEGIS_MAX_DELIVERIES (5): repeated kills and lease changes must not look like poison
        "AEGIS_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "aegis_stream", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def by_agent(profile: dict[str, Any]) -> str:
    return str(profile["agent"])


async def applied(r: aredis.Redis, keys: Keys) -> int:
    total = 0
    for p in keys.all_partitions():
        total += int(await r.hget(keys.checkpoint(p), "events") or 0)
    return total


@pytest.mark.parametrize(
    ("partitions", "rounds", "pause_s"),
    [(2, 20, (0.05, 0.4)), (4, 40, (0.02, 0.15))],
    ids=["20-kills", "40-quick-kills-4-partitions"],
)
async def test_kill_9s_with_two_workers_per_partition(
    settings: Settings, async_redis: aredis.Redis, partitions: int, rounds: int, pause_s: tuple[float, float]
) -> None:
    """Every view exact, nothing pending, and no healthy entry dead-lettered as poison."""
    settings = settings.with_overrides(partitions=partitions)
    keys = Keys(settings.key_prefix, 1, partitions)
    events = generated(20_000)
    for i in range(0, len(events), 2000):
        produce(settings, keys, events[i : i + 2000])
    assert sum([await async_redis.xlen(keys.stream(p)) for p in range(partitions)]) == 20_000
    rng = random.Random(20261203)
    workers = [spawn(settings), spawn(settings)]
    kills = 0
    progress_at_kills = []
    try:
        while kills < rounds:
            await asyncio.sleep(rng.uniform(*pause_s))  # a random point of the run, not a sync point
            progress_at_kills.append(await applied(async_redis, keys))
            victim = workers.pop(rng.randrange(len(workers)))
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            kills += 1
            workers.append(spawn(settings))
    finally:
        for proc in workers:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    # kills hit workers in the middle of the run (not only after the work was done)
    assert sum(1 for n in progress_at_kills if 0 < n < 20_000) >= 3, progress_at_kills
    # a fresh worker takes over once the dead ones' leases lapse, and finishes the job
    await asyncio.wait_for(Worker(async_redis, settings).run(burst=True), timeout=60)
    assert await applied(async_redis, keys) == 20_000
    merged = await ViewReader(async_redis, keys).aggregates()
    expected = expected_views(events)
    assert merged.total == 20_000
    for dim in ("risk", "approval", "type", "agent", "status"):
        assert Counter(dict(merged.dims[dim])) == expected[dim], dim
    profiles = await ViewReader(async_redis, keys).profiles()
    assert sorted(map(as_dict, profiles), key=by_agent) == sorted(expected_profiles(events), key=by_agent)
    for p in range(partitions):
        assert (await async_redis.xpending(keys.stream(p), GROUP))["pending"] == 0
        assert await async_redis.xlen(keys.dead(p)) == 0
