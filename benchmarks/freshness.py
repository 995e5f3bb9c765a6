"""Freshness: time from ``emit`` to the event being counted by the dashboard's overview.

    python -m benchmarks.freshness [--rates 1000,5000] [--seconds 10] [--poll-ms 2]

A real projector (``aegis-stream worker``, not burst, default settings) runs
in its own process under a throwaway prefix of the Redis at REDIS_URL
(default 127.0.0.1:6379), so it shares no GIL with this process. Here, one
asyncio loop runs a paced producer and a poller:

* the producer (``AsyncProducer``) wakes every millisecond and emits, in one
  ``emit_many``, the events due by then at the offered rate; each event's
  emit time is taken just before that call, and events are numbered in
  emit order;
* the poller calls the real overview route in process (ASGI, the app of
  ``create_app``) every ``--poll-ms`` and records when each answer arrived
  and its ``total_actions``.

With one partition the projector applies events in stream order, so event
``k`` of a run is visible at the first poll whose total reaches
``base + k``. Its freshness is that poll's arrival minus its emit time: it
includes the producer's round trip, the worker's read and apply and the
overview read, and is late by up to one poll period (the resolution).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aredis
from starlette.types import ASGIApp

from aegis_stream.api import create_app
from aegis_stream.keys import Keys
from aegis_stream.policy import load_policy
from aegis_stream.producer import AsyncProducer
from aegis_stream.settings import Settings
from benchmarks._common import asgi_get, delete_prefix, new_prefix, pct, redis_url, service_env, spawn, stop
from benchmarks._machine import describe
from benchmarks._report import Section
from benchmarks.routes import POLICY, events

OVERVIEW = "/api/v1/dashboard/overview"
TICK_S = 0.001
DRAIN_TIMEOUT_S = 30.0


@dataclass
class Run:
    """One steady run at an offered rate."""

    rate: int
    achieved: float
    latencies: list[float]  # seconds, per event seen
    unseen: int  # events not visible DRAIN_TIMEOUT_S after the last emit
    poll_period_s: float
    worker_cpu: float | None  # the worker's CPU time over the run's wall time


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


async def overview_total(app: ASGIApp) -> int:
    status, body, _ = await asgi_get(app, OVERVIEW)
    if status != 200:
        raise RuntimeError(f"overview answered {status}")
    return int(json.loads(body)["total_actions"])


async def paced(
    producer: AsyncProducer, batch: list[dict[str, Any]], rate: int, emitted: list[float]
) -> float:
    """Emit ``batch`` at ``rate`` events/s, appending each event's emit time; seconds it took."""
    start = time.perf_counter()
    sent = 0
    while sent < len(batch):
        due = min(len(batch), int((time.perf_counter() - start) * rate) + 1)
        if due > sent:
            at = time.perf_counter()
            await producer.emit_many(batch[sent:due])
            emitted.extend([at] * (due - sent))
            sent = due
        await asyncio.sleep(TICK_S)
    return time.perf_counter() - start


async def poll(
    app: ASGIApp, goal: int, producing: asyncio.Task[float], interval_s: float
) -> list[tuple[float, int]]:
    """(arrival, total) of overview polls until the producer is done and ``goal`` is counted."""
    polls: list[tuple[float, int]] = []
    deadline = float("inf")
    while True:
        total = await overview_total(app)
        now = time.perf_counter()
        polls.append((now, total))
        if producing.done():
            if total >= goal or now > deadline:
                return polls
            deadline = min(deadline, now + DRAIN_TIMEOUT_S)
        await asyncio.sleep(interval_s)


def visibility(emitted: list[float], polls: list[tuple[float, int]], base: int) -> list[float]:
    """Seconds from each event's emit to the first poll whose total reaches its number (seen ones)."""
    out: list[float] = []
    for at, total in polls:
        while len(out) < len(emitted) and base + len(out) + 1 <= total:
            out.append(at - emitted[len(out)])
    return out


async def measure_rates(
    url: str, prefix: str, worker: subprocess.Popen[str], rates: list[int], seconds: float, poll_s: float
) -> list[Run]:
    """Warm up (one event, which also waits for the worker to start), then one run per rate."""
    app = create_app(Settings(redis_url=url, key_prefix=prefix), policy=load_policy(POLICY))
    client = aredis.Redis.from_url(url)
    producer = AsyncProducer(client, Keys(prefix))
    now_ms = time.time_ns() // 1_000_000
    runs = []
    try:
        async with app.router.lifespan_context(app):
            await producer.emit({**next(events(1, now_ms, seed=2)), "timestamp": None})
            deadline = time.perf_counter() + 60
            while await overview_total(app) < 1:
                if worker.poll() is not None:
                    raise RuntimeError(f"the worker exited with status {worker.returncode}")
                if time.perf_counter() > deadline:
                    raise RuntimeError("the worker did not count a first event within 60 s")
                await asyncio.sleep(0.05)
            for rate in rates:
                batch = [{**e, "timestamp": None} for e in events(max(1, round(rate * seconds)), now_ms)]
                base = await overview_total(app)
                emitted: list[float] = []
                cpu0, wall0 = cpu_seconds(worker.pid), time.perf_counter()
                producing = asyncio.create_task(paced(producer, batch, rate, emitted))
                polls = await poll(app, base + len(batch), producing, poll_s)
                cpu1, wall = cpu_seconds(worker.pid), time.perf_counter() - wall0
                seen = visibility(emitted, polls, base)
                period = (polls[-1][0] - polls[0][0]) / max(1, len(polls) - 1)
                worker_cpu = (cpu1 - cpu0) / wall if cpu0 is not None and cpu1 is not None else None
                runs.append(
                    Run(
                        rate,
                        len(batch) / producing.result(),
                        seen,
                        len(batch) - len(seen),
                        period,
                        worker_cpu,
                    )
                )
    finally:
        await client.aclose()
    return runs


def measure(url: str, rates: list[int], seconds: float, poll_ms: float) -> list[Run]:
    """Start a worker process on a throwaway prefix, run every rate, stop it and delete the prefix."""
    prefix = new_prefix("fresh")
    proc: subprocess.Popen[str] = spawn(["worker"], service_env(url, prefix))
    try:
        return asyncio.run(measure_rates(url, prefix, proc, rates, seconds, poll_ms / 1000))
    finally:
        stop(proc)
        delete_prefix(url, prefix)


def section(url: str, rates: list[int], seconds: float, poll_ms: float = 2.0) -> Section:
    """The report's freshness table."""
    defaults = Settings()
    out = Section(
        "freshness: emit -> counted by overview (ms)",
        ["offered ev/s", "achieved ev/s", "events", "p50", "p99", "max", "unseen", "poll ms", "worker CPU %"],
        notes=[
            f"{seconds:g} s per rate; one `aegis-stream worker` process with default settings",
            f"(AEGIS_BLOCK_MS={defaults.block_ms}, AEGIS_BATCH_SIZE={defaults.batch_size}, one partition);",
            "AsyncProducer emit_many of the events due every 1 ms; overview polled in process (ASGI);",
            "resolution: one poll period (the poll ms column).",
        ],
    )
    for r in measure(url, rates, seconds, poll_ms):
        lat = r.latencies or [float("nan")]
        cpu = None if r.worker_cpu is None else 100 * r.worker_cpu
        out.add(
            r.rate, round(r.achieved), len(r.latencies), pct(lat, 0.5), pct(lat, 0.99), max(lat) * 1000,
            r.unseen, r.poll_period_s * 1000, cpu, digits=1,
        )  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", default="1000,5000", help="offered events/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="per rate")
    parser.add_argument("--poll-ms", type=float, default=2.0)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    url = redis_url()
    print(describe(url))
    rates = [int(r) for r in args.rates.split(",")]
    print(section(url, rates, args.seconds, args.poll_ms).render(args.markdown))


if __name__ == "__main__":
    main()
