"""Projector throughput per process, beside raw XREADGROUP+XACK on the same entries.

Two data sets: the bundled real tau-bench sample (repeated, each event with
its own event_id) and synthetic events whose fields vary independently (the
worst case for pre-aggregation), each appended unsigned and signed (the
producers and the projector share AEGIS_SIGNING_KEY, so the projector does
not walk params and tool replies again). The process collects garbage as
``aegis-stream worker`` does (aegis_stream.worker.tuning).

    python -m benchmarks.projector [--events 100000] [--batch 1000]

Uses REDIS_URL (default redis://127.0.0.1:6379/0) under a throwaway key prefix
that is deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import redis
import redis.asyncio as aredis

from aegis_stream.bundled import DEMO_SAMPLE, data_file
from aegis_stream.events import AuditEvent, event_to_dict
from aegis_stream.importers import read_events
from aegis_stream.keys import GROUP, Keys
from aegis_stream.producer import Producer
from aegis_stream.settings import Settings
from aegis_stream.signing import signer_for
from aegis_stream.worker import Worker
from aegis_stream.worker.tuning import tune_for_batches
from benchmarks._common import delete_prefix, new_prefix, redis_url
from benchmarks._machine import describe
from benchmarks._report import Section

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
        reply: Any = await r.xreadgroup("raw", "c", {stream: ">"}, count=batch)
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


def real_events(n: int, now_s: int) -> list[dict[str, object]]:
    """The bundled real tau-bench sample, repeated to ``n`` events and re-timed over the last day."""
    sample = data_file(DEMO_SAMPLE)
    base = [
        event_to_dict(e) for e in read_events(sample, now_us=now_s * 1_000_000) if isinstance(e, AuditEvent)
    ]
    out = []
    for i in range(n):
        event = dict(base[i % len(base)])
        event["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now_s - (i % 86_400)))
        event["event_id"] = f"bench-{i}"
        out.append(event)
    return out


def script_time(client: redis.Redis) -> tuple[int, int]:
    """(calls, microseconds) the server has spent in EVALSHA so far (INFO commandstats)."""
    stats = client.info("commandstats").get("cmdstat_evalsha", {})
    return int(stats.get("calls", 0)), int(stats.get("usec", 0))


SIGNING_KEY = "benchmark-signing-key-" + "0" * 16


def measure(
    url: str, events: list[dict[str, object]], batch: int, *, signed: bool
) -> tuple[float, float, float]:
    """Seconds for raw read+ack and for the projector, and server ms per apply script call."""
    prefix = new_prefix("projector")
    key = SIGNING_KEY if signed else None
    settings = Settings(redis_url=url, key_prefix=prefix, batch_size=batch, signing_key=key)
    keys = Keys(prefix)
    client = redis.Redis.from_url(url)
    try:
        producer = Producer(client, keys, signer=signer_for(key))
        for i in range(0, len(events), 1000):
            producer.emit_many(events[i : i + 1000])
        raw_s = asyncio.run(raw_read_ack(url, keys.stream(0), batch))
        calls0, usec0 = script_time(client)
        proj_s, applied = asyncio.run(projector(url, settings))
        calls1, usec1 = script_time(client)
        assert applied == len(events), (applied, len(events))
        assert client.xpending(keys.stream(0), GROUP)["pending"] == 0
        # (other scripts, the lease renewals, are few and short; this is an upper bound)
        per_call_ms = (usec1 - usec0) / max(1, calls1 - calls0) / 1000
        return raw_s, proj_s, per_call_ms
    finally:
        client.close()
        delete_prefix(url, prefix)


def section(url: str, n: int, batch: int) -> Section:
    """The report's projector table: both data sets, ``n`` events each."""
    now = int(time.time())
    out = Section(
        "projector throughput (one process)",
        ["data set", "events", "raw read+ack ev/s", "projector ev/s", "ratio", "ms/script"],
        notes=[
            f"burst Worker, batches of {batch}; raw: XREADGROUP + XACK of the same entries, no processing;",
            "signed: producers and projector share AEGIS_SIGNING_KEY (params, tool replies not walked);",
            "ms/script: server time per apply script (INFO commandstats).",
        ],
    )
    tune_for_batches()
    for name, events in (
        ("real tau-bench sample", real_events(n, now)),
        ("synthetic, high cardinality", sample_events(n, now)),
    ):
        for signed in (False, True):
            raw_s, proj_s, script_ms = measure(url, events, batch, signed=signed)
            entries = "signed" if signed else "unsigned"
            out.add(f"{name}, {entries}", n, round(n / raw_s), round(n / proj_s), raw_s / proj_s, script_ms)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    url = redis_url()
    print(describe(url))
    print(section(url, args.events, args.batch).render(args.markdown))


if __name__ == "__main__":
    main()
