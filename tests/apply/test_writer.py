"""The fenced apply script, on a real server."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import redis.asyncio as aredis

from aegis_stream.apply import DeadLetter, Writer
from aegis_stream.apply import writer as writer_module
from aegis_stream.events import parse_event
from aegis_stream.keys import GROUP, Keys
from aegis_stream.project import aggregate
from aegis_stream.project.prepare import PreparedBatch, fold
from aegis_stream.views.auditlog import recent
from aegis_stream.wire import encode
from tests.conftest import event_dict

H = 3_600_000
# The server's own clock expires keys, so bucket tests use real time (on an hour boundary).
NOON_MS = time.time_ns() // 1_000_000 // H * H
STAMP = datetime.fromtimestamp(NOON_MS / 1000, UTC).isoformat()


async def _setup(r: aredis.Redis, keys: Keys, n: int) -> list[str]:
    """n entries in the stream, all delivered (pending) to consumer c."""
    ids = [(await r.xadd(keys.stream(0), {b"e": b"x"})).decode() for _ in range(n)]
    await r.xgroup_create(keys.stream(0), GROUP, id="0")
    await r.xreadgroup(GROUP, "c", {keys.stream(0): ">"})
    return ids


async def test_apply_counts_acks_and_advances(async_redis: aredis.Redis, keys: Keys) -> None:
    ids = await _setup(async_redis, keys, 3)
    events = [parse_event(event_dict(risk_level=r, timestamp=STAMP)) for r in ("HIGH", "LOW", "HIGH")]
    delta = aggregate(zip(ids, events, strict=True))
    writer = Writer(async_redis, keys)
    result = await writer.apply(
        0, token="", first_id=ids[0], last_id=ids[-1], ack_ids=ids, batch=PreparedBatch(delta), now_ms=NOON_MS
    )
    assert (result.status, result.checkpoint) == ("ok", ids[-1])
    assert await async_redis.hgetall(keys.counts(0, "risk")) == {b"HIGH": b"2", b"LOW": b"1"}
    assert await async_redis.hgetall(keys.first_seen(0, "risk")) == {
        b"HIGH": ids[0].encode(),
        b"LOW": ids[1].encode(),
    }
    assert await async_redis.hget(keys.totals(0), "total") == b"3"
    cp = await async_redis.hgetall(keys.checkpoint(0))
    assert (
        cp[b"id"] == ids[-1].encode() and cp[b"events"] == b"3" and cp[b"applied_ms"] == str(NOON_MS).encode()
    )
    assert (await async_redis.xpending(keys.stream(0), GROUP))["pending"] == 0
    bucket = keys.bucket(0, H, NOON_MS)
    assert await async_redis.hgetall(bucket) == {b"total": b"3", b"auto": b"3"}
    # expires after its look-back plus slack: start + 1h + 24h + 6h
    assert await async_redis.pexpiretime(bucket) == NOON_MS + 31 * H


async def test_fence_refuses_a_batch_at_or_below_the_checkpoint(
    async_redis: aredis.Redis, keys: Keys
) -> None:
    ids = await _setup(async_redis, keys, 2)
    delta = aggregate([(ids[0], parse_event(event_dict())), (ids[1], parse_event(event_dict()))])
    writer = Writer(async_redis, keys)
    args = {"token": "", "first_id": ids[0], "last_id": ids[1], "ack_ids": ids, "batch": PreparedBatch(delta)}
    assert (await writer.apply(0, **args, now_ms=NOON_MS)).status == "ok"
    again = await writer.apply(0, **args, now_ms=NOON_MS)
    assert (again.status, again.checkpoint) == ("stale", ids[1])
    assert await async_redis.hget(keys.totals(0), "total") == b"2"  # not 4


async def test_lease_token_must_match(async_redis: aredis.Redis, keys: Keys) -> None:
    ids = await _setup(async_redis, keys, 1)
    await async_redis.set(keys.lease(0), "someone-else")
    delta = aggregate([(ids[0], parse_event(event_dict()))])
    result = await Writer(async_redis, keys).apply(
        0,
        token="me",
        first_id=ids[0],
        last_id=ids[0],
        ack_ids=ids,
        batch=PreparedBatch(delta),
        now_ms=NOON_MS,
    )
    assert (result.status, result.checkpoint) == ("lease", "someone-else")
    assert await async_redis.exists(keys.totals(0)) == 0
    assert (await async_redis.xpending(keys.stream(0), GROUP))["pending"] == 1


async def test_dead_letters_and_late_events(async_redis: aredis.Redis, keys: Keys) -> None:
    ids = await _setup(async_redis, keys, 3)
    old = parse_event(event_dict(timestamp="2026-01-01T00:00:00Z"))
    fresh = parse_event(event_dict(timestamp=STAMP))
    delta = aggregate([(ids[0], old), (ids[2], fresh)])
    dead = [DeadLetter(ids[1], "approval: required field is missing", b"\x81")]
    now = NOON_MS + H
    result = await Writer(async_redis, keys).apply(
        0,
        token="",
        first_id=ids[0],
        last_id=ids[2],
        ack_ids=ids,
        batch=PreparedBatch(delta, dead),
        now_ms=now,
    )
    assert result.status == "ok"
    assert await async_redis.hget(keys.totals(0), "total") == b"2"  # the late one still counts
    cp = await async_redis.hgetall(keys.checkpoint(0))
    assert (cp[b"dead"], cp[b"late"], cp[b"events"]) == (b"1", b"1", b"2")
    letters = await async_redis.xrange(keys.dead(0))
    assert [f for _, f in letters] == [
        {b"id": ids[1].encode(), b"reason": b"approval: required field is missing", b"payload": b"\x81"}
    ]
    # no bucket was written for January
    jan = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    assert await async_redis.exists(keys.bucket(0, H, jan), keys.bucket(0, 24 * H, jan)) == 0


@pytest.mark.parametrize("inline", [True, False])
async def test_audit_rows_are_written_inside_the_script_or_before_it_when_too_large(
    async_redis: aredis.Redis, keys: Keys, monkeypatch: pytest.MonkeyPatch, inline: bool
) -> None:
    if not inline:  # every batch is "too large": its rows go first, on their own
        monkeypatch.setattr(writer_module, "INLINE_ROWS_BYTES", 0)
    ids = await _setup(async_redis, keys, 3)
    events = [parse_event(event_dict(action_type=f"t{i}", timestamp=STAMP)) for i in range(3)]
    batch = fold(
        list(zip(ids, events, strict=True)),
        [],
        known_ids={},
        dedupe_window_ms=0,
        payloads={i: encode(e) for i, e in zip(ids, events, strict=True)},
    )
    result = await Writer(async_redis, keys).apply(
        0, token="", first_id=ids[0], last_id=ids[-1], ack_ids=ids, batch=batch, now_ms=NOON_MS
    )
    assert result.status == "ok"
    page = await recent(async_redis, keys, (None, None, None, None), offset=0, limit=10)
    assert page.total == 3
    assert [e.action_type for _, e in page.rows] == ["t2", "t1", "t0"]  # newest first
    assert (await async_redis.xpending(keys.stream(0), GROUP))["pending"] == 0


def test_entries_tagged_with_another_key_are_validated_and_reported_sparingly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from aegis_stream.settings import Settings
    from aegis_stream.signing import Signer
    from aegis_stream.wire import entry_fields

    writer = Writer(aredis.Redis(), Keys("k"), Settings(signing_key="w" * 32))  # never connects
    other = Signer("o" * 32)
    payload = encode(parse_event(event_dict(action_params={"token": "x"})))
    entries = [(f"1796040000000-{i}", entry_fields(payload, other)) for i in range(12)]
    with caplog.at_level("WARNING", logger="aegis_stream.apply.writer"):
        for one in entries:  # one batch each: checked after every batch
            decoded = writer.decode([one])
            assert [e.action_params for _, e in decoded.events] == [{"token": "[REDACTED]"}]  # walked
    warnings = [r.getMessage() for r in caplog.records]
    assert [w.split(" ")[0] for w in warnings] == ["1", "10"]
    assert all("does not verify" in w and "w" * 32 not in w for w in warnings)
