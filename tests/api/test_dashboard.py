"""The four issue-2 routes agree with values computed independently from the same events."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from aegis_stream.errors import ConfigError
from aegis_stream.keys import Keys
from aegis_stream.policy import parse_policy
from tests.conftest import event_dict

H = 3_600_000
NOW_MS = time.time_ns() // 1_000_000 // H * H + 17 * 60_000  # real time (the server expires buckets)
RISKS = ("MEDIUM", "LOW", "CRITICAL", "HIGH")
APPROVALS = ("approve", "block", "auto")
STATUSES = ("failed", None, "success", "blocked", "denied", "skipped")


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def events_for_dashboard(n: int = 600) -> list[dict[str, Any]]:
    """Varied events spread over the last 40 days, two in the future, some without agent."""
    out = []
    for i in range(n):
        ts = NOW_MS - (i * 97 * 60_000) % (40 * 24 * H)
        out.append(
            event_dict(
                timestamp=iso(ts),
                risk_level=RISKS[(i * 7) % 4].lower() if i % 5 == 0 else RISKS[(i * 7) % 4],
                approval=APPROVALS[(i // 2) % 3],
                action_type=f"type_{(i * 13) % 23}",
                agent_id=None if i % 9 == 0 else ("default" if i % 31 == 0 else f"agent-{i % 6}"),
                result_status=STATUSES[i % 6],
                matched_rule=[None, "<default>", "r1", "r2"][i % 4],
            )
        )
    out.append(event_dict(timestamp=iso(NOW_MS + 2 * H), approval="block", agent_id="future"))
    out.append(event_dict(timestamp=iso(NOW_MS + 2 * H), approval="auto", agent_id="future"))
    return out


def first_appearance(values: list[str]) -> dict[str, int]:
    counts = Counter(values)
    return {v: counts[v] for v in dict.fromkeys(values)}


def expected_governance(events: list[dict[str, Any]]) -> tuple[int, str]:
    total = len(events)
    covered = sum(1 for e in events if e["matched_rule"] and e["matched_rule"] != "<default>")
    pct = covered / total * 100
    score = 100 - (0 if pct >= 90 else 10 if pct >= 70 else 25)
    hc = sum(1 for e in events if e["risk_level"].upper() in ("HIGH", "CRITICAL"))
    if hc / total * 100 > 30:
        score -= 10
    grades = [
        (97, "A+"),
        (93, "A"),
        (90, "A-"),
        (87, "B+"),
        (83, "B"),
        (80, "B-"),
        (77, "C+"),
        (73, "C"),
        (70, "C-"),
        (67, "D+"),
        (63, "D"),
        (60, "D-"),
    ]
    return score, next((g for floor, g in grades if score >= floor), "F")


POLICY = parse_policy(
    "rules:\n  - match: {type: 'type_1*'}\n    approval: block\n  - name: x\n    risk_level: low\n"
)


@pytest.fixture
def dashboard(serve: Callable[..., TestClient]) -> tuple[TestClient, list[dict[str, Any]]]:
    events = events_for_dashboard()
    # the two future events are 2 h ahead: allow that much skew, so they count in totals (D2)
    return serve(events, now_ms=NOW_MS, policy=POLICY, max_future_skew_ms=3 * H), events


def test_overview(dashboard: tuple[TestClient, list[dict[str, Any]]]) -> None:
    client, events = dashboard
    body = client.get("/api/v1/dashboard/overview").json()
    score, grade = expected_governance(events)
    assert list(body) == [
        "total_actions",
        "risk_distribution",
        "approval_distribution",
        "status_distribution",
        "compliance_score",
        "compliance_grade",
        "policy_rule_count",
        "active_agents",
    ]
    assert body["total_actions"] == len(events)
    assert list(body["risk_distribution"].items()) == list(
        first_appearance([e["risk_level"].upper() for e in events]).items()
    )
    approvals = Counter(e["approval"] for e in events)
    assert list(body["approval_distribution"].items()) == [
        (a, approvals[a]) for a in ("auto", "approve", "block")
    ]
    assert list(body["status_distribution"].items()) == list(
        first_appearance([e["result_status"] or "unknown" for e in events]).items()
    )
    assert (body["compliance_score"], body["compliance_grade"]) == (score, grade)
    assert body["policy_rule_count"] == 2
    assert body["active_agents"] == len({e["agent_id"] for e in events if e["agent_id"]})


def test_audit_stats(dashboard: tuple[TestClient, list[dict[str, Any]]]) -> None:
    client, events = dashboard
    body = client.get("/api/v1/dashboard/audit/stats").json()
    assert list(body) == ["total", "by_risk_level", "by_approval", "by_action_type", "by_agent"]
    assert body["total"] == len(events)
    types = first_appearance([e["action_type"] for e in events])
    top = sorted(types.items(), key=lambda kv: -kv[1])[:20]  # stable: ties keep first appearance
    assert list(body["by_action_type"].items()) == top
    assert len(types) == 24 and len(body["by_action_type"]) == 20  # 23 generated + read_file
    assert list(body["by_agent"].items()) == list(
        first_appearance([e["agent_id"] or "default" for e in events]).items()
    )


@pytest.mark.parametrize(
    ("period", "size", "lookback"),
    [
        ("24h", H, 24 * H),
        ("7d", 6 * H, 168 * H),
        ("30d", 24 * H, 720 * H),
        ("", H, 24 * H),
        ("7D", H, 24 * H),
        ("bogus", H, 24 * H),
    ],
)
def test_timeline(
    dashboard: tuple[TestClient, list[dict[str, Any]]], period: str, size: int, lookback: int
) -> None:
    client, events = dashboard
    body = client.get("/api/v1/dashboard/stats/timeline", params={"period": period}).json()
    first = (NOW_MS - lookback) // size * size
    last = NOW_MS // size * size
    buckets: dict[int, Counter[str]] = {}
    for e in events:
        ms = int(datetime.fromisoformat(e["timestamp"]).timestamp() * 1000)
        start = ms // size * size
        if first <= start <= last:
            c = buckets.setdefault(start, Counter())
            c["total"] += 1
            c[{"block": "blocked", "approve": "approved", "auto": "auto"}[e["approval"]]] += 1
    expected = [
        {
            "timestamp": iso(s),
            "total": c["total"],
            "blocked": c["blocked"],
            "approved": c["approved"],
            "auto": c["auto"],
        }
        for s, c in sorted(buckets.items())
    ]
    assert body == {"period": period, "buckets": expected}
    assert expected  # the window is not empty


def test_timeline_default_period(dashboard: tuple[TestClient, list[dict[str, Any]]]) -> None:
    client, _ = dashboard
    body = client.get("/api/v1/dashboard/stats/timeline").json()
    assert body["period"] == "24h"
    assert body == {**client.get("/api/v1/dashboard/stats/timeline?period=24h").json(), "period": "24h"}


def test_system_health(dashboard: tuple[TestClient, list[dict[str, Any]]]) -> None:
    client, events = dashboard
    assert client.get("/health").json() == {"status": "ok", "auth_required": False}
    body = client.get("/api/v1/dashboard/system/health").json()
    assert list(body)[:5] == ["status", "version", "audit_entries", "policy_rules", "anomaly_detector"]
    assert body["status"] == "ok"
    assert body["audit_entries"] == len(events)
    assert body["policy_rules"] == 2
    assert body["anomaly_detector"] is True
    pipeline = body["pipeline"]
    assert pipeline["stream_length"] == len(events)
    assert pipeline["pending"] == 0 and pipeline["lag"] == 0 and pipeline["dead_letters"] == 0
    assert pipeline["last_applied"] is not None


def test_empty_store(serve: Callable[..., TestClient]) -> None:
    client = serve([], now_ms=NOW_MS)
    assert client.get("/api/v1/dashboard/overview").json() == {
        "total_actions": 0,
        "risk_distribution": {},
        "approval_distribution": {"auto": 0, "approve": 0, "block": 0},
        "status_distribution": {},
        "compliance_score": 100,
        "compliance_grade": "A+",
        "policy_rule_count": 0,
        "active_agents": 0,
    }
    assert client.get("/api/v1/dashboard/stats/timeline").json() == {"period": "24h", "buckets": []}
    assert client.get("/api/v1/dashboard/audit/stats").json() == {
        "total": 0,
        "by_risk_level": {},
        "by_approval": {"auto": 0, "approve": 0, "block": 0},
        "by_action_type": {},
        "by_agent": {},
    }


ROUTES = [
    "/api/v1/dashboard/overview",
    "/api/v1/dashboard/stats/timeline",
    "/api/v1/dashboard/audit/stats",
    "/api/v1/dashboard/system/health",
    "/api/v1/dashboard/compliance/report",
    "/api/v1/dashboard/compliance/regulatory",
    "/api/v1/dashboard/policy/summary",
    "/api/v1/dashboard/policy/score",
    "/api/v1/dashboard/policy/yaml",
    "/api/v1/badge/score",
    "/api/v1/dashboard/anomalies/profiles",
    "/api/v1/dashboard/anomalies/alerts",
    "/health",
]
NASTY_QUERIES = [
    "period=%ff%fe",
    "period=%",
    "period=%%%",
    "period=%00",
    "&&&==&",
    "period=" + "9" * 10_000,
    "period=24h&period=7d",
    "period=%E2%9C%93",
    "a[]=1&a[]=2",
    "period=%0d%0aSet-Cookie:x",
    "=",
    "period",
    ";;;",
    "period=../../etc/passwd",
    "limit=-1&offset=1e9",
]


@pytest.mark.parametrize("route", ROUTES)
def test_no_query_string_gives_500(serve: Callable[..., TestClient], route: str) -> None:
    client = serve([], now_ms=NOW_MS)
    for query in NASTY_QUERIES:
        response = client.get(f"{route}?{query}")
        assert response.status_code == 200, (query, response.text)
        assert isinstance(response.json(), dict)


def raw_get(client: TestClient, path: str, query: bytes) -> int:
    """Send a request with arbitrary query bytes (HTTP clients refuse some) straight to the app."""
    sent: list[dict[str, Any]] = []

    async def call() -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query,
            "headers": [],
            "client": ("127.0.0.1", 1),
            "server": ("test", 80),
            "root_path": "",
            "state": {},
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await client.app(scope, receive, send)

    assert client.portal is not None
    client.portal.call(call)
    return int(sent[0]["status"])


@pytest.mark.parametrize("route", ROUTES)
def test_raw_query_bytes_never_give_500(serve: Callable[..., TestClient], route: str) -> None:
    client = serve([], now_ms=NOW_MS)
    for query in (b"period=\xff\xfe\x00", b"\x00\x01=\x02", b"period=%ZZ", b"\xc3\x28=1"):
        assert raw_get(client, route, query) == 200, query


def test_repeated_period_takes_the_last(serve: Callable[..., TestClient]) -> None:
    client = serve([], now_ms=NOW_MS)
    assert client.get("/api/v1/dashboard/stats/timeline?period=24h&period=7d").json()["period"] == "7d"


def test_unknown_route_and_method(serve: Callable[..., TestClient]) -> None:
    client = serve([], now_ms=NOW_MS)
    missing = client.get("/api/v1/dashboard/nope")
    assert (missing.status_code, missing.json()) == (404, {"error": "Not Found"})
    wrong = client.post("/api/v1/dashboard/overview")
    assert (wrong.status_code, wrong.json()) == (405, {"error": "Method Not Allowed"})


def test_dashboard_token(serve: Callable[..., TestClient]) -> None:
    client = serve([], now_ms=NOW_MS, api_token="s3cret-token")
    url = "/api/v1/dashboard/overview"
    assert client.get(url).status_code == 401
    assert client.get(url).json() == {"error": "Invalid or missing API key"}
    assert client.get(url, headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.get(url, headers={"X-API-Key": "s3cret-token"}).status_code == 200
    assert client.get(url, headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    assert client.get(url, headers={"Authorization": "Basic s3cret-token"}).status_code == 401
    assert client.get("/health").json() == {"status": "ok", "auth_required": True, "authorized": False}
    wrong, right = {"X-API-Key": "wrong"}, {"Authorization": "Bearer s3cret-token"}
    assert client.get("/health", headers=wrong).json()["authorized"] is False
    assert client.get("/health", headers=right).json()["authorized"] is True


def test_non_ascii_token(serve: Callable[..., TestClient]) -> None:
    client = serve([], now_ms=NOW_MS, api_token="pässwörd")
    raw = "pässwörd".encode()  # a client sends the UTF-8 bytes
    url = "/api/v1/dashboard/overview"
    assert client.get(url, headers={"X-API-Key": raw}).status_code == 200
    assert client.get(url, headers={"Authorization": b"Bearer " + raw}).status_code == 200
    assert client.get(url, headers={"X-API-Key": "passwort"}).status_code == 401


def test_store_down_gives_503_not_500(serve: Callable[..., TestClient]) -> None:
    client = serve([], now_ms=NOW_MS, redis_url="redis://127.0.0.1:1/0")
    response = client.get("/api/v1/dashboard/overview")
    assert (response.status_code, response.json()) == (503, {"error": "Store unavailable"})


def test_a_corrupt_view_gives_503_not_500(
    serve: Callable[..., TestClient], sync_redis: redis.Redis, keys: Keys
) -> None:
    client = serve([event_dict()], now_ms=NOW_MS)
    sync_redis.hset(keys.totals(0), "total", "abc")
    for route in ("overview", "audit/stats", "system/health"):
        response = client.get(f"/api/v1/dashboard/{route}")
        assert response.status_code == 503
        assert "non-integer counter" in response.json()["error"]


PARAMETERS = [
    ("/api/v1/dashboard/stats/timeline", "period"),
    ("/api/v1/dashboard/compliance/report", "type"),
    ("/api/v1/dashboard/compliance/regulatory", "framework"),
    ("/api/v1/dashboard/audit/recent", "limit"),
    ("/api/v1/dashboard/audit/recent", "offset"),
    ("/api/v1/dashboard/audit/recent", "risk_level"),
    ("/api/v1/dashboard/audit/recent", "agent_id"),
]


@pytest.mark.parametrize(("route", "name"), PARAMETERS)
def test_nasty_parameter_values_give_400_or_200(
    serve: Callable[..., TestClient], route: str, name: str
) -> None:
    client = serve([], now_ms=NOW_MS)
    for query in NASTY_QUERIES:
        response = client.get(f"{route}?{query.replace('period', name)}")
        assert response.status_code in (200, 400), (query, response.text)
        body = response.json()
        assert isinstance(body, dict) and (response.status_code == 200 or isinstance(body["error"], str))
    for query in (b"\xff\xfe\x00", b"%ZZ", b"\xc3\x28"):
        assert raw_get(client, route, name.encode() + b"=" + query) in (200, 400), query


def test_the_api_refuses_a_different_partition_count(
    serve: Callable[..., TestClient], sync_redis: redis.Redis, keys: Keys
) -> None:
    sync_redis.set(keys.layout(), "1")
    with pytest.raises(ConfigError, match="AEGIS_PARTITIONS is 2, but this store was set up with 1"):
        serve([], now_ms=NOW_MS, partitions=2)
