"""Latency of every dashboard route at growing log sizes, beside the reference's on the same events.

    python -m benchmarks.routes [--sizes 10000,100000,1000000] [--requests 200] [--ref-budget 60]

For each size, the same synthetic events go to aegis-stream (producer, burst
projector, under a throwaway key prefix of the Redis at REDIS_URL, default
127.0.0.1:6379) and to the reference (agent-aegis 1.0.0, its SQLite logger;
rows are inserted straight into its table, which is what its own ``log()``
writes, so that loading a million rows takes seconds). Each route is called
in process through the ASGI interface, sequentially, and p50/p99 are
printed with the ratio reference/ours. The reference gets at most
``--ref-budget`` seconds per route and size; a route it cannot answer within
that shows as "-". Everything made is deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aredis
from starlette.types import ASGIApp

from aegis_stream.api import create_app
from aegis_stream.bundled import data_file
from aegis_stream.keys import Keys
from aegis_stream.policy import load_policy
from aegis_stream.producer import Producer
from aegis_stream.settings import Settings
from aegis_stream.worker import Worker
from benchmarks._common import asgi_get, delete_prefix, new_prefix, pct, redis_url
from benchmarks._machine import describe

POLICY = data_file("airline-policy.yaml")
D = "/api/v1/dashboard"
ROUTES = [
    f"{D}/overview",
    f"{D}/stats/timeline?period=24h",
    f"{D}/stats/timeline?period=30d",
    f"{D}/audit/recent",
    f"{D}/audit/recent?risk_level=high&agent_id=agent-3&limit=20",
    f"{D}/audit/recent?offset=5000&limit=50",
    f"{D}/audit/stats",
    f"{D}/policy/summary",
    f"{D}/policy/score",
    f"{D}/policy/yaml",
    "/api/v1/badge/score",
    f"{D}/compliance/report?type=governance",
    f"{D}/compliance/report?type=soc2",
    f"{D}/compliance/report?type=gdpr",
    f"{D}/compliance/regulatory?framework=eu_ai_act",
    f"{D}/anomalies/profiles",
    f"{D}/anomalies/alerts",
    f"{D}/system/health",
]
TYPES = [
    "get_user_details",
    "search_flight",
    "update_reservation",
    "cancel_reservation",
    "send_email",
    "think",
]


def events(n: int, now_ms: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    """Varied small events over the last 30 days (12 agents, 6 types)."""
    rng = random.Random(seed)
    for i in range(n):
        ms = now_ms - 60_000 - rng.randrange(30 * 86_400_000)
        status = rng.choice(["success", "success", "failed", None])
        yield {
            "session_id": f"s-{i % 500}",
            "timestamp": datetime.fromtimestamp(ms / 1000, UTC).isoformat(),
            "action_type": rng.choice(TYPES),
            "action_target": f"user_{rng.randrange(5000)}",
            "action_params": {"id": i},
            "risk_level": rng.choice(["LOW", "LOW", "MEDIUM", "HIGH", "CRITICAL"]),
            "approval": rng.choice(["auto", "auto", "approve", "block"]),
            "matched_rule": rng.choice(["lookups", "changes", "<default>"]),
            "result_status": status,
            "agent_id": f"agent-{rng.randrange(12)}",
        }


async def call(app: ASGIApp, path: str) -> float:
    """One GET straight through the ASGI interface; seconds (anything but 200 raises)."""
    status, _, elapsed = await asgi_get(app, path)
    if status != 200:
        raise RuntimeError(f"{path} answered {status}")
    return elapsed


async def timed(app: ASGIApp, path: str, requests: int, budget_s: float) -> list[float] | None:
    """Latencies of up to ``requests`` calls within ``budget_s`` (None if not even one fits)."""
    out: list[float] = []
    deadline = time.perf_counter() + budget_s
    for _ in range(requests):
        out.append(await call(app, path))
        if time.perf_counter() > deadline:
            break
    return out if out and sum(out) <= budget_s * 1.5 else None


def load_ours(url: str, prefix: str, n: int, now_ms: int) -> Settings:
    """Append ``n`` events under ``prefix`` and project them (burst); the settings to read them."""
    settings = Settings(redis_url=url, key_prefix=prefix)
    client = redis.Redis.from_url(url)
    try:
        producer = Producer(client, Keys(prefix))
        batch: list[dict[str, Any]] = []
        for event in events(n, now_ms):
            batch.append(event)
            if len(batch) == 5000:
                producer.emit_many(batch)
                batch = []
        producer.emit_many(batch)
    finally:
        client.close()

    async def project() -> None:
        r = aredis.Redis.from_url(url)
        await Worker(r, settings).run(burst=True)
        await r.aclose()

    asyncio.run(project())
    return settings


async def asgi_latencies(settings: Settings, requests: int) -> dict[str, list[float] | None]:
    """Every route of an app on ``settings``, in process, sequentially: latencies in seconds."""
    app = create_app(settings, policy=load_policy(POLICY))
    out: dict[str, list[float] | None] = {}
    async with app.router.lifespan_context(app):
        for path in ROUTES:
            await call(app, path)  # warm up
            out[path] = await timed(app, path, requests, budget_s=60)
    return out


def bench_ours(url: str, n: int, now_ms: int, requests: int) -> dict[str, list[float] | None]:
    """Load ``n`` events under a throwaway prefix, time every route in process, delete the prefix."""
    prefix = new_prefix("routes")
    try:
        return asyncio.run(asgi_latencies(load_ours(url, prefix, n, now_ms), requests))
    finally:
        delete_prefix(url, prefix)


def bench_reference(n: int, now_ms: int, requests: int, budget_s: float) -> dict[str, list[float] | None]:
    from aegis.core.action import Action
    from aegis.core.anomaly import AnomalyDetector
    from aegis.core.policy import Policy
    from aegis.runtime.audit import AuditLogger
    from aegis.server.dashboard_api import get_dashboard_routes
    from starlette.applications import Starlette

    with tempfile.TemporaryDirectory() as tmp:
        logger = AuditLogger(Path(tmp) / "aegis_audit.db")
        rows = (
            (
                e["session_id"],
                e["timestamp"],
                e["action_type"],
                e["action_target"],
                json.dumps(e["action_params"]),
                None,
                e["risk_level"],
                e["approval"],
                e["matched_rule"],
                None,
                e["result_status"],
                None,
                None,
                e["agent_id"],
                None,
                None,
                0,
            )
            for e in events(n, now_ms)
        )
        conn = logger._conn  # the logger's own connection and table (see the module docstring)
        conn.executemany(
            "INSERT INTO audit_log (session_id, timestamp, action_type, action_target, action_params,"
            " action_desc, risk_level, approval, matched_rule, human_decision, result_status, result_data,"
            " result_error, agent_id, parent_agent_id, chain_id, chain_depth)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.commit()
        detector = AnomalyDetector()  # fed as an embedding application would
        for e in events(n, now_ms):
            action = Action(type=e["action_type"], target=e["action_target"], agent_id=e["agent_id"])
            detector.record(action, e["agent_id"], blocked=e["approval"] == "block")
        app = Starlette(
            routes=get_dashboard_routes(
                policy=Policy.from_yaml(POLICY), audit_logger=logger, anomaly_detector=detector
            )
        )

        async def run() -> dict[str, list[float] | None]:
            out: dict[str, list[float] | None] = {}
            for path in ROUTES:
                out[path] = await timed(app, path, requests, budget_s)
            return out

        result = asyncio.run(run())
        logger.close()
        return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--ref-budget", type=float, default=60.0, help="seconds per route and size")
    parser.add_argument("--no-reference", action="store_true")
    args = parser.parse_args()
    url = redis_url()
    sizes = [int(s) for s in args.sizes.split(",")]
    now_ms = time.time_ns() // 1_000_000
    print(describe(url) + f"; in-process ASGI, sequential, up to {args.requests} requests per route")
    results: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
    for n in sizes:
        ours = bench_ours(url, n, now_ms, args.requests)
        theirs = (
            {}
            if args.no_reference
            else bench_reference(n, now_ms, max(5, args.requests // 10), args.ref_budget)
        )
        results[n] = (ours, theirs)

    def show(s: list[float] | None) -> str:
        return f"{pct(s, 0.5):8.2f} {pct(s, 0.99):8.2f}" if s else f"{'-':>8} {'-':>8}"

    print(f"{'route':<62} {'events':>9} {'ours p50':>8} {'p99':>8} {'ref p50':>8} {'p99':>8} {'ref/ours':>9}")
    for path in ROUTES:
        for n in sizes:
            ours, theirs = results[n]
            mine, ref = ours.get(path), theirs.get(path)
            ratio = f"{pct(ref, 0.5) / pct(mine, 0.5):9.0f}" if mine and ref else f"{'-':>9}"
            print(f"{path.removeprefix(D):<62} {n:>9,} {show(mine)} {show(ref)} {ratio}")
    largest, smallest = results[sizes[-1]][0], results[sizes[0]][0]
    growth = []
    for p in ROUTES:
        big, small = largest.get(p), smallest.get(p)
        if big and small:
            growth.append(f"{p.removeprefix(D)} {pct(big, 0.99) / pct(small, 0.99):.2f}x")
    print(f"\nlatencies in ms; p99 at {sizes[-1]:,} events over p99 at {sizes[0]:,}: " + ", ".join(growth))


if __name__ == "__main__":
    main()
