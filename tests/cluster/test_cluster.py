"""The real pipeline on a local 3-master Redis Cluster with 4 partitions.

Producer (pipelined XADD over several slots) -> burst worker (XGROUP CREATE,
XAUTOCLAIM of entries a crashed consumer left pending, XREADGROUP, the fenced
Lua apply, lease scripts) -> ViewReader (cross-slot pipelines) -> the API.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
import redis.asyncio as aredis
from starlette.testclient import TestClient

from aegis_stream.api import create_app
from aegis_stream.errors import StoreError
from aegis_stream.keys import GROUP, Keys, partition_for
from aegis_stream.producer import Producer
from aegis_stream.reports.grades import compliance_grade
from aegis_stream.settings import Settings
from aegis_stream.store import async_client, cluster_target, sync_client
from aegis_stream.views import Aggregates, ViewReader
from aegis_stream.wire import ENTRY_FIELD
from aegis_stream.worker import Worker
from tests.cluster_util import LocalCluster

PARTITIONS = 4
N_EVENTS = 3000
N_GARBAGE = 3
CRASHED_READ = 150  # entries per partition a "crashed" consumer reads and never acknowledges
RISKS = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
APPROVALS = ("auto", "approve", "block")
STATUSES = ("success", "failed", "blocked", "denied", "skipped", None)
AGENTS = (*(f"agent-{name}" for name in ("alpha", "bravo", "charlie", "delta", "echo", "fox", "golf")), None)
TYPES = tuple(f"tool_{i}" for i in range(12))
RULES = (None, "<default>", "reads", "payments", "pii")


def varied_events(n: int, now: datetime) -> list[dict[str, Any]]:
    """``n`` deterministic, varied events dated within the last six days."""
    rng = random.Random(20261203)
    events = []
    for i in range(n):
        ts = now - timedelta(seconds=rng.randrange(6 * 86_400))
        risk = rng.choice(RISKS)
        events.append(
            {
                "session_id": f"s-{rng.randrange(40)}",
                "timestamp": ts.isoformat() if i % 2 else ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "action_type": rng.choice(TYPES),
                "action_target": f"target/{rng.randrange(1000)}",
                "action_params": {"n": i, "api_key": "k"} if i % 5 == 0 else {"n": i},
                "risk_level": risk.lower() if i % 7 == 0 else risk,
                "approval": rng.choice(APPROVALS),
                "matched_rule": rng.choice(RULES),
                "result_status": rng.choice(STATUSES),
                "agent_id": rng.choice(AGENTS),
            }
        )
    return events


def independent_counts(events: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    """What the views must hold, counted without the product's projection."""
    risks = [e["risk_level"].upper() for e in events]
    totals: Counter[str] = Counter(total=len(events))
    for e, risk in zip(events, risks, strict=True):
        if e["matched_rule"]:
            totals["matched"] += 1
            if e["matched_rule"] != "<default>":
                totals["covered"] += 1
        if risk in ("HIGH", "CRITICAL"):
            totals["high_risk"] += 1
            if e["approval"] == "auto":
                totals["bypass"] += 1
    return {
        "totals": totals,
        "risk": Counter(risks),
        "approval": Counter(e["approval"] for e in events),
        "status": Counter(e["result_status"] or "unknown" for e in events),
        "type": Counter(e["action_type"] for e in events),
        "agent": Counter(e["agent_id"] or "" for e in events),
    }


def expected_score(totals: Counter[str]) -> int:
    """The governance score rules, restated: coverage bands and the 30 % high-risk penalty."""
    total = totals["total"]
    coverage = totals["covered"] / total * 100
    penalty = 25 if coverage < 70 else 10 if coverage < 90 else 0
    if totals["high_risk"] / total * 100 > 30:
        penalty += 10
    return 100 - penalty


def aggregates(settings: Settings) -> Aggregates:
    """The merged views, read through the product's reader on a cluster client."""
    assert settings.redis_url is not None

    async def read() -> Aggregates:
        assert settings.redis_url is not None
        client = async_client(settings.redis_url, cluster=settings.cluster)
        try:
            keys = Keys(settings.key_prefix, settings.views_version, settings.partitions)
            return await ViewReader(client, keys).aggregates()
        finally:
            await client.aclose()

    return asyncio.run(read())


def crash_a_consumer(url: str, keys: Keys) -> int:
    """Create the groups and leave entries pending, as a consumer killed before its apply would."""
    client = redis.RedisCluster.from_url(url)
    left = 0
    try:
        for p in keys.all_partitions():
            client.xgroup_create(keys.stream(p), GROUP, id="0", mkstream=True)
            reply: Any = client.xreadgroup(GROUP, "crashed", {keys.stream(p): ">"}, count=CRASHED_READ)
            left += sum(len(items) for _stream, items in reply)
    finally:
        client.close()
    return left


def keys_per_node(cluster: LocalCluster, prefix: str) -> dict[int, set[str]]:
    """Each node's own keys under ``prefix``, read with a plain client per node."""
    found: dict[int, set[str]] = {}
    for node in cluster.nodes:
        client = node.client()
        try:
            names = {k.decode() for k in client.scan_iter(match=f"{prefix}:*", count=1000)}
        finally:
            client.close()
        if names:
            found[node.port] = names
    return found


@pytest.fixture
def cluster_settings(request: pytest.FixtureRequest, cluster_url: str) -> Settings:
    """Settings for the cluster with a fresh key prefix.

    ``cluster-flag``: ``redis://`` seed URL and ``cluster=True`` (``AEGIS_CLUSTER``);
    ``cluster-scheme``: the ``redis+cluster://`` spelling of the same seed.
    """
    url = cluster_url
    if getattr(request, "param", "") == "cluster-scheme":
        url = url.replace("redis://", "redis+cluster://", 1)
    return Settings(
        redis_url=url,
        key_prefix=f"aegis-cluster-{uuid.uuid4().hex[:10]}",
        partitions=PARTITIONS,
        cluster=True,
        batch_size=500,
        block_ms=50,
        lease_ms=5000,
        claim_idle_ms=0,
    )


@pytest.mark.redis
@pytest.mark.parametrize("cluster_settings", ["cluster-flag", "cluster-scheme"], indirect=True)
def test_pipeline_on_a_cluster(cluster_settings: Settings, local_cluster: LocalCluster) -> None:
    settings = cluster_settings
    assert settings.redis_url is not None
    keys = Keys(settings.key_prefix, settings.views_version, settings.partitions)
    events = varied_events(N_EVENTS, datetime.now(UTC))
    expected = independent_counts(events)

    # produce through the product's producer on a cluster client (pipelines span every node)
    producer_client = sync_client(settings.redis_url, cluster=settings.cluster)
    assert isinstance(producer_client, redis.RedisCluster)
    try:
        producer = Producer(producer_client, keys)
        ids = [i for at in range(0, N_EVENTS, 1000) for i in producer.emit_many(events[at : at + 1000])]
        for p in range(N_GARBAGE):  # undecodable entries must become dead letters
            producer_client.xadd(keys.stream(p), {ENTRY_FIELD: b"\xc1 not msgpack"})
    finally:
        producer_client.close()
    assert len(ids) == N_EVENTS
    per_partition = Counter(partition_for(e["agent_id"], PARTITIONS) for e in events)
    assert len(per_partition) == PARTITIONS, "every partition should receive events"
    pending_before = crash_a_consumer(local_cluster.seed_url, keys)
    assert pending_before == PARTITIONS * CRASHED_READ

    async def drain() -> int:
        assert settings.redis_url is not None
        client = async_client(settings.redis_url, block_ms=settings.block_ms, cluster=settings.cluster)
        assert isinstance(client, aredis.RedisCluster)
        try:
            return await Worker(client, settings).run(burst=True)
        finally:
            await client.aclose()

    assert asyncio.run(drain()) == N_EVENTS
    assert asyncio.run(drain()) == 0  # everything acknowledged: a second burst applies nothing

    # the views, through the product's reader, equal the independent count
    agg = aggregates(settings)
    assert agg.totals == expected["totals"]
    for dim in ("risk", "approval", "status", "type", "agent"):
        assert agg.counts(dim) == dict(expected[dim]), dim

    # the partitions really are spread: distinct slots, and keys on more than one node
    seed: Any = redis.RedisCluster.from_url(local_cluster.seed_url)  # its node helpers are untyped
    try:
        slots = {p: seed.keyslot(keys.stream(p)) for p in keys.all_partitions()}
        owners = {p: seed.get_node_from_key(keys.stream(p)).port for p in keys.all_partitions()}
    finally:
        seed.close()
    assert len(set(slots.values())) == PARTITIONS
    on_nodes = keys_per_node(local_cluster, settings.key_prefix)
    assert len(on_nodes) > 1, on_nodes
    for p in keys.all_partitions():  # each partition's stream and views sit on its slot's owner
        assert keys.stream(p) in on_nodes[owners[p]]
        assert keys.totals(p) in on_nodes[owners[p]]

    # the API, with its own client built from the settings (create_app must pass cluster=settings.cluster)
    with TestClient(create_app(settings), raise_server_exceptions=True) as api:
        overview = api.get("/api/v1/dashboard/overview")
        health = api.get("/api/v1/dashboard/system/health")
        timeline = api.get("/api/v1/dashboard/stats/timeline", params={"period": "7d"})
    assert overview.status_code == 200, overview.text
    body = overview.json()
    assert body["total_actions"] == N_EVENTS
    assert body["risk_distribution"] == dict(expected["risk"])
    assert body["approval_distribution"] == {a: expected["approval"][a] for a in APPROVALS}
    assert body["status_distribution"] == dict(expected["status"])
    score = expected_score(expected["totals"])
    assert (body["compliance_score"], body["compliance_grade"]) == (score, compliance_grade(score))
    assert body["policy_rule_count"] == 0
    assert body["active_agents"] == len({e["agent_id"] for e in events if e["agent_id"]})

    assert health.status_code == 200, health.text
    body = health.json()
    assert body["status"] == "ok"
    assert body["audit_entries"] == N_EVENTS
    pipeline = body["pipeline"]
    parts = pipeline["partitions"]  # a count, or one object per partition
    assert (len(parts) if isinstance(parts, list) else parts) == PARTITIONS
    assert pipeline["stream_length"] == N_EVENTS + N_GARBAGE
    assert (pipeline["pending"], pipeline["lag"]) == (0, 0)
    assert pipeline["dead_letters"] == N_GARBAGE
    assert pipeline["last_applied"] is not None

    assert timeline.status_code == 200, timeline.text
    assert sum(b["total"] for b in timeline.json()["buckets"]) == N_EVENTS


def test_cluster_urls() -> None:
    assert cluster_target("redis+cluster://h:7000") == "redis://h:7000"
    assert cluster_target("rediss+cluster://u:pw@h:7000/0") == "rediss://u:pw@h:7000/0"
    assert cluster_target("redis://h:7000") is None
    assert cluster_target("redis://h:7000", cluster=True) == "redis://h:7000"
    assert isinstance(async_client("redis+cluster://127.0.0.1:7000"), aredis.RedisCluster)
    assert isinstance(async_client("redis://127.0.0.1:7000", cluster=True), aredis.RedisCluster)
    assert type(async_client("redis://127.0.0.1:7000")) is aredis.Redis
    with pytest.raises(StoreError, match="unix socket"):
        async_client("unix:///tmp/redis.sock", cluster=True)
    with pytest.raises(StoreError, match="bad Redis"):
        async_client("redis+cluster://127.0.0.1:7000/3")


@pytest.mark.redis
def test_sync_client_reaches_the_cluster(cluster_url: str) -> None:
    client = sync_client(cluster_url.replace("redis://", "redis+cluster://"))
    assert isinstance(client, redis.RedisCluster)
    helpers: Any = client  # get_primaries and get_connection_kwargs are untyped
    try:
        assert len(helpers.get_primaries()) == 3
        assert helpers.get_connection_kwargs()["socket_timeout"] == pytest.approx(11.0)
    finally:
        client.close()
    with pytest.raises(StoreError, match="Redis Cluster"):
        sync_client("redis+cluster://127.0.0.1:1")
