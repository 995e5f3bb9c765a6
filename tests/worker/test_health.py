"""The worker's health record and ``aegis-stream worker --check``: verdicts, a real worker, failures."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aredis

from aegis_stream.cli import run
from aegis_stream.clock import wall_clock_ms
from aegis_stream.keys import Keys
from aegis_stream.settings import Settings
from aegis_stream.worker import Worker
from aegis_stream.worker.health import (
    BEAT_EVERY_MS,
    CHECK_TIMEOUT_S,
    Heartbeat,
    PartitionHealth,
    check,
    decode,
    judge,
    stale_after_ms,
    verdict,
)
from tests.test_cli import env_for
from tests.worker.test_projector import generated, produce

NOW = 1_800_000_000_000
HOST = socket.gethostname()


def record(
    age_ms: int = 100, partitions: dict[str, dict[str, Any]] | None = None, stale: int = 16_000
) -> dict[str, Any]:
    default = {"0": {"active": True, "applied": 7, "error": None, "seen_ms": NOW - age_ms}}
    return {
        "consumer": "w-1",
        "pid": 1,
        "host": "h",
        "started_ms": NOW - 60_000,
        "heartbeat_ms": NOW - age_ms,
        "stale_after_ms": stale,
        "partitions": default if partitions is None else partitions,
    }


def part(
    active: bool = False, error: str | None = None, seen_ago: int = 0, applied: int = 0
) -> dict[str, Any]:
    return {"active": active, "applied": applied, "error": error, "seen_ms": NOW - seen_ago}


@pytest.mark.parametrize(
    ("rec", "healthy", "fragment"),
    [
        (None, False, "no health record"),
        (record(), True, "worker w-1 healthy: 1 active, 0 standing by, 7 events applied"),
        (record(age_ms=-500), True, "last heartbeat 0.0s ago"),  # the worker's clock is a little ahead
        (record(age_ms=16_000), True, "healthy"),
        (record(age_ms=16_001), False, "last heartbeat 16.0s ago (stale after 16.0s)"),
        (record(partitions={"0": part(), "1": part()}), True, "0 active, 2 standing by"),
        (record(partitions={"0": part(error="ConnectionError: x")}), False, "every partition is backing off"),
        (
            record(partitions={"0": part(active=True, applied=3), "1": part(error="ResponseError: OOM")}),
            True,
            "1 active, 0 standing by, 1 backing off, 3 events applied",
        ),
        (
            record(partitions={"0": part(error="A: a"), "1": part(error="B: b")}),
            False,
            "(partition 0: A: a)",
        ),
        (record(partitions={"0": part(), "3": part(seen_ago=20_000)}), False, "partition 3 stuck"),
        (record(partitions={}), True, "0 active"),
        ({}, False, "unreadable health record"),
        ({**record(), "heartbeat_ms": "soon"}, False, "unreadable"),
        ({**record(), "partitions": [1, 2]}, False, "unreadable"),
        ({**record(), "partitions": {"x": part()}}, False, "unreadable"),
    ],
)
def test_verdict(rec: dict[str, Any] | None, healthy: bool, fragment: str) -> None:
    result = verdict(rec, NOW)
    assert result.healthy is healthy
    assert fragment in result.message


def test_judge_takes_any_healthy_record_and_otherwise_every_reason() -> None:
    stale = record(age_ms=60_000)
    assert judge([stale, record()], NOW, who="host 'h'").healthy
    both = judge([stale, None, {}], NOW, who="host 'h'")
    assert not both.healthy
    assert "stale" in both.message and "no health record" in both.message and "unreadable" in both.message
    for records in ([], [None]):
        assert judge(records, NOW, who="host 'h'").message == "no projector worker health record for host 'h'"


def test_decode_and_staleness_bound() -> None:
    assert decode(None) is None
    assert decode(b'{"a": 1}') == {"a": 1}
    for bad in (b"[1]", b"{nope"):
        with pytest.raises(ValueError):
            decode(bad)
    # the longest pause of a healthy loop: standing by (lease / 2), a blocking read, or backing off
    assert stale_after_ms(1000, 10_000, 5000) == 3 * 5000 + BEAT_EVERY_MS
    assert stale_after_ms(60_000, 10_000, 5000) == 3 * 60_000 + BEAT_EVERY_MS


async def test_the_heartbeat_is_written_at_most_once_a_second_with_a_ttl(
    keys: Keys, async_redis: aredis.Redis
) -> None:
    now = {"ms": NOW}
    beat = Heartbeat(
        async_redis, keys, "w-1", pid=1, host="h", clock=lambda: now["ms"], stale_after_ms=16_000
    )
    beat.partitions = {0: PartitionHealth(active=True, applied=5, seen_ms=NOW)}
    writes = []
    for step in (0, 400, 999, 1000, 1500, 2100):
        now["ms"] = NOW + step
        await beat.maybe_beat()
        stored = decode(await async_redis.get(keys.worker_health("w-1")))
        assert stored is not None
        writes.append(stored["heartbeat_ms"] - NOW)
    assert writes == [0, 0, 0, 1000, 1000, 2100]
    assert 16_000 < await async_redis.pttl(keys.worker_health("w-1")) <= 32_000
    assert await async_redis.zscore(keys.worker_index(), "w-1") == NOW + 2100 + 32_000
    await beat.clear()
    assert await async_redis.exists(keys.worker_health("w-1"), keys.worker_index()) == 0
    await beat.maybe_beat()  # a loop still finishing after the stop does not bring it back
    assert await async_redis.exists(keys.worker_health("w-1")) == 0


Started = tuple[Worker, Callable[[], None]]


@pytest.fixture
def running_worker(settings: Settings) -> Iterator[Callable[[], Started]]:
    """Start a worker in a thread (the checker runs in the main thread, like a probe beside it).

    Returns the worker and a function that stops it (thread-safe).
    """
    started: list[tuple[Worker, asyncio.AbstractEventLoop]] = []
    threads: list[threading.Thread] = []

    def start() -> Started:
        ready = threading.Event()

        async def main() -> None:
            assert settings.redis_url
            client = aredis.Redis.from_url(settings.redis_url)
            worker = Worker(client, settings)
            started.append((worker, asyncio.get_running_loop()))
            ready.set()
            try:
                await worker.run()
            finally:
                await client.aclose()

        thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
        thread.start()
        threads.append(thread)
        assert ready.wait(10)
        worker, loop = started[-1]
        return worker, lambda: loop.call_soon_threadsafe(worker.stop)

    yield start
    for worker, loop in started:
        if not loop.is_closed():
            loop.call_soon_threadsafe(worker.stop)
    for thread in threads:
        thread.join(15)


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_a_running_worker_is_healthy_and_a_stopped_one_is_not(
    settings: Settings,
    keys: Keys,
    sync_redis: redis.Redis,
    running_worker: Callable[[], Started],
    capsys: pytest.CaptureFixture[str],
) -> None:
    produce(settings, keys, generated(20))
    worker, stop = running_worker()

    def applied_in_record() -> bool:
        stored = decode(sync_redis.get(keys.worker_health(worker.consumer)))
        return stored is not None and stored["partitions"]["0"]["applied"] == 20

    wait_until(applied_in_record)
    stored = decode(sync_redis.get(keys.worker_health(worker.consumer)))
    assert stored is not None
    assert (stored["consumer"], stored["pid"], stored["host"]) == (worker.consumer, os.getpid(), HOST)
    assert stored["partitions"]["0"]["active"] is True and stored["partitions"]["0"]["error"] is None

    assert run(["worker", "--check"], env=env_for(settings)) == 0  # found by this host's name
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and f"worker {worker.consumer} healthy: 1 active" in out
    assert "20 events applied" in out
    assert run(["worker", "--check"], env={**env_for(settings), "AEGIS_CONSUMER": worker.consumer}) == 0
    assert run(["worker", "--check"], env={**env_for(settings), "AEGIS_CONSUMER": "someone-else"}) == 1
    assert "no projector worker health record for consumer 'someone-else'" in capsys.readouterr().err

    stop()
    wait_until(lambda: sync_redis.exists(keys.worker_health(worker.consumer)) == 0)
    assert sync_redis.zcard(keys.worker_index()) == 0
    assert run(["worker", "--check"], env=env_for(settings)) == 1
    assert f"worker unhealthy: no projector worker health record for host {HOST!r}" in capsys.readouterr().err


def test_a_burst_worker_leaves_no_health_record(
    settings: Settings, keys: Keys, sync_redis: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    produce(settings, keys, generated(3))
    assert run(["worker", "--burst"], env=env_for(settings)) == 0
    assert sync_redis.keys(f"{settings.key_prefix}:workers*") == []
    assert run(["worker", "--check"], env=env_for(settings)) == 1
    assert "no projector worker health record" in capsys.readouterr().err


def test_a_stale_record_is_unhealthy(
    settings: Settings, keys: Keys, sync_redis: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    long_ago = wall_clock_ms() - 60_000  # the worker stopped beating a minute ago; its key lives on

    async def write() -> None:
        assert settings.redis_url
        client = aredis.Redis.from_url(settings.redis_url)
        beat = Heartbeat(client, keys, "w-9", pid=9, host=HOST, clock=lambda: long_ago, stale_after_ms=16_000)
        beat.partitions = {0: PartitionHealth(active=True, seen_ms=long_ago)}
        await beat.beat(long_ago)
        await client.aclose()

    asyncio.run(write())
    sync_redis.pexpire(keys.worker_health("w-9"), 60_000)
    sync_redis.zadd(keys.worker_index(), {"w-9": wall_clock_ms() + 60_000})
    assert run(["worker", "--check"], env=env_for(settings)) == 1
    assert "worker unhealthy: worker w-9: last heartbeat 60." in capsys.readouterr().err


async def test_a_worker_backing_off_on_every_partition_is_unhealthy(
    settings: Settings, keys: Keys, async_redis: aredis.Redis
) -> None:
    produce(settings, keys, generated(5))
    await async_redis.hset(keys.checkpoint(0), "id", "garbage")  # a corrupted checkpoint
    worker = Worker(async_redis, settings)
    task = asyncio.create_task(worker.run())
    try:
        deadline = time.monotonic() + 15
        while True:
            found = await check(settings, host=HOST, clock=wall_clock_ms)
            if not found.healthy and "backing off" in found.message:
                break
            assert time.monotonic() < deadline, found.message
            await asyncio.sleep(0.05)
        assert f"worker {worker.consumer}: every partition is backing off on errors (partition 0: " in (
            found.message
        )
        await async_redis.hdel(keys.checkpoint(0), "id")  # the operator repairs it
        deadline = time.monotonic() + 15
        while not (
            await check(
                settings.with_overrides(consumer=worker.consumer), host="elsewhere", clock=wall_clock_ms
            )
        ).healthy:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    finally:
        worker.stop()
        await asyncio.wait_for(task, timeout=15)
    assert await async_redis.exists(keys.worker_health(worker.consumer)) == 0


def test_an_unreachable_store_fails_the_check_quickly(capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    assert run(["worker", "--check"], env={"REDIS_URL": "redis://127.0.0.1:1/0"}) == 1
    assert time.monotonic() - started < CHECK_TIMEOUT_S + 1
    assert "worker unhealthy: cannot read the store:" in capsys.readouterr().err


def test_a_store_that_never_answers_fails_the_check_within_its_timeout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as silent:  # accepts connections (the kernel does) and never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        started = time.monotonic()
        assert run(["worker", "--check"], env={"REDIS_URL": f"redis://127.0.0.1:{port}/0"}) == 1
        assert time.monotonic() - started < CHECK_TIMEOUT_S + 1.5
    assert f"the store did not answer within {CHECK_TIMEOUT_S:g}s" in capsys.readouterr().err


def test_the_check_never_starts_an_engine_and_refuses_bad_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    assert run(["worker", "--check"], env={"AEGIS_DATA_DIR": str(data)}) == 1
    assert f"no embedded engine is running in {data}" in capsys.readouterr().err
    assert not (data / "engine.json").exists()
    assert run(["worker", "--check"], env={"AEGIS_LOG_FORMAT": "xml"}) == 2
    assert "AEGIS_LOG_FORMAT must be one of text, json" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        run(["worker", "--check", "--burst"])
    assert exit_.value.code == 2


@pytest.mark.redis
def test_a_probe_process_beside_a_worker_process(
    settings: Settings, keys: Keys, sync_redis: redis.Redis
) -> None:
    """As a Kubernetes exec probe runs: another process, same host, the worker's pid unknown."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "AEGIS_"))}
    env.update(env_for(settings), AEGIS_LOG_LEVEL="WARNING")
    command = [sys.executable, "-m", "aegis_stream", "worker"]

    def probe_once() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, "--check"], env=env, capture_output=True, text=True, timeout=20, check=False
        )

    worker = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        name = f"{HOST}-{worker.pid}"

        def active() -> bool:
            stored = decode(sync_redis.get(keys.worker_health(name)))
            return stored is not None and stored["partitions"]["0"]["active"] is True

        wait_until(active, timeout=20)
        probe = probe_once()
        assert probe.returncode == 0, probe.stderr
        assert probe.stdout.startswith(f"worker {name} healthy: 1 active") and probe.stderr == ""
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=15)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
    assert worker.returncode == 0
    probe = probe_once()
    assert probe.returncode == 1 and probe.stdout == ""
    assert (
        probe.stderr
        == f"aegis-stream: worker unhealthy: no projector worker health record for host {HOST!r}\n"
    )
    assert sync_redis.keys(f"{settings.key_prefix}:workers*") == []
