"""Projector throughput per process, beside raw XREADGROUP+XACK on the same entries.

    python -m benchmarks.projector [--events 100000] [--batch 1000]

Uses REDIS_URL (default redis://127.0.0.1:6379/0) under a throwaway key prefix
that is deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time
import uuid

import redis
import redis.asyncio as aredis

from aegis_stream.keys import GROUP, Keys
from aegis_stream.producer import Producer
from aegis_stream.settings import Settings
from aegis_stream.worker import Worker

RISKS = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
APPROVALS = ("auto", "approve", "block")


def sample_events(n: int, now_s: int) -> list[dict[str, object]]:
    return [
        {
            "session_id": f"s-{i % 97}",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now_s - (i % 86_400))),
            "action_type": f"tool_{i % 14}",
            "action_target": f"target-{i % 50}",
            "action_params": {"id": i, "q": "x" * (i % 40)},
            "risk_level": RISKS[i % 4],
            "approval": APPROVALS[i % 3],
            "matched_rule": f"rule_{i % 9}",
            "result_status": "success" if i % 10 else "failed",
            "agent_id": f"agent-{i % 8}",
        }
        for i in range(n)
    ]


async def raw_read_ack(url: str, stream: str, batch: int) -> float:
    """Seconds to read every entry through a group and XACK it, with no processing."""
    r = aredis.Redis.from_url(url)
    await r.xgroup_create(stream, "raw", id="0")
    start = time.perf_counter()
    while True:
        reply = await r.xreadgroup("raw", "c", {stream: ">"}, count=batch)
        if not reply:
            break
        ids = [i for i, _ in reply[0][1]]
        await r.xack(stream, "raw", *ids)
    elapsed = time.perf_counter() - start
    await r.aclose()
    return elapsed


async def projector(url: str, settings: Settings) -> tuple[float, int]:
    r = aredis.Redis.from_url(url)
    start = time.perf_counter()
    applied = await Worker(r, settings).run(burst=True)
    elapsed = time.perf_counter() - start
    await r.aclose()
    return elapsed, applied


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    settings = Settings(redis_url=url, key_prefix=prefix, batch_size=args.batch)
    keys = Keys(prefix)
    client = redis.Redis.from_url(url)
    try:
        events = sample_events(args.events, int(time.time()))
        producer = Producer(client, keys)
        for i in range(0, len(events), 1000):
            producer.emit_many(events[i : i + 1000])
        raw_s = asyncio.run(raw_read_ack(url, keys.stream(0), args.batch))
        proj_s, applied = asyncio.run(projector(url, settings))
        assert applied == args.events, (applied, args.events)
        assert client.xpending(keys.stream(0), GROUP)["pending"] == 0
        server = client.info("server")
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{server.get('server_name', 'redis')} {server.get('valkey_version', server['redis_version'])}"
        )
        print(f"{args.events:,} events, batch {args.batch}")
        print(f"{'what':<36} {'seconds':>8} {'events/s':>10}")
        print(f"{'raw XREADGROUP + XACK':<36} {raw_s:>8.2f} {args.events / raw_s:>10,.0f}")
        print(f"{'projector (decode+project+apply)':<36} {proj_s:>8.2f} {args.events / proj_s:>10,.0f}")
    finally:
        names = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for i in range(0, len(names), 500):
            client.delete(*names[i : i + 500])
        client.close()


if __name__ == "__main__":
    main()
