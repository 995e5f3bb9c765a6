"""Agent profiles on a real server: projected by the worker, capped, read back in order."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio as aredis

from aegis_stream.apply import Writer
from aegis_stream.events import parse_event
from aegis_stream.keys import GROUP, Keys
from aegis_stream.project import aggregate
from aegis_stream.project.prepare import PreparedBatch
from aegis_stream.settings import Settings
from aegis_stream.views import AgentProfile, ViewReader
from aegis_stream.worker import Worker
from tests.conftest import event_dict
from tests.worker.test_projector import produce

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(stamp: str) -> int:
    delta = datetime.fromisoformat(stamp) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def varied(n: int, seed: int) -> list[dict[str, Any]]:
    """Events over a few agents, out of time order, with repeating targets and some blocks."""
    rng = random.Random(seed)
    return [
        event_dict(
            agent_id=rng.choice([None, "alpha", "beta", "gamma"]),
            approval=rng.choice(["auto", "approve", "block", "block"]),
            action_type=f"tool_{rng.randint(0, 5)}",
            action_target=f"target-{rng.randint(0, 30)}",
            timestamp=f"2026-11-{rng.randint(1, 29):02d}T{rng.randint(0, 23):02d}:00:00"
            f".{rng.randint(0, 999_999):06d}+00:00",
        )
        for _ in range(n)
    ]


def expected_profiles(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Independent profiles: agents and map values in first-appearance order (plain dicts keep it)."""
    out: dict[str, dict[str, Any]] = {}
    for e in events:
        agent = e["agent_id"] or ""
        p = out.setdefault(agent, {"total": 0, "blocked": 0, "types": {}, "targets": {}, "times": []})
        p["total"] += 1
        p["blocked"] += e["approval"] == "block"
        p["types"][e["action_type"]] = p["types"].get(e["action_type"], 0) + 1
        p["targets"][e["action_target"]] = p["targets"].get(e["action_target"], 0) + 1
        p["times"].append(micros(e["timestamp"]))
    return [
        {
            "agent": agent,
            "total": p["total"],
            "blocked": p["blocked"],
            "types": list(p["types"].items()),
            "targets": list(p["targets"].items()),
            "first_us": min(p["times"]),
            "last_us": max(p["times"]),
        }
        for agent, p in out.items()
    ]


async def project(settings: Settings, keys: Keys, r: aredis.Redis, events: list[dict[str, Any]]) -> None:
    """Append ``events`` and apply them with a burst worker."""
    produce(settings, keys, events)
    await Worker(r, settings).run(burst=True)


def as_dict(profile: AgentProfile) -> dict[str, Any]:
    return {
        "agent": profile.agent,
        "total": profile.total,
        "blocked": profile.blocked,
        "types": profile.types,
        "targets": profile.targets,
        "first_us": profile.first_us,
        "last_us": profile.last_us,
    }


@pytest.mark.parametrize("partitions", [1, 3])
async def test_profiles_match_an_independent_count(
    settings: Settings, async_redis: aredis.Redis, partitions: int
) -> None:
    settings = settings.with_overrides(partitions=partitions, batch_size=97)
    keys = Keys(settings.key_prefix, 1, partitions)
    events = varied(1500, seed=partitions)
    await project(settings, keys, async_redis, events)
    profiles = await ViewReader(async_redis, keys).profiles()
    expected = expected_profiles(events)
    if partitions == 1:
        assert [as_dict(p) for p in profiles] == expected
    else:  # across partitions, "first" is only as fine as the stream ids' milliseconds
        assert sorted((as_dict(p) for p in profiles), key=lambda p: p["agent"]) == sorted(
            expected, key=lambda p: p["agent"]
        )
    assert all(p.types_overflow == 0 and p.targets_overflow == 0 for p in profiles)
    default = next(p for p in profiles if p.agent == "")
    assert default.name == "default"
    assert default.block_rate == default.blocked / default.total


@pytest.mark.parametrize("batch_size", [1, 4, 1000])
async def test_capped_maps_keep_the_first_values_and_count_the_rest_as_overflow(
    settings: Settings, async_redis: aredis.Redis, batch_size: int
) -> None:
    settings = settings.with_overrides(agent_map_cap=3, batch_size=batch_size)
    keys = Keys(settings.key_prefix)
    targets = ["t5", "t1", "t5", "t9", "t2", "t1", "t7", "t9", "t2", "t5", "t8"]
    events = [event_dict(action_target=t, action_type=f"type-{i % 2}") for i, t in enumerate(targets)]
    await project(settings, keys, async_redis, events)
    [profile] = await ViewReader(async_redis, keys).profiles()
    # the first three distinct targets in stream order are kept, with every later occurrence
    assert profile.targets == [("t5", 3), ("t1", 2), ("t9", 2)]
    assert profile.targets_overflow == 4  # t2, t7, t2, t8
    assert profile.types == [("type-0", 6), ("type-1", 5)]
    assert profile.types_overflow == 0
    assert profile.total == len(targets)


async def test_no_profiles_are_written_when_anomaly_projection_is_off(
    settings: Settings, async_redis: aredis.Redis
) -> None:
    settings = settings.with_overrides(anomalies=False)
    keys = Keys(settings.key_prefix)
    await project(settings, keys, async_redis, varied(50, seed=9))
    assert await async_redis.hget(keys.totals(0), "total") == b"50"
    profile_keys = [k async for k in async_redis.scan_iter(match=f"{settings.key_prefix}:v1:*:p[nfo]:*")]
    profile_keys += [k async for k in async_redis.scan_iter(match=f"{settings.key_prefix}:v1:*:prof:*")]
    assert profile_keys == []


async def test_first_and_last_seen_are_exact_at_the_end_of_time(
    async_redis: aredis.Redis, keys: Keys
) -> None:
    """Times past 2**53 microseconds (Lua's exact range) are compared without rounding."""
    stamps = [
        "9999-12-31T23:59:59.999998+00:00",
        "9999-12-31T23:59:59.999999+00:00",
        "9999-12-31T23:59:59.999997+00:00",
    ]
    ids = [(await async_redis.xadd(keys.stream(0), {b"e": b"x"})).decode() for _ in stamps]
    await async_redis.xgroup_create(keys.stream(0), GROUP, id="0")
    await async_redis.xreadgroup(GROUP, "c", {keys.stream(0): ">"})
    writer = Writer(async_redis, keys)
    for entry_id, stamp in zip(ids, stamps, strict=True):  # one batch each: the script compares
        delta = aggregate([(entry_id, parse_event(event_dict(timestamp=stamp)))])
        result = await writer.apply(
            0,
            token="",
            first_id=entry_id,
            last_id=entry_id,
            ack_ids=[entry_id],
            batch=PreparedBatch(delta),
            now_ms=0,
        )
        assert result.status == "ok"
    [profile] = await ViewReader(async_redis, keys).profiles()
    assert (profile.first_us, profile.last_us) == (micros(stamps[2]), micros(stamps[1]))


async def test_a_reader_follows_new_events_of_an_agent_it_has_read(
    settings: Settings, async_redis: aredis.Redis
) -> None:
    """The maps of an agent are re-read once its profile hash changes, and only then."""
    keys = Keys(settings.key_prefix)
    first = varied(300, seed=21)
    await project(settings, keys, async_redis, first)
    reader = ViewReader(async_redis, keys)
    assert [as_dict(p) for p in await reader.profiles()] == expected_profiles(first)
    more = [event_dict(agent_id="beta", action_target=f"new-{i}", action_type="tool_9") for i in range(5)]
    await project(settings, keys, async_redis, more)
    again = [as_dict(p) for p in await reader.profiles()]
    assert again == expected_profiles(first + more)
    beta = next(p for p in again if p["agent"] == "beta")
    assert beta["targets"][-5:] == [(f"new-{i}", 1) for i in range(5)]


async def test_views_without_order_lists_are_read_in_first_seen_order(
    settings: Settings, async_redis: aredis.Redis
) -> None:
    """Views projected before the order lists existed: the first-seen hashes give the order."""
    keys = Keys(settings.key_prefix)
    events = varied(400, seed=5)
    await project(settings, keys, async_redis, events)
    lists = [k async for k in async_redis.scan_iter(match=f"{settings.key_prefix}:v1:*:po:*")]
    assert len(lists) == 8  # four agents (one of them none), types and targets
    await async_redis.delete(*lists)
    assert [as_dict(p) for p in await ViewReader(async_redis, keys).profiles()] == expected_profiles(events)


async def test_the_two_agents_that_share_a_name_come_with_first_appearances(
    settings: Settings, async_redis: aredis.Redis
) -> None:
    keys = Keys(settings.key_prefix)
    events = [
        event_dict(agent_id=agent, action_target=target)
        for agent, target in [(None, "a"), ("default", "b"), (None, "c"), ("other", "d"), ("default", "a")]
    ]
    await project(settings, keys, async_redis, events)
    profiles = {p.agent: p for p in await ViewReader(async_redis, keys).profiles()}
    ids = [(await async_redis.xrange(keys.stream(0)))[i][0].decode() for i in range(5)]
    at = [tuple(int(x) for x in i.split("-")) for i in ids]
    assert profiles[""].targets == [("a", 1), ("c", 1)]
    assert profiles[""].targets_first == (at[0], at[2])
    assert profiles["default"].targets_first == (at[1], at[4])
    assert profiles["other"].targets == [("d", 1)]
    assert profiles["other"].targets_first == ()  # not merged with anyone: no need
