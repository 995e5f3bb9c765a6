"""A server the test started is flushed, restarted, or not up yet: the worker recovers by itself."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aredis

from aegis_stream.engine import EmbeddedEngine
from aegis_stream.keys import Keys
from aegis_stream.producer import Producer
from aegis_stream.settings import Settings
from aegis_stream.store import async_client
from aegis_stream.worker import Worker
from tests.worker.test_projector import generated

pytestmark = pytest.mark.redis


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[EmbeddedEngine]:
    server = EmbeddedEngine(tmp_path / "engine")
    try:
        yield server
    finally:
        server.stop()


async def within(seconds: float, check: Callable[[], Awaitable[bool]]) -> float:
    """Wait until ``check`` holds; returns how long it took (fails after ``seconds``)."""
    start = time.monotonic()
    while True:
        try:
            if await check():
                return time.monotonic() - start
        except redis.RedisError:
            pass
        assert time.monotonic() - start < seconds, f"not recovered within {seconds} s"
        await asyncio.sleep(0.05)


def produce(url: str, keys: Keys, n: int) -> None:
    client = redis.Redis.from_url(url)
    try:
        Producer(client, keys).emit_many(generated(n))
    finally:
        client.close()


async def run_worker_against(url: str, settings: Settings) -> tuple[Worker, asyncio.Task[int], aredis.Redis]:
    client = async_client(url, block_ms=settings.block_ms)
    worker = Worker(client, settings)
    return worker, asyncio.create_task(worker.run()), client


async def test_flushall_and_restart(engine: EmbeddedEngine) -> None:
    url = engine.start()
    settings = Settings(redis_url=url, key_prefix="loss", block_ms=100, lease_ms=500)
    keys = Keys("loss")
    worker, task, client = await run_worker_against(url, settings)
    probe = aredis.Redis.from_url(url)

    async def total_is(n: int) -> bool:
        return await probe.hget(keys.totals(0), "total") == str(n).encode()

    try:
        produce(url, keys, 40)
        await within(10, lambda: total_is(40))
        await probe.flushall()  # our own server: stream, group, lease and views all gone
        produce(url, keys, 25)
        await within(10, lambda: total_is(25))
        engine.stop()  # a restart: the data is on disk (AOF)
        engine.start()
        await probe.aclose()
        probe = aredis.Redis.from_url(url)
        produce(url, keys, 5)
        await within(10, lambda: total_is(30))
    finally:
        worker.stop()
        await asyncio.wait_for(task, timeout=10)
        await client.aclose()
        await probe.aclose()


async def test_a_worker_started_before_the_server_waits_for_it(
    engine: EmbeddedEngine, tmp_path: Path
) -> None:
    url = f"unix://{tmp_path / 'engine' / 'engine.sock'}"  # where the engine will listen
    settings = Settings(redis_url=url, key_prefix="early", block_ms=100, lease_ms=500)
    keys = Keys("early")
    worker, task, client = await run_worker_against(url, settings)
    try:
        await asyncio.sleep(0.3)  # the worker is retrying meanwhile; this is not a synchronisation
        assert not task.done()
        assert engine.start() == url
        produce(url, keys, 12)
        probe = aredis.Redis.from_url(url)
        try:
            await within(10, lambda: _equals(probe, keys, b"12"))
        finally:
            await probe.aclose()
    finally:
        worker.stop()
        await asyncio.wait_for(task, timeout=10)
        await client.aclose()


async def _equals(probe: aredis.Redis, keys: Keys, value: bytes) -> bool:
    return await probe.hget(keys.totals(0), "total") == value
