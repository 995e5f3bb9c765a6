"""The apply script's activity-cluster merge (SOC2 CC7.2 gaps), on a real server, against the pure merge."""

from __future__ import annotations

import random

import pytest
import redis.asyncio as aredis

from aegis_stream.apply import Writer
from aegis_stream.events import format_timestamp, parse_event
from aegis_stream.keys import Keys
from aegis_stream.project import aggregate
from aegis_stream.project.activity import clusters
from aegis_stream.project.prepare import PreparedBatch
from tests.conftest import event_dict

SECOND = 1_000_000
HOUR = 3_600 * SECOND
BASE_US = 1_796_000_000 * SECOND


def stored(members: list[bytes]) -> list[tuple[int, int]]:
    out = []
    for m in members:
        s1, u1, s2, u2 = (int(x) for x in m.decode().split(":"))
        out.append((s1 * SECOND + u1, s2 * SECOND + u2))
    return sorted(out)


async def apply_times(r: aredis.Redis, keys: Keys, batches: list[list[int]]) -> None:
    writer = Writer(r, keys)
    for n, times in enumerate(batches, start=1):
        events = [parse_event(event_dict(timestamp=format_timestamp(t))) for t in times]
        delta = aggregate((f"{n}-{i}", e) for i, e in enumerate(events))
        result = await writer.apply(
            0,
            token="",
            first_id=f"{n}-0",
            last_id=f"{n}-{len(times) - 1}",
            ack_ids=[],
            batch=PreparedBatch(delta),
            now_ms=BASE_US // 1000,
        )
        assert result.status == "ok"


async def test_a_cluster_in_the_same_second_as_the_new_start(async_redis: aredis.Redis, keys: Keys) -> None:
    """A at t, B at t + 1 h + 2 ms (apart), then N at t + 1 h joins both: one cluster."""
    t = BASE_US + 4_000
    await apply_times(async_redis, keys, [[t], [t + HOUR + 2_000], [t + HOUR]])
    assert stored(await async_redis.zrange(keys.activity(0), 0, -1)) == [(t, t + HOUR + 2_000)]


@pytest.mark.parametrize("seed", range(8))
async def test_random_batches_in_any_order(async_redis: aredis.Redis, keys: Keys, seed: int) -> None:
    rng = random.Random(seed)
    times, t = [], BASE_US
    for _ in range(300):
        # steps around the one-hour threshold, and many in the same second
        t += rng.choice([0, 1, 999_999, HOUR - 1, HOUR, HOUR + 1, 2 * HOUR, 37 * SECOND])
        times.append(t + rng.randrange(0, 3) * 1000)
    rng.shuffle(times)
    batches = []
    while times:
        n = rng.randint(1, 25)
        batches.append(times[:n])
        times = times[n:]
    await apply_times(async_redis, keys, batches)
    expected = clusters([x for b in batches for x in b])
    assert stored(await async_redis.zrange(keys.activity(0), 0, -1)) == expected
    assert len(expected) > 10  # the data has gaps to merge across
