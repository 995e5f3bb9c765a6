"""``GET /metrics`` and ``system/health``'s per-partition list, against values computed from the events."""

from __future__ import annotations

import time
import zlib
from collections import Counter
from collections.abc import Callable
from typing import Any

import redis
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from aegis_stream.keys import GROUP, Keys
from aegis_stream.settings import Settings
from tests.api.test_dashboard import iso
from tests.conftest import event_dict

DAY = 86_400_000
PARTITION_FIELDS = {
    "partition",
    "length",
    "pending",
    "lag",
    "oldest_pending_age_ms",
    "checkpoint",
    "applied_events",
    "last_applied_ms",
    "dead_letters",
    "late_events",
    "duplicates",
}


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def scrape(client: TestClient, **headers: str) -> dict[tuple[str, str | None], float]:
    """``(sample name, partition label) -> value`` of every sample."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, sample.labels.get("partition")): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def partition_of(agent: str, partitions: int) -> str:
    return str(zlib.crc32(agent.encode()) % partitions)


def two_partition_events(now_ms: int) -> list[dict[str, Any]]:
    """Six agents, some events far too old for any timeline (late)."""
    out = []
    for i in range(90):
        age = 60 * DAY if i % 10 == 0 else (i * 37 * 60_000) % (5 * DAY)
        out.append(event_dict(agent_id=f"agent-{i % 6}", timestamp=iso(now_ms - age), event_id=f"ev-{i}"))
    return out


def expected_counts(events: list[dict[str, Any]], partitions: int) -> tuple[Counter[str], Counter[str]]:
    applied: Counter[str] = Counter()
    late: Counter[str] = Counter()
    now = wall_ms()
    for e in events:
        p = partition_of(e["agent_id"], partitions)
        applied[p] += 1
        if e["timestamp"] < iso(now - 40 * DAY):
            late[p] += 1
    return applied, late


def test_metrics_after_loading_events_on_two_partitions(
    serve: Callable[..., TestClient], settings: Settings, sync_redis: redis.Redis
) -> None:
    keys = Keys(settings.key_prefix, settings.views_version, 2)
    sync_redis.xadd(keys.stream(0), {"junk": b"not an event"})  # a dead letter in partition 0
    events = two_partition_events(wall_ms())
    applied, late = expected_counts(events, 2)
    assert set(applied) == {"0", "1"} and sum(late.values()) == 9
    # the worker's and the API's clock: an hour ahead, so an entry left pending below has a known age
    now_ms = wall_ms() + 3_600_000
    client = serve(events, now_ms=now_ms, partitions=2)

    m = scrape(client)

    assert m[("aegis_stream_audit_events_total", None)] == len(events)
    for p in ("0", "1"):
        dead = 1 if p == "0" else 0
        assert m[("aegis_stream_stream_length", p)] == applied[p] + dead
        assert m[("aegis_stream_pending_entries", p)] == 0
        assert m[("aegis_stream_lag_entries", p)] == 0
        assert m[("aegis_stream_oldest_pending_age_seconds", p)] == 0
        assert m[("aegis_stream_applied_events_total", p)] == applied[p]
        assert m[("aegis_stream_dead_letters_total", p)] == dead
        assert m[("aegis_stream_late_events_total", p)] == late[p]
        assert m[("aegis_stream_last_applied_timestamp_seconds", p)] == now_ms / 1000

    # partition 1: one entry read by a consumer that never acknowledges it
    raw_id = sync_redis.xadd(keys.stream(1), {"e": b"x"})
    entry_id = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
    sync_redis.xreadgroup(GROUP, "stuck", {keys.stream(1): ">"})
    m = scrape(client)
    assert m[("aegis_stream_pending_entries", "1")] == 1
    assert m[("aegis_stream_stream_length", "1")] == applied["1"] + 1
    expected_age = (now_ms - int(entry_id.split("-")[0])) / 1000
    assert m[("aegis_stream_oldest_pending_age_seconds", "1")] == expected_age
    assert m[("aegis_stream_oldest_pending_age_seconds", "0")] == 0

    # system/health: the five keys, then pipeline totals and one object per partition
    body = client.get("/api/v1/dashboard/system/health").json()
    assert list(body) == [
        "status",
        "version",
        "audit_entries",
        "policy_rules",
        "anomaly_detector",
        "pipeline",
    ]
    pipeline = body["pipeline"]
    assert pipeline["stream_length"] == len(events) + 2
    assert pipeline["pending"] == 1 and pipeline["lag"] == 0
    assert pipeline["dead_letters"] == 1 and pipeline["late_events"] == 9
    assert pipeline["oldest_pending_age_ms"] == expected_age * 1000
    parts = pipeline["partitions"]
    assert [p["partition"] for p in parts] == [0, 1]
    assert all(set(p) == PARTITION_FIELDS for p in parts)
    assert [p["length"] for p in parts] == [applied["0"] + 1, applied["1"] + 1]
    assert [p["pending"] for p in parts] == [0, 1]
    assert [p["oldest_pending_age_ms"] for p in parts] == [None, expected_age * 1000]
    assert [p["applied_events"] for p in parts] == [applied["0"], applied["1"]]
    assert [p["dead_letters"] for p in parts] == [1, 0]
    assert [p["late_events"] for p in parts] == [late["0"], late["1"]]
    assert [p["last_applied_ms"] for p in parts] == [now_ms, now_ms]
    assert all(p["checkpoint"] for p in parts)


def test_metrics_of_an_empty_store(serve: Callable[..., TestClient]) -> None:
    m = scrape(serve([], now_ms=wall_ms()))
    assert m[("aegis_stream_audit_events_total", None)] == 0
    assert m[("aegis_stream_stream_length", "0")] == 0
    assert m[("aegis_stream_pending_entries", "0")] == 0
    assert m[("aegis_stream_applied_events_total", "0")] == 0
    assert ("aegis_stream_last_applied_timestamp_seconds", "0") not in m  # never applied


def test_metrics_need_the_dashboard_token(serve: Callable[..., TestClient]) -> None:
    client = serve([], now_ms=wall_ms(), api_token="s3cret")
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"X-API-Key": "wrong"}).status_code == 401
    assert scrape(client, authorization="Bearer s3cret")[("aegis_stream_audit_events_total", None)] == 0
    assert client.get("/health").status_code == 200


def test_apps_do_not_share_metrics(serve: Callable[..., TestClient], settings: Settings) -> None:
    one = serve([event_dict(event_id="a")], now_ms=wall_ms())
    other = serve([], now_ms=wall_ms(), key_prefix=settings.key_prefix + "-other")
    assert scrape(one)[("aegis_stream_audit_events_total", None)] == 1
    assert scrape(other)[("aegis_stream_audit_events_total", None)] == 0


def test_metrics_store_down_gives_503(serve: Callable[..., TestClient]) -> None:
    client = serve([], now_ms=wall_ms(), redis_url="redis://127.0.0.1:1/0")
    assert client.get("/metrics").status_code == 503
