"""``ViewReader.pipeline_status``: pending entries and their age, missing streams and groups, the CLI."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import redis
import redis.asyncio as aredis
import redis.asyncio.client as aclient

from aegis_stream.cli import _print_status, run
from aegis_stream.keys import GROUP, Keys
from aegis_stream.settings import Settings
from aegis_stream.views import PartitionStatus, ViewReader
from tests.test_cli import env_for


def ms_of(entry_id: bytes | str) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-")[0])


async def test_read_but_unacknowledged_entries_are_pending_with_their_age(
    async_redis: aredis.Redis, keys: Keys
) -> None:
    stream = keys.stream(0)
    ids = [await async_redis.xadd(stream, {"e": b"x"}, id=f"{1_000_000 + 250 * i}-0") for i in range(5)]
    await async_redis.xgroup_create(stream, GROUP, id="0")
    await async_redis.xreadgroup(GROUP, "stuck", {stream: ">"}, count=3)  # read, never acknowledged
    now_ms = 1_000_000 + 60_000

    [status] = await ViewReader(async_redis, keys).pipeline_status(now_ms=now_ms)

    assert status.partition == 0
    assert status.length == 5
    assert status.pending == 3
    assert status.lag == 2
    assert status.oldest_pending_age_ms == now_ms - ms_of(ids[0]) == 60_000
    assert (status.checkpoint, status.applied_events, status.last_applied_ms) == (None, 0, None)
    assert (status.dead_letters, status.late_events) == (0, 0)

    # acknowledging the oldest moves the age to the next pending entry
    await async_redis.xack(stream, GROUP, ids[0])
    [status] = await ViewReader(async_redis, keys).pipeline_status(now_ms=now_ms)
    assert (status.pending, status.oldest_pending_age_ms) == (2, now_ms - ms_of(ids[1]))

    # everything acknowledged: nothing pending, no age
    await async_redis.xack(stream, GROUP, ids[1], ids[2])
    [status] = await ViewReader(async_redis, keys).pipeline_status(now_ms=now_ms)
    assert (status.pending, status.oldest_pending_age_ms) == (0, None)


async def test_an_id_ahead_of_the_clock_gives_age_zero(async_redis: aredis.Redis, keys: Keys) -> None:
    stream = keys.stream(0)
    await async_redis.xadd(stream, {"e": b"x"}, id="5000-0")
    await async_redis.xgroup_create(stream, GROUP, id="0")
    await async_redis.xreadgroup(GROUP, "stuck", {stream: ">"})
    [status] = await ViewReader(async_redis, keys).pipeline_status(now_ms=4000)
    assert (status.pending, status.oldest_pending_age_ms) == (1, 0)


async def test_without_now_ages_use_the_server_clock(async_redis: aredis.Redis, keys: Keys) -> None:
    stream = keys.stream(0)
    entry_id = await async_redis.xadd(stream, {"e": b"x"})  # stamped by the server's clock
    await async_redis.xgroup_create(stream, GROUP, id="0")
    await async_redis.xreadgroup(GROUP, "stuck", {stream: ">"})
    [status] = await ViewReader(async_redis, keys).pipeline_status()
    seconds, micros = await async_redis.time()
    assert status.oldest_pending_age_ms is not None
    assert 0 <= status.oldest_pending_age_ms <= seconds * 1000 + micros // 1000 - ms_of(entry_id)


async def test_missing_streams_and_groups_give_zeros(async_redis: aredis.Redis, settings: Settings) -> None:
    keys = Keys(settings.key_prefix, settings.views_version, 3)
    await async_redis.xadd(keys.stream(1), {"e": b"x"})  # partition 1: a stream without the group
    await async_redis.xadd(keys.stream(2), {"e": b"x"})  # partition 2: the group, nothing read
    await async_redis.xgroup_create(keys.stream(2), GROUP, id="0")

    statuses = await ViewReader(async_redis, keys).pipeline_status(now_ms=10**13)

    assert statuses == [
        PartitionStatus(0, 0, 0, 0, None, None, 0, None, 0, 0),
        PartitionStatus(1, 1, 0, 1, None, None, 0, None, 0, 0),
        PartitionStatus(2, 1, 0, 1, None, None, 0, None, 0, 0),
    ]


async def test_a_fixed_number_of_commands_per_partition(
    async_redis: aredis.Redis, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    stacks: list[list[str]] = []
    execute = aclient.Pipeline.execute

    async def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        stacks.append([str(cmd[0][0]) for cmd in self.command_stack])
        return await execute(self, *args, **kwargs)

    monkeypatch.setattr(aclient.Pipeline, "execute", spy)
    for n in (1, 4):
        keys = Keys(settings.key_prefix, settings.views_version, n)
        await ViewReader(async_redis, keys).pipeline_status(now_ms=0)
        await ViewReader(async_redis, keys).pipeline_status()
    assert [len(s) for s in stacks] == [4, 5, 16, 17]  # one round trip each; TIME when no clock is given
    assert stacks[1][-1] == "TIME"


def test_status_table_shows_the_oldest_pending_age() -> None:
    rows = [
        PartitionStatus(0, 5, 3, 2, 61_500, None, 0, None, 0, 0),
        PartitionStatus(1, 0, 0, 0, None, "1-0", 7, 1_700_000_000_000, 1, 2),
    ]
    out = io.StringIO()
    _print_status(rows, out)
    header, first, second = out.getvalue().splitlines()
    assert "oldest pending" in header
    assert header.index("oldest pending") < header.index("applied")
    assert "1m01s" in first.split()
    assert second.split()[4] == "-"


def test_status_json_prints_every_field(
    settings: Settings, keys: Keys, sync_redis: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = keys.stream(0)
    sync_redis.xadd(stream, {"e": b"x"})
    sync_redis.xgroup_create(stream, GROUP, id="0")
    sync_redis.xreadgroup(GROUP, "stuck", {stream: ">"})
    assert run(["status", "--json"], env=env_for(settings)) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert set(row) == set(PartitionStatus.__dataclass_fields__)
    assert row["pending"] == 1 and row["oldest_pending_age_ms"] >= 0
    assert run(["status"], env=env_for(settings)) == 0
    assert "oldest pending" in capsys.readouterr().out
