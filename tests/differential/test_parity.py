"""Differential test: aegis-stream and the reference (agent-aegis 1.0.0) answer the same, route by route.

Both are fed the same events: the bundled real τ-bench sample plus generated
events covering every risk level, approval and status, missing agents and
statuses, unicode and over 10,000 events in all. Every route and parameter
variant is compared field by field; only DESIGN.md's differences are
allowed, each where it applies:

* D1: the reference's overview and timeline cap is lifted (``UncappedLogger``);
* D2: no event falls in the part of a first timeline bucket the reference cuts, nor after now;
* D3: profile times are event times here, wall-clock there (not compared);
* D4: alerts here cover every qualifying agent, there only the last 200 rows' agents;
* D5: a missing status is ``unknown`` here, ``None`` there;
* D6: prose differs; the numbers in it must not;
* D8: health has more keys here after the reference's five (``version`` is each package's own).
"""

from __future__ import annotations

import random
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import redis as redis_lib
from starlette.testclient import TestClient

from aegis_stream.api import create_app
from aegis_stream.bundled import DEMO_SAMPLE, data_file
from aegis_stream.events import AuditEvent, event_to_dict
from aegis_stream.importers import read_events
from aegis_stream.policy import load_policy
from aegis_stream.settings import Settings
from tests.api.conftest import load
from tests.differential import reference

H = 3_600_000
PERIODS = {"24h": (H, 24 * H), "7d": (6 * H, 168 * H), "30d": (24 * H, 720 * H)}
NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
POLICY = data_file("airline-policy.yaml")


def now_ms() -> int:
    """A minute boundary ten minutes ago: every event is in the past for the server too."""
    return (int(datetime.now(UTC).timestamp() * 1000) // 60_000 - 10) * 60_000


def in_cut_window(ms: int, now: int) -> bool:
    """True where the reference's timeline and ours differ by design (D2): a partial first bucket."""
    return any((now - back) // size * size <= ms < now - back for size, back in PERIODS.values())


def spread(n: int, now: int, rng: random.Random) -> list[int]:
    """``n`` event times over the last 35 days, avoiding D2's windows; more of them recently."""
    out: list[int] = []
    while len(out) < n:
        back = int(rng.expovariate(1 / (5 * 24 * H))) % (35 * 24 * H)
        ms = now - 1 - back
        if not in_cut_window(ms, now):
            out.append(ms)
    return out


def iso(ms: int, rng: random.Random) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .replace(microsecond=rng.choice([0, 123_456, (ms % 1000) * 1000]))
        .isoformat()
    )


def generated(n: int, now: int, rng: random.Random) -> list[dict[str, Any]]:
    types = [
        "read_users",
        "update_config",
        "delete_record",
        "send_email",
        "policy_reload",
        "ünïcode_tool",
        "READ_db",
    ]
    targets = ["users/42", "Customer-7", "docs/readme", "prod/db", "my_email", "账户", "profile:x", ""]
    agents = [None, "agent-a", "agent-b", "ägent-ü", "default", "bot-三"]
    statuses = [None, "success", "failed", "blocked", "denied", "skipped"]
    rules = ["<default>", "reads", "writes", "block-deletes", "type@target"]
    out = []
    for ms in spread(n, now, rng):
        status = rng.choice(statuses)
        out.append(
            {
                "session_id": f"sess-{rng.randrange(50)}",
                "timestamp": iso(ms, rng),
                "action_type": rng.choice(types),
                "action_target": rng.choice(targets),
                "action_params": rng.choice(
                    [{}, {"q": "x"}, {"password": "p", "deep": [{"token": 1}]}, {"n": 3.5}]
                ),
                "action_desc": rng.choice([None, "", "does a thing", "описание"]),
                "risk_level": rng.choice(["LOW", "low", "MEDIUM", "High", "HIGH", "CRITICAL"]),
                "approval": rng.choice(["auto", "auto", "approve", "block"]),
                "matched_rule": rng.choice(rules),
                "human_decision": rng.choice([None, "approved", "denied"]),
                "result_status": status,
                "result_data": rng.choice([None, {"ok": True}, [1, 2], "text", {}]) if status else None,
                "result_error": rng.choice([None, "boom"]) if status else None,
                "agent_id": rng.choice(agents),
                "parent_agent_id": rng.choice([None, "", "parent-1"]),
                "chain_id": rng.choice([None, "chain-1"]),
                "chain_depth": rng.choice([0, 0, 1, 3]),
            }
        )
    return out


def sample(now: int, rng: random.Random) -> list[dict[str, Any]]:
    """The bundled real sample, re-timed like the generated events."""
    events = [
        event_to_dict(e)
        for e in read_events(data_file(DEMO_SAMPLE), now_us=now * 1000)
        if isinstance(e, AuditEvent)
    ]
    for event, ms in zip(events, sorted(spread(len(events), now, rng)), strict=True):
        event["timestamp"] = iso(ms, rng)
        event.pop("event_id", None)
    return events


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    rng = random.Random(2026)
    now = now_ms()
    events = sample(now, rng) + generated(9_300, now, rng)
    rng.shuffle(events)  # arrival order is not time order
    ref = reference.build(tmp_path_factory.mktemp("ref") / "aegis_audit.db", POLICY, events)
    return {"now": now, "events": events, "ref": ref}


@pytest.fixture(scope="module")
def ours(world: dict[str, Any], redis_url: str) -> Any:
    """Our service over the same events (module-scoped: loading 10,000 events once)."""
    prefix = f"aegis-test-{uuid.uuid4().hex[:12]}"
    settings = Settings(
        redis_url=redis_url,
        key_prefix=prefix,
        block_ms=50,
        lease_ms=1000,
        claim_idle_ms=0,
        agent_map_cap=1_000_000,
    )
    load(settings, world["events"], world["now"])
    app = create_app(settings, policy=load_policy(POLICY), clock_us=lambda: world["now"] * 1000)
    client = TestClient(app, raise_server_exceptions=False)
    client.__enter__()
    yield client
    client.__exit__(None, None, None)
    r = redis_lib.Redis.from_url(redis_url)
    names = list(r.scan_iter(match=f"{prefix}*", count=1000))
    for i in range(0, len(names), 500):
        r.delete(*names[i : i + 500])
    r.close()


def get_both(world: dict[str, Any], ours: TestClient, path: str, **params: str) -> tuple[Any, Any]:
    mine = ours.get(path, params=params)
    with reference.frozen(datetime.fromtimestamp(world["now"] / 1000, UTC)):
        theirs = world["ref"].get(path, params=params)
    assert mine.status_code == theirs.status_code, (path, params, mine.text[:300], theirs.text[:300])
    return mine.json(), theirs.json()


def numbers(text: str) -> list[str]:
    return sorted(NUMBER.findall(text))


D = "/api/v1/dashboard"


def test_more_than_ten_thousand_events(world: dict[str, Any]) -> None:
    assert len(world["events"]) > 10_000


def test_overview(world: dict[str, Any], ours: TestClient) -> None:
    mine, theirs = get_both(world, ours, f"{D}/overview")
    theirs["status_distribution"] = {
        ("unknown" if k == "None" else k): v for k, v in theirs["status_distribution"].items()
    }  # D5
    assert mine == theirs
    assert list(mine["status_distribution"]) == list(theirs["status_distribution"])


@pytest.mark.parametrize("period", ["24h", "7d", "30d", "", "7D", "bogus"])
def test_timeline(world: dict[str, Any], ours: TestClient, period: str) -> None:
    mine, theirs = get_both(world, ours, f"{D}/stats/timeline", period=period)
    assert mine == theirs and mine["buckets"]


def test_audit_stats(world: dict[str, Any], ours: TestClient) -> None:
    mine, theirs = get_both(world, ours, f"{D}/audit/stats")
    assert mine == theirs
    assert [list(v) for v in mine.values() if isinstance(v, dict)] == [
        list(v) for v in theirs.values() if isinstance(v, dict)
    ]


RECENT = [
    {},
    {"limit": "7", "offset": "3"},
    {"limit": "1000", "offset": "9000"},
    {"limit": "0"},
    {"limit": "-5", "offset": "-2"},
    {"limit": "5000"},
    {"limit": " 12 ", "offset": "+1_0"},
    {"offset": "20000"},
    {"risk_level": "high"},
    {"risk_level": "Critical", "agent_id": "agent-a"},
    {"action_type": "ünïcode_tool", "result_status": "failed"},
    {"agent_id": "default"},
    {
        "agent_id": "ägent-ü",
        "risk_level": "low",
        "action_type": "read_users",
        "result_status": "success",
        "limit": "3",
    },
    {"result_status": "None"},
    {"agent_id": "gpt4o-airline-t1", "limit": "100", "offset": "50"},
    {"limit": "abc"},
    {"offset": "1.5"},
    {"limit": ""},
]


@pytest.mark.parametrize(
    "params", RECENT, ids=lambda p: "&".join(f"{k}={v}" for k, v in p.items()) or "default"
)
def test_audit_recent(world: dict[str, Any], ours: TestClient, params: dict[str, str]) -> None:
    mine, theirs = get_both(world, ours, f"{D}/audit/recent", **params)
    assert mine == theirs
    if "entries" in mine:
        assert all(list(a) == list(b) for a, b in zip(mine["entries"], theirs["entries"], strict=True))


@pytest.mark.parametrize("path", ["policy/summary", "policy/score", "policy/yaml"])
def test_policy_routes(world: dict[str, Any], ours: TestClient, path: str) -> None:
    mine, theirs = get_both(world, ours, f"{D}/{path}")
    assert mine == theirs and list(mine) == list(theirs)


def test_badge(world: dict[str, Any], ours: TestClient) -> None:
    mine, theirs = get_both(world, ours, "/api/v1/badge/score")
    assert mine == theirs


@pytest.mark.parametrize("kind", ["governance", "soc2", "gdpr", None, "custom", "", "SOC2"])
def test_compliance_report(world: dict[str, Any], ours: TestClient, kind: str | None) -> None:
    params = {} if kind is None else {"type": kind}
    mine, theirs = get_both(world, ours, f"{D}/compliance/report", **params)
    if "error" in theirs:
        assert mine == theirs
        return
    assert list(mine) == list(theirs)
    prose = {"summary"}
    assert {k: v for k, v in mine.items() if k not in prose | {"findings"}} == {
        k: v for k, v in theirs.items() if k not in prose | {"findings"}
    }
    assert numbers(mine["summary"]) == numbers(theirs["summary"]), (mine["summary"], theirs["summary"])
    assert len(mine["findings"]) == len(theirs["findings"])
    for a, b in zip(mine["findings"], theirs["findings"], strict=True):
        assert list(a) == list(b)
        assert (a["severity"], a["category"], a["title"]) == (b["severity"], b["category"], b["title"])
        assert numbers(a["description"]) == numbers(b["description"]), (a["description"], b["description"])


@pytest.mark.parametrize(
    "framework", ["eu_ai_act", "nist_ai_rmf", "soc2", "iso_42001", "owasp_agentic", None, "x", ""]
)
def test_regulatory(world: dict[str, Any], ours: TestClient, framework: str | None) -> None:
    params = {} if framework is None else {"framework": framework}
    mine, theirs = get_both(world, ours, f"{D}/compliance/regulatory", **params)
    if "error" in theirs:
        assert mine == theirs
        return
    assert list(mine) == list(theirs)
    assert {k: v for k, v in mine.items() if k != "recommendations"} == {
        k: v for k, v in theirs.items() if k != "recommendations"
    }
    assert [numbers(r) for r in mine["recommendations"]] == [numbers(r) for r in theirs["recommendations"]]


TIMES = ("first_seen", "last_seen")  # D3: event time here, wall clock there


def test_profiles(world: dict[str, Any], ours: TestClient) -> None:
    mine, theirs = get_both(world, ours, f"{D}/anomalies/profiles")
    assert list(mine) == list(theirs)
    assert mine["configured"] is theirs["configured"] is True
    assert len(mine["profiles"]) == len(theirs["profiles"])
    for a, b in zip(mine["profiles"], theirs["profiles"], strict=True):
        assert list(a)[: len(b)] == list(b)  # the same keys first; ours appends overflow counters
        assert {k: a[k] for k in b if k not in TIMES} == {k: v for k, v in b.items() if k not in TIMES}
        assert list(a["action_types"]) == list(b["action_types"]) and list(a["targets"]) == list(b["targets"])


def test_alerts(world: dict[str, Any], ours: TestClient) -> None:
    mine, theirs = get_both(world, ours, f"{D}/anomalies/alerts")
    assert list(mine) == list(theirs)
    profiles = get_both(world, ours, f"{D}/anomalies/profiles")[1]["profiles"]
    qualifying = {
        p["agent_id"]
        for p in profiles
        if p["total_actions"] >= 5 and p["blocked_count"] / p["total_actions"] > 0.5
    }
    assert {a["agent_id"] for a in mine["alerts"]} == qualifying  # D4: every qualifying agent
    theirs_by_agent = {a["agent_id"]: a for a in theirs["alerts"]}
    for alert in mine["alerts"]:
        other = theirs_by_agent.get(alert["agent_id"])
        if other is not None:  # the reference only alerts for agents among its last 200 rows
            assert (alert["type"], alert["severity"]) == (other["type"], other["severity"])
            assert numbers(alert["message"])[:2] == numbers(other["message"])[:2] or set(
                numbers(other["message"])
            ) <= set(numbers(alert["message"]))


def test_system_health(world: dict[str, Any], ours: TestClient) -> None:
    mine, theirs = get_both(world, ours, f"{D}/system/health")
    assert list(mine)[:5] == list(theirs)
    assert {k: v for k, v in mine.items() if k in theirs and k != "version"} == {
        k: v for k, v in theirs.items() if k != "version"
    }


@pytest.mark.parametrize("path", ["/api/v1/dashboard/nope", "/api/v1/dashboard/overview/extra", "/api/v2/x"])
def test_unknown_routes(world: dict[str, Any], ours: TestClient, path: str) -> None:
    assert ours.get(path).status_code == world["ref"].get(path).status_code == 404
