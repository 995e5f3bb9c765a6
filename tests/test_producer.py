"""The producer validates before it sends, fills time and decisions, and routes partitions."""

from __future__ import annotations

import zlib

import pytest
import redis
import redis.asyncio as aredis

from aegis_stream.errors import InvalidEvent, StoreError
from aegis_stream.keys import Keys
from aegis_stream.policy import parse_policy
from aegis_stream.producer import AsyncProducer, Producer
from aegis_stream.signing import Signer
from aegis_stream.wire import decode_entry
from tests.conftest import event_dict

CLOCK_US = 1_796_040_000_123_456  # 2026-11-30T12:00:00.123456Z


def stored(r: redis.Redis, stream: str) -> list[dict[str, object]]:
    return [_fields(decode_entry(fields)) for _, fields in r.xrange(stream)]


def _fields(event: object) -> dict[str, object]:
    return {k: getattr(event, k) for k in ("action_type", "ts_us", "risk_level", "approval", "matched_rule")}


def test_emit_and_emit_many(sync_redis: redis.Redis, keys: Keys) -> None:
    producer = Producer(sync_redis, keys, clock=lambda: CLOCK_US)
    first = producer.emit(event_dict(action_type="a"))
    ids = producer.emit_many([event_dict(action_type="b"), event_dict(action_type="c")])
    assert len(ids) == 2 and first < ids[0] < ids[1]
    assert [e["action_type"] for e in stored(sync_redis, keys.stream(0))] == ["a", "b", "c"]


def test_a_bad_event_sends_nothing(sync_redis: redis.Redis, keys: Keys) -> None:
    producer = Producer(sync_redis, keys)
    with pytest.raises(InvalidEvent, match="approval: must be one of"):
        producer.emit_many([event_dict(), event_dict(approval="maybe"), event_dict()])
    assert sync_redis.xlen(keys.stream(0)) == 0


def test_missing_timestamp_comes_from_the_injected_clock(sync_redis: redis.Redis, keys: Keys) -> None:
    Producer(sync_redis, keys, clock=lambda: CLOCK_US).emit(event_dict(timestamp=None))
    assert stored(sync_redis, keys.stream(0))[0]["ts_us"] == CLOCK_US


def test_policy_fills_a_missing_decision(sync_redis: redis.Redis, keys: Keys) -> None:
    policy = parse_policy(
        "rules:\n"
        "  - name: no-deletes\n"
        "    match: {type: 'delete_*'}\n"
        "    risk_level: critical\n"
        "    approval: block\n"
    )
    producer = Producer(sync_redis, keys, policy=policy, clock=lambda: CLOCK_US)
    producer.emit_many(
        [
            event_dict(action_type="delete_user", risk_level=None, approval=None, matched_rule=None),
            event_dict(action_type="read_user", risk_level=None, approval=None, matched_rule=None),
            event_dict(action_type="delete_user", risk_level="LOW", approval="auto", matched_rule="given"),
        ]
    )
    assert [
        (e["risk_level"], e["approval"], e["matched_rule"]) for e in stored(sync_redis, keys.stream(0))
    ] == [
        ("CRITICAL", "block", "no-deletes"),
        ("MEDIUM", "block", "<default>"),  # the policy's defaults
        ("LOW", "auto", "given"),  # an event that carries its decision keeps it
    ]


def test_partition_routing_by_agent(sync_redis: redis.Redis, prefix: str) -> None:
    keys = Keys(prefix, 1, 4)
    agents = ["alpha", "beta", "gamma", "delta", "", None]
    Producer(sync_redis, keys).emit_many([event_dict(agent_id=a) for a in agents])
    expected = [0, 0, 0, 0]
    for a in agents:
        expected[zlib.crc32((a or "").encode()) % 4] += 1
    assert [sync_redis.xlen(keys.stream(p)) for p in range(4)] == expected


def test_size_limit(sync_redis: redis.Redis, keys: Keys) -> None:
    producer = Producer(sync_redis, keys, max_bytes=512)
    with pytest.raises(InvalidEvent, match="exceeds the limit of 512"):
        producer.emit(event_dict(result_data={"blob": "x" * 600}))
    assert sync_redis.xlen(keys.stream(0)) == 0


def test_unreachable_store_is_a_store_error(keys: Keys) -> None:
    client = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    with pytest.raises(StoreError, match="could not append events"):
        Producer(client, keys).emit(event_dict())


async def test_async_producer(async_redis: aredis.Redis, sync_redis: redis.Redis, keys: Keys) -> None:
    producer = AsyncProducer(async_redis, keys, clock=lambda: CLOCK_US)
    await producer.emit(event_dict(action_type="x", timestamp=None))
    ids = await producer.emit_many([event_dict(action_type="y")] * 3)
    assert len(ids) == 3
    events = stored(sync_redis, keys.stream(0))
    assert [e["action_type"] for e in events] == ["x", "y", "y", "y"]
    assert events[0]["ts_us"] == CLOCK_US
    with pytest.raises(InvalidEvent):
        await producer.emit_many([event_dict(), {"nope": 1}])
    assert sync_redis.xlen(keys.stream(0)) == 4


def test_an_unclassifiable_event_names_the_field_at_fault(sync_redis: redis.Redis, keys: Keys) -> None:
    from aegis_stream.bundled import resolve_policy
    from aegis_stream.errors import InvalidEvent

    producer = Producer(sync_redis, keys, policy=resolve_policy("airline"))
    base = {"session_id": "s1", "action_type": "x", "action_target": "t"}
    for extra, reason in (
        ({"agent_id": 7}, "agent_id: expected a string, got int"),
        ({"action_params": [1]}, "action_params: expected an object, got list"),
    ):
        with pytest.raises(InvalidEvent) as caught:
            producer.emit({**base, **extra})
        assert caught.value.reason == reason
    assert sync_redis.xlen(keys.stream(0)) == 0


async def test_with_a_signer_every_entry_carries_the_tag_of_its_payload(
    sync_redis: redis.Redis, async_redis: aredis.Redis, keys: Keys
) -> None:
    signer = Signer("t" * 32)
    Producer(sync_redis, keys, signer=signer).emit_many([event_dict(action_type="a"), event_dict()])
    await AsyncProducer(async_redis, keys, signer=signer).emit_each([event_dict(action_type="b"), {}])
    Producer(sync_redis, keys).emit(event_dict(action_type="plain"))
    entries = [fields for _, fields in sync_redis.xrange(keys.stream(0))]
    assert len(entries) == 4
    for fields in entries[:3]:
        assert set(fields) == {b"e", b"s"}
        assert signer.verify(fields[b"e"], fields[b"s"])
    assert set(entries[3]) == {b"e"}
