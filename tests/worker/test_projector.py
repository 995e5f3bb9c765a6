"""The projector worker on a real server: counting, dead letters, recovery, fencing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import msgpack
import pytest
import redis
import redis.asyncio as aredis

from aegis_stream.apply import Writer
from aegis_stream.errors import InvalidEvent
from aegis_stream.events import parse_event
from aegis_stream.keys import GROUP, Keys
from aegis_stream.producer import Producer
from aegis_stream.settings import Settings
from aegis_stream.views import ViewReader
from aegis_stream.wire import decode, encode
from aegis_stream.worker import Worker
from aegis_stream.worker.projector import LeaseLost, PartitionProjector
from tests.conftest import HEAD_CHANGES, event_dict

RISKS = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
APPROVALS = ("auto", "approve", "block")


def generated(n: int) -> list[dict[str, Any]]:
    """n varied events (deterministic)."""
    return [
        event_dict(
            risk_level=RISKS[i % 4],
            approval=APPROVALS[i % 3],
            action_type=f"tool_{i % 7}",
            agent_id=None if i % 11 == 0 else f"agent-{i % 5}",
            result_status=None if i % 13 == 0 else "success",
            session_id=f"s-{i % 17}",
        )
        for i in range(n)
    ]


def expected_views(events: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    """Independent count of what the views must hold."""
    return {
        "risk": Counter(e["risk_level"] for e in events),
        "approval": Counter(e["approval"] for e in events),
        "type": Counter(e["action_type"] for e in events),
        "agent": Counter(e["agent_id"] or "" for e in events),
        "status": Counter(e["result_status"] or "unknown" for e in events),
    }


async def read_views(r: aredis.Redis, keys: Keys) -> dict[str, Counter[str]]:
    out = {}
    for dim in ("risk", "approval", "type", "agent", "status"):
        raw = await r.hgetall(keys.counts(0, dim))
        out[dim] = Counter({k.decode(): int(v) for k, v in raw.items()})
    return out


async def wait_for(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def produce(settings: Settings, keys: Keys, events: list[dict[str, Any]]) -> list[str]:
    assert settings.redis_url
    client = redis.Redis.from_url(settings.redis_url)
    try:
        return Producer(client, keys).emit_many(events)
    finally:
        client.close()


async def test_burst_counts_every_event(settings: Settings, keys: Keys, async_redis: aredis.Redis) -> None:
    events = generated(2500)
    produce(settings, keys, events)
    applied = await Worker(async_redis, settings).run(burst=True)
    assert applied == 2500
    assert await read_views(async_redis, keys) == expected_views(events)
    assert await async_redis.hget(keys.totals(0), "total") == b"2500"
    assert (await async_redis.xpending(keys.stream(0), GROUP))["pending"] == 0


async def test_invalid_entries_are_dead_lettered_and_the_worker_goes_on(
    settings: Settings, keys: Keys, async_redis: aredis.Redis
) -> None:
    good = generated(3)
    produce(settings, keys, good[:1])
    bad_ids = [
        await async_redis.xadd(keys.stream(0), {b"e": b"\xc1garbage"}),
        await async_redis.xadd(keys.stream(0), {b"other": b"1"}),
        await async_redis.xadd(
            keys.stream(0),
            {
                b"e": msgpack.packb(
                    {"v": 1, "t": 0, "s": "s", "at": "x", "tg": "t", "r": "SEVERE", "a": "auto"}
                )
            },
        ),
    ]
    produce(settings, keys, good[1:])
    await Worker(async_redis, settings).run(burst=True)
    assert await async_redis.hget(keys.totals(0), "total") == b"3"
    letters = await async_redis.xrange(keys.dead(0))
    assert [f[b"id"] for _, f in letters] == bad_ids
    assert [f[b"reason"].decode() for _, f in letters] == [
        "wire: not a msgpack document",
        "wire: stream entry has no 'e' field",
        "risk_level: must be one of LOW, MEDIUM, HIGH, CRITICAL, got 'SEVERE'",
    ]
    assert (await async_redis.hgetall(keys.checkpoint(0)))[b"dead"] == b"3"
    assert (await async_redis.xpending(keys.stream(0), GROUP))["pending"] == 0


async def test_entries_read_but_not_acknowledged_by_a_dead_worker_are_reclaimed(
    settings: Settings, keys: Keys, async_redis: aredis.Redis
) -> None:
    events = generated(300)
    produce(settings, keys, events)
    # A worker that read 200 entries, held the lease, and died before applying them.
    await async_redis.xgroup_create(keys.stream(0), GROUP, id="0")
    await async_redis.xreadgroup(GROUP, "dead-worker", {keys.stream(0): ">"}, count=200)
    await async_redis.set(keys.lease(0), "dead-worker:token", px=300)
    assert (await async_redis.xpending(keys.stream(0), GROUP))["pending"] == 200
    applied = await asyncio.wait_for(Worker(async_redis, settings).run(burst=True), timeout=10)
    assert applied == 300
    assert await read_views(async_redis, keys) == expected_views(events)
    assert (await async_redis.xpending(keys.stream(0), GROUP))["pending"] == 0


async def test_rewound_group_changes_nothing(
    settings: Settings, keys: Keys, async_redis: aredis.Redis
) -> None:
    events = generated(500)
    produce(settings, keys, events)
    await Worker(async_redis, settings).run(burst=True)
    await async_redis.xgroup_setid(keys.stream(0), GROUP, id="0")
    await Worker(async_redis, settings).run(burst=True)
    assert await read_views(async_redis, keys) == expected_views(events)
    assert await async_redis.hget(keys.totals(0), "total") == b"500"


async def test_group_deleted_under_a_running_worker_is_recreated(
    settings: Settings, keys: Keys, async_redis: aredis.Redis
) -> None:
    worker = Worker(async_redis, settings)
    task = asyncio.create_task(worker.run())
    try:
        produce(settings, keys, generated(10))

        async def counted(n: int) -> bool:
            return await async_redis.hget(keys.totals(0), "total") == str(n).encode()

        await wait_for(lambda: counted(10))
        await async_redis.xgroup_destroy(keys.stream(0), GROUP)
        produce(settings, keys, generated(5))
        await wait_for(lambda: counted(15))
    finally:
        worker.stop()
        await asyncio.wait_for(task, timeout=10)


async def test_kill_9_mid_run_loses_nothing_and_counts_nothing_twice(
    settings: Settings, keys: Keys, async_redis: aredis.Redis
) -> None:
    events = generated(20_000)
    produce(settings, keys, events)
    env = {
        **os.environ,
        "REDIS_URL": settings.redis_url or "",
        "AEGIS_KEY_PREFIX": settings.key_prefix,
        "AEGIS_BATCH_SIZE": "200",
        "AEGIS_LEASE_MS": "500",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "aegis_stream", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        async def started() -> bool:
            raw = await async_redis.hget(keys.checkpoint(0), "events")
            return raw is not None and int(raw) > 0

        await wait_for(started, timeout=30)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    applied_before = int(await async_redis.hget(keys.checkpoint(0), "events") or 0)
    assert applied_before > 0
    await asyncio.wait_for(Worker(async_redis, settings).run(burst=True), timeout=30)
    assert await read_views(async_redis, keys) == expected_views(events)
    assert await async_redis.hget(keys.totals(0), "total") == b"20000"
    assert (await async_redis.xpending(keys.stream(0), GROUP))["pending"] == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
async def test_a_stop_signal_stops_the_worker_cleanly_and_frees_the_lease(
    settings: Settings, keys: Keys, async_redis: aredis.Redis, sig: signal.Signals
) -> None:
    produce(settings, keys, generated(50))
    env = {**os.environ, "REDIS_URL": settings.redis_url or "", "AEGIS_KEY_PREFIX": settings.key_prefix}
    proc = subprocess.Popen(
        [sys.executable, "-m", "aegis_stream", "worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        async def drained() -> bool:
            return await async_redis.hget(keys.totals(0), "total") == b"50"

        await wait_for(drained, timeout=30)
        assert await async_redis.exists(keys.lease(0)) == 1
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "worker stopped after applying 50 events" in out
    assert await async_redis.exists(keys.lease(0)) == 0  # a standby can take over at once


async def test_an_unexpected_error_is_logged_and_retried_not_fatal(
    settings: Settings, keys: Keys, async_redis: aredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    produce(settings, keys, generated(5))
    await async_redis.hset(keys.checkpoint(0), "id", "garbage")  # a corrupted checkpoint
    worker = Worker(async_redis, settings)
    task = asyncio.create_task(worker.run())
    try:

        async def logged() -> bool:
            return any("projection failed" in r.getMessage() for r in caplog.records)

        await wait_for(logged)
        assert not task.done()
        await async_redis.hdel(keys.checkpoint(0), "id")  # the operator repairs it

        async def counted() -> bool:
            return await async_redis.hget(keys.totals(0), "total") == b"5"

        await wait_for(counted)
    finally:
        worker.stop()
        await asyncio.wait_for(task, timeout=10)


async def test_every_event_sent_twice_with_the_same_event_id_is_counted_once(
    settings: Settings, keys: Keys, async_redis: aredis.Redis
) -> None:
    events = [{**e, "event_id": f"evt-{i}"} for i, e in enumerate(generated(600))]
    produce(settings, keys, events)
    produce(settings, keys, events)  # the producer retried everything
    small = settings.with_overrides(batch_size=50)  # duplicates span many batches
    await Worker(async_redis, small).run(burst=True)
    assert await read_views(async_redis, keys) == expected_views(events)
    assert (await async_redis.hgetall(keys.checkpoint(0)))[b"duplicates"] == b"600"
    [status] = await ViewReader(async_redis, keys).pipeline_status(now_ms=0)
    assert (status.duplicates, status.applied_events) == (600, 600)


async def test_a_poison_entry_is_dead_lettered_after_max_attempts_and_the_rest_applied(
    settings: Settings, keys: Keys, async_redis: aredis.Redis
) -> None:
    ids = produce(settings, keys, generated(5))
    await async_redis.xgroup_create(keys.stream(0), GROUP, id="0")
    await async_redis.xreadgroup(GROUP, "crashing-worker", {keys.stream(0): ">"})
    # the third entry was delivered 9 times, and 5 attempts to apply it alone took their worker down
    await async_redis.execute_command(
        "XCLAIM", keys.stream(0), GROUP, "crashing-worker", 0, ids[2], "RETRYCOUNT", 9
    )
    await async_redis.hset(keys.attempts(0), ids[2], 5)
    await Worker(async_redis, settings.with_overrides(max_deliveries=5)).run(burst=True)
    assert await async_redis.hget(keys.totals(0), "total") == b"4"
    letters = await async_redis.xrange(keys.dead(0))
    assert [(f[b"id"].decode(), f[b"reason"].decode()) for _, f in letters] == [
        (ids[2], "poison: 5 attempts to apply it on its own did not complete")
    ]
    assert (await async_redis.xpending(keys.stream(0), GROUP))["pending"] == 0
    assert await async_redis.hlen(keys.attempts(0)) == 0


async def test_many_deliveries_alone_are_not_poison(
    settings: Settings, keys: Keys, async_redis: aredis.Redis
) -> None:
    """Kills and lease changes raise delivery counts; an entry that never failed on its own is applied."""
    ids = produce(settings, keys, generated(5))
    await async_redis.xgroup_create(keys.stream(0), GROUP, id="0")
    await async_redis.xreadgroup(GROUP, "killed-worker", {keys.stream(0): ">"})
    for i in ids:
        await async_redis.execute_command(
            "XCLAIM", keys.stream(0), GROUP, "killed-worker", 0, i, "RETRYCOUNT", 50
        )
    await Worker(async_redis, settings.with_overrides(max_deliveries=5)).run(burst=True)
    assert await async_redis.hget(keys.totals(0), "total") == b"5"
    assert await async_redis.xlen(keys.dead(0)) == 0
    assert await async_redis.hlen(keys.attempts(0)) == 0


async def test_an_entry_that_keeps_failing_is_dead_lettered_and_the_worker_goes_on(
    settings: Settings, keys: Keys, async_redis: aredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = produce(settings, keys, generated(6))
    bad = ids[3]
    original = Writer.apply

    async def failing_apply(self: Writer, p: int, **kwargs: Any) -> Any:
        if bad in kwargs["ack_ids"] and not kwargs["batch"].dead:
            raise RuntimeError("this entry breaks the apply")
        return await original(self, p, **kwargs)

    monkeypatch.setattr(Writer, "apply", failing_apply)
    worker = Worker(async_redis, settings.with_overrides(max_deliveries=3))
    task = asyncio.create_task(worker.run())
    try:

        async def dead_lettered() -> bool:
            return await async_redis.xlen(keys.dead(0)) == 1

        await wait_for(dead_lettered, timeout=30)

        async def the_rest_applied() -> bool:
            return await async_redis.hget(keys.totals(0), "total") == b"5"

        await wait_for(the_rest_applied)
    finally:
        worker.stop()
        await asyncio.wait_for(task, timeout=10)
    [(_, letter)] = await async_redis.xrange(keys.dead(0))
    assert letter[b"id"].decode() == bad
    assert letter[b"reason"] == b"poison: 3 attempts to apply it on its own did not complete"
    assert (await async_redis.xpending(keys.stream(0), GROUP))["pending"] == 0


async def test_an_event_too_far_in_the_future_is_dead_lettered(
    settings: Settings, keys: Keys, async_redis: aredis.Redis
) -> None:
    # the skew is measured from the append time (the stream id), so a lagging projector agrees
    appended_ms = time.time_ns() // 1_000_000
    soon = datetime.fromtimestamp(appended_ms / 1000 + 60, UTC).isoformat()
    later = datetime.fromtimestamp(appended_ms / 1000 + 3600, UTC).replace(microsecond=0)
    produce(settings, keys, [event_dict(timestamp=soon), event_dict(timestamp=later.isoformat())])
    await Worker(async_redis, settings, clock=lambda: appended_ms + 10 * 3_600_000).run(burst=True)
    assert await async_redis.hget(keys.totals(0), "total") == b"1"
    letters = await async_redis.xrange(keys.dead(0))
    assert [f[b"reason"].decode() for _, f in letters] == [
        f"timestamp: {later.isoformat()} is more than 300000 ms after the event was appended"
    ]


async def test_the_stream_is_trimmed_only_below_what_was_applied_and_retained(
    settings: Settings, keys: Keys, async_redis: aredis.Redis
) -> None:
    # one entry per millisecond (a producer's pace would decide how many share the last one)
    start_ms = time.time_ns() // 1_000_000 - 60_000
    for i, event in enumerate(generated(1000)):
        payload = encode(parse_event(event))
        await async_redis.xadd(keys.stream(0), {b"e": payload}, id=f"{start_ms + i}-0")
    # retention 1 ms and a clock far ahead: everything applied is past retention
    far = time.time_ns() // 1_000_000 + 3_600_000
    await Worker(async_redis, settings.with_overrides(retention_ms=1), clock=lambda: far).run(burst=True)
    assert await async_redis.hget(keys.totals(0), "total") == b"1000"
    left = await async_redis.xlen(keys.stream(0))
    # below the last entry applied, whole stream nodes (100 entries) were trimmed ('~')
    assert left <= 100
    # with retention 0 nothing is ever trimmed
    produce(settings, keys, generated(300))
    before = await async_redis.xlen(keys.stream(0))
    await Worker(async_redis, settings.with_overrides(retention_ms=0), clock=lambda: far).run(burst=True)
    assert await async_redis.xlen(keys.stream(0)) == before


async def test_pending_entries_deleted_before_recovery_are_dropped_cleanly(
    settings: Settings, keys: Keys, async_redis: aredis.Redis
) -> None:
    events = generated(10)
    ids = produce(settings, keys, events)
    await async_redis.xgroup_create(keys.stream(0), GROUP, id="0")
    await async_redis.xreadgroup(GROUP, "dead-worker", {keys.stream(0): ">"})
    await async_redis.xdel(keys.stream(0), ids[3], ids[7])  # gone while pending (trimmed, deleted)
    await Worker(async_redis, settings).run(burst=True)
    kept = [e for i, e in enumerate(events) if i not in (3, 7)]
    assert await read_views(async_redis, keys) == expected_views(kept)
    assert (await async_redis.xpending(keys.stream(0), GROUP))["pending"] == 0


def test_the_socket_timeout_always_exceeds_the_blocking_read() -> None:
    from aegis_stream.store import socket_timeout_for

    for block_ms in (1, 1000, 60_000):
        assert socket_timeout_for(block_ms) > block_ms / 1000


async def test_a_long_one_by_one_recovery_keeps_its_lease_and_dead_letters_nothing(
    settings: Settings, keys: Keys, async_redis: aredis.Redis
) -> None:
    events = generated(400)
    ids = produce(settings, keys, events)
    await async_redis.xgroup_create(keys.stream(0), GROUP, id="0")
    await async_redis.xreadgroup(GROUP, "crashed-twice", {keys.stream(0): ">"})
    # two workers already died on this batch: it is re-applied one entry at a time
    await async_redis.execute_command(
        "XCLAIM", keys.stream(0), GROUP, "crashed-twice", 0, *ids, "RETRYCOUNT", 2
    )
    short_lease = settings.with_overrides(lease_ms=200, max_deliveries=3)  # far shorter than the recovery
    await Worker(async_redis, short_lease).run(burst=True)
    assert await read_views(async_redis, keys) == expected_views(events)
    assert await async_redis.xlen(keys.dead(0)) == 0


async def test_consumers_of_dead_workers_are_removed(
    settings: Settings, keys: Keys, async_redis: aredis.Redis
) -> None:
    settings = settings.with_overrides(lease_ms=100)
    produce(settings, keys, generated(3))
    stream = keys.stream(0)
    await async_redis.xgroup_create(stream, GROUP, id="0")
    for name in ("dead-1", "dead-2"):
        await async_redis.execute_command("XGROUP", "CREATECONSUMER", stream, GROUP, name)
    await async_redis.xreadgroup(GROUP, "dead-with-pending", {stream: ">"}, count=1)

    async def idle_long_enough() -> bool:
        rows = await async_redis.xinfo_consumers(stream, GROUP)
        return all(int(r["idle"]) >= 2 * settings.lease_ms for r in rows)

    await wait_for(idle_long_enough)
    await Worker(async_redis, settings.with_overrides(consumer="me")).run(burst=True)
    names = {r["name"].decode() for r in await async_redis.xinfo_consumers(stream, GROUP)}
    # the one that held an entry is gone too: the new worker claimed it first
    assert names == {"me"}
    assert await async_redis.hget(keys.totals(0), "total") == b"3"


async def test_an_event_id_repeated_in_the_very_next_batch_is_counted_once(
    settings: Settings, keys: Keys, async_redis: aredis.Redis
) -> None:
    # Each batch of two repeats the last id of the batch before it, which is still
    # being applied while this one is prepared: the store does not list that id yet.
    ids = ["a", "b", "b", "c", "c", "d", "d", "e"]
    events = [{**event_dict(action_type=f"t-{i}"), "event_id": eid} for i, eid in enumerate(ids)]
    produce(settings, keys, events)
    await Worker(async_redis, settings.with_overrides(batch_size=2)).run(burst=True)
    assert await async_redis.hget(keys.totals(0), "total") == b"5"
    assert (await async_redis.hgetall(keys.checkpoint(0)))[b"duplicates"] == b"3"
    counted = {k.decode() for k in await async_redis.hkeys(keys.counts(0, "type"))}
    assert counted == {"t-0", "t-1", "t-3", "t-5", "t-7"}  # each id's first occurrence


async def test_a_batch_read_ahead_when_the_lease_is_lost_is_applied_once_by_the_next_holder(
    settings: Settings, keys: Keys, async_redis: aredis.Redis
) -> None:
    events = generated(30)
    produce(settings, keys, events)
    small = settings.with_overrides(batch_size=10)
    pp = PartitionProjector(async_redis, keys, 0, small, consumer="first")
    await pp.ensure_group()
    assert await pp.lease.acquire()
    assert await pp.step(block_ms=None) == 10  # read and prepared, not yet applied
    assert await async_redis.hget(keys.totals(0), "total") is None
    await async_redis.set(keys.lease(0), "usurper:token", px=small.lease_ms)  # the lease changes hands
    with pytest.raises(LeaseLost):
        await pp.step(block_ms=None)  # sending the first batch is refused; the second was read
    assert await async_redis.hget(keys.totals(0), "total") is None
    assert (await async_redis.xpending(keys.stream(0), GROUP))["pending"] == 20
    await async_redis.delete(keys.lease(0))  # the usurper went away
    assert await Worker(async_redis, small).run(burst=True) == 30
    assert await read_views(async_redis, keys) == expected_views(events)
    assert (await async_redis.xpending(keys.stream(0), GROUP))["pending"] == 0


async def test_signed_entries_make_the_same_views_and_audit_log_as_unsigned_ones(
    redis_url: str, prefix: str, async_redis: aredis.Redis
) -> None:
    from aegis_stream.bundled import DEMO_SAMPLE, data_file
    from aegis_stream.events import AuditEvent
    from aegis_stream.importers import read_events
    from aegis_stream.signing import Signer
    from aegis_stream.views.auditlog import recent

    sample = [e for e in read_events(data_file(DEMO_SAMPLE), now_us=1_800_000_000_000_000)]
    assert all(isinstance(e, AuditEvent) for e in sample)
    key = "k" * 32
    results = []
    for name, signer in (("unsigned", None), ("signed", Signer(key))):
        run_prefix = f"{prefix}-{name}"  # the prefix fixture deletes these keys too
        settings = Settings(redis_url=redis_url, key_prefix=run_prefix, signing_key=key, batch_size=100)
        keys = Keys(run_prefix)
        client = redis.Redis.from_url(redis_url)
        try:
            Producer(client, keys, signer=signer).emit_many(sample)  # type: ignore[arg-type]
        finally:
            client.close()
        await Worker(async_redis, settings, clock=lambda: 1_800_000_000_000).run(burst=True)
        page = await recent(async_redis, keys, (None, None, None, None), offset=0, limit=2000)
        views = await read_views(async_redis, keys)
        totals = await async_redis.hgetall(keys.totals(0))
        results.append((views, totals, page.total, [e for _, e in page.rows]))
    unsigned, signed = results
    assert unsigned == signed
    assert signed[2] == 1164 and any(e.result_data for e in signed[3])  # full rows, tool replies included


async def test_a_mixed_stream_of_signed_unsigned_and_forged_entries(
    settings: Settings, keys: Keys, async_redis: aredis.Redis
) -> None:
    from aegis_stream.signing import Signer

    key = "m" * 32
    signed_settings = settings.with_overrides(signing_key=key)
    client = redis.Redis.from_url(settings.redis_url or "")
    try:
        Producer(client, keys, signer=Signer(key)).emit(event_dict(action_type="signed"))
        Producer(client, keys).emit(event_dict(action_type="unsigned"))
    finally:
        client.close()
    smuggled = msgpack.packb(
        {"v": 1, "t": 0, "s": "s", "at": "forged", "tg": "t", "r": "LOW", "a": "auto", "p": {"token": "x"}}
    )
    await async_redis.xadd(keys.stream(0), {b"e": smuggled, b"s": Signer("o" * 32).tag(smuggled)})
    broken = msgpack.packb({"v": 1, "t": 0, "s": "s", "at": "broken", "tg": "t", "r": "LOW", "a": "never"})
    bad_id = await async_redis.xadd(keys.stream(0), {b"e": broken, b"s": Signer(key).tag(broken)})
    await Worker(async_redis, signed_settings).run(burst=True)
    types = {k.decode(): int(v) for k, v in (await async_redis.hgetall(keys.counts(0, "type"))).items()}
    assert types == {"signed": 1, "unsigned": 1, "forged": 1}
    [(_, fields)] = await async_redis.xrange(keys.dead(0))
    assert fields[b"id"] == bad_id and b"approval" in fields[b"reason"]
    rows = [msgpack.unpackb(v) for v in (await async_redis.hgetall(keys.audit_rows(0))).values()]
    assert [r["p"] for r in rows if r["at"] == "forged"] == [{"token": "[REDACTED]"}]


async def test_tagged_entries_that_break_the_rules_are_dead_lettered_as_untagged_ones_are(
    redis_url: str, prefix: str, async_redis: aredis.Redis
) -> None:
    from aegis_stream.signing import Signer
    from aegis_stream.views.auditlog import recent

    key = "f" * 32
    now_us = time.time_ns() // 1000
    base = {"v": 1, "t": now_us, "s": "forged", "at": "forge", "tg": "x", "r": "HIGH", "a": "auto"}
    payloads = [msgpack.packb({**base, **change}) for change in [*HEAD_CHANGES, {}]]  # {}: valid as is
    outcomes = []
    for name, signer in (("unsigned", None), ("signed", Signer(key))):
        run_prefix = f"{prefix}-{name}"  # the prefix fixture deletes these keys too
        keys = Keys(run_prefix)
        for payload in payloads:
            fields = {b"e": payload, **({b"s": signer.tag(payload)} if signer else {})}
            await async_redis.xadd(keys.stream(0), fields)
        settings = Settings(redis_url=redis_url, key_prefix=run_prefix, signing_key=key)
        await Worker(async_redis, settings).run(burst=True)
        letters = await async_redis.xrange(keys.dead(0))
        page = await recent(async_redis, keys, (None, None, None, None), offset=0, limit=50)
        assert (await async_redis.xpending(keys.stream(0), GROUP))["pending"] == 0
        outcomes.append(
            (
                await async_redis.hgetall(keys.totals(0)),
                [fields[b"reason"] for _, fields in letters],
                [event for _, event in page.rows],
            )
        )
    unsigned, signed = outcomes
    assert signed == unsigned
    totals, reasons, rows = signed
    valid = 0
    for payload in payloads:
        with contextlib.suppress(InvalidEvent):
            decode(payload)
            valid += 1
    assert valid == 3  # the event as is, and with "low" and "" status (normalised)
    assert (int(totals[b"total"]), len(rows), len(reasons)) == (valid, valid, len(payloads) - valid)
    assert not [r for r in reasons if b"failed" in r or b"poison" in r]


@pytest.mark.parametrize(
    "refusal",
    [
        redis.exceptions.OutOfMemoryError("command not allowed when used memory > 'maxmemory'."),
        redis.exceptions.ReadOnlyError("You can't write against a read only replica."),
        redis.ResponseError("MISCONF Redis is configured to save RDB snapshots, but it's failing"),
    ],
)
async def test_a_store_refusing_writes_is_not_held_against_the_entries(
    settings: Settings,
    keys: Keys,
    async_redis: aredis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    refusal: redis.ResponseError,
) -> None:
    ids = produce(settings, keys, generated(6))
    original = Writer.apply
    refused = 0

    async def refusing_apply(self: Writer, p: int, **kwargs: Any) -> Any:
        nonlocal refused
        if refused < 12:  # well past max_deliveries, one by one included
            refused += 1
            raise refusal
        return await original(self, p, **kwargs)

    monkeypatch.setattr(Writer, "apply", refusing_apply)
    monkeypatch.setattr("aegis_stream.worker.runner.MAX_BACKOFF_S", 0.05)
    worker = Worker(async_redis, settings.with_overrides(max_deliveries=2, lease_ms=200))
    task = asyncio.create_task(worker.run())
    try:

        async def all_applied() -> bool:
            return await async_redis.hget(keys.totals(0), "total") == b"6"

        await wait_for(all_applied, timeout=30)
    finally:
        worker.stop()
        await asyncio.wait_for(task, timeout=10)
    assert refused == 12
    assert await async_redis.xlen(keys.dead(0)) == 0, [f for _, f in await async_redis.xrange(keys.dead(0))]
    assert await async_redis.hlen(keys.attempts(0)) == 0
    assert len(ids) == 6


async def test_rows_a_tag_vouched_for_whose_params_or_replies_do_not_validate_stay_readable(
    settings: Settings, keys: Keys, async_redis: aredis.Redis
) -> None:
    from aegis_stream.signing import Signer
    from aegis_stream.views.auditlog import recent

    key = "v" * 32
    signer = Signer(key)
    base = {"v": 1, "t": time.time_ns() // 1000, "s": "s", "at": "a", "tg": "t", "r": "LOW", "a": "auto"}
    bulks: list[dict[str, Any]] = [
        {"p": {1: "int key"}},
        {"p": {"x": float("nan")}},
        {"p": {"x": msgpack.ExtType(5, b"raw")}},
        {"rd": {"deep": json.loads("[" * 40 + "]" * 40)}},
        {"rd": b"bytes"},
        {"p": {"password": "hunter2"}},  # a producer's own would have redacted it
    ]
    for bulk in bulks:
        payload = msgpack.packb({**base, **bulk}, use_bin_type=True)
        await async_redis.xadd(keys.stream(0), {b"e": payload, b"s": signer.tag(payload)})
    await Worker(async_redis, settings.with_overrides(signing_key=key)).run(burst=True)
    assert await async_redis.hget(keys.totals(0), "total") == str(len(bulks)).encode()  # a tag vouches
    page = await recent(async_redis, keys, (None, None, None, None), offset=0, limit=10)
    shown = [event for _, event in reversed(page.rows)]
    assert page.total == len(shown) == len(bulks)
    for event in shown[:5]:
        assert set(event.action_params) == {"_unreadable"} and event.result_data is None
    assert shown[5].action_params == {"password": "[REDACTED]"}  # redacted on the way out
