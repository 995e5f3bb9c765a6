"""audit/recent against an independent filter, sort and slice of the same events."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from aegis_stream.keys import partition_for
from tests.api.test_dashboard import NOW_MS, iso
from tests.conftest import event_dict

H = 3_600_000
ROUTE = "/api/v1/dashboard/audit/recent"
ROW_KEYS = [
    "id",
    "session_id",
    "timestamp",
    "action_type",
    "action_target",
    "action_params",
    "action_desc",
    "risk_level",
    "approval",
    "matched_rule",
    "human_decision",
    "result_status",
    "result_data",
    "result_error",
    "agent_id",
    "parent_agent_id",
    "chain_id",
    "chain_depth",
]


def audit_events(n: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        out.append(
            event_dict(
                session_id=f"s-{i % 11}",
                timestamp=iso(NOW_MS - H - rng.randrange(0, 48 * H)),  # arrival order is not time order
                risk_level=rng.choice(["LOW", "medium", "HIGH", "critical"]),
                approval=rng.choice(["auto", "approve", "block"]),
                action_type=rng.choice(["read", "write", "délète", "read"]),
                action_target=f"t-{i}",
                agent_id=rng.choice(["a1", "a2", None, "ägent-ü", "default"]),
                result_status=rng.choice(["success", "failed", None, "blocked"]),
                action_params=rng.choice([{}, {"k": i, "nested": {"x": [1, "ü"]}}, {"api_key": "s3cret"}]),
                action_desc=rng.choice([None, "", "does things"]),
                result_data=rng.choice([None, {}, {"rows": i}, "text"]),
                result_error=rng.choice([None, "boom"]),
                human_decision=rng.choice([None, "approved"]),
                parent_agent_id=rng.choice([None, "", "parent"]),
                chain_id=rng.choice([None, "c-1"]),
                chain_depth=rng.choice([0, 2]),
            )
        )
    return out


def expected_row(row_id: int, e: dict[str, Any]) -> dict[str, Any]:
    params = {k: ("[REDACTED]" if k == "api_key" else v) for k, v in (e["action_params"] or {}).items()}
    return {
        "id": row_id,
        "session_id": e["session_id"],
        "timestamp": datetime.fromisoformat(e["timestamp"]).astimezone(UTC).isoformat(),
        "action_type": e["action_type"],
        "action_target": e["action_target"],
        "action_params": json.dumps(params),
        "action_desc": e["action_desc"] or None,
        "risk_level": e["risk_level"].upper(),
        "approval": e["approval"],
        "matched_rule": e["matched_rule"],
        "human_decision": e["human_decision"],
        "result_status": e["result_status"],
        "result_data": json.dumps(e["result_data"]) if e["result_data"] else None,
        "result_error": e["result_error"],
        "agent_id": e["agent_id"] or None,
        "parent_agent_id": e["parent_agent_id"] or None,
        "chain_id": e["chain_id"] or None,
        "chain_depth": e["chain_depth"],
    }


def expected_page(
    events: list[dict[str, Any]], query: dict[str, str], limit: int, offset: int
) -> dict[str, Any]:
    rows = [expected_row(i + 1, e) for i, e in enumerate(events)]
    want = {
        "risk_level": (query.get("risk_level") or "").upper(),
        "action_type": query.get("action_type") or "",
        "agent_id": query.get("agent_id") or "",
        "result_status": query.get("result_status") or "",
    }
    matching = [r for r in rows if all(not v or r[k] == v for k, v in want.items())]
    matching.reverse()
    return {
        "entries": matching[offset : offset + limit],
        "total": len(matching),
        "offset": offset,
        "limit": limit,
    }


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return audit_events(700)


@pytest.fixture
def client(serve: Callable[..., TestClient], events: list[dict[str, Any]]) -> TestClient:
    return serve(events, now_ms=NOW_MS, batch_size=64)


QUERIES = [
    {},
    {"risk_level": "high"},
    {"risk_level": "MEDIUM"},
    {"action_type": "délète"},
    {"agent_id": "ägent-ü"},
    {"agent_id": "default"},  # the real agent called default; events without agent are not it
    {"result_status": "failed"},
    {"risk_level": "low", "agent_id": "a1"},
    {"action_type": "read", "result_status": "success", "agent_id": "a2"},
    {"risk_level": "critical", "action_type": "write", "agent_id": "a1", "result_status": "blocked"},
    {"risk_level": "", "action_type": "", "agent_id": "", "result_status": ""},  # empty: no filter
    {"risk_level": "SEVERE"},
    {"result_status": "None"},
    {"session_id": "s-1", "since": "2020-01-01"},  # not filters of this route
]


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: "&".join(f"{k}={v}" for k, v in q.items()) or "all")
def test_filters(client: TestClient, events: list[dict[str, Any]], query: dict[str, str]) -> None:
    body = client.get(ROUTE, params=query).json()
    assert list(body) == ["entries", "total", "offset", "limit"]
    assert body == expected_page(events, query, 50, 0)
    assert all(list(row) == ROW_KEYS for row in body["entries"])


@pytest.mark.parametrize(
    ("limit", "offset", "clamped"),
    [
        ("10", "0", (10, 0)),
        ("0", "0", (1, 0)),
        ("-5", "-3", (1, 0)),
        ("5000", "20", (1000, 20)),
        (" 7 ", "+3", (7, 3)),
        ("1_0", "٣", (10, 3)),  # what Python's int() accepts: underscores, other digits
        ("25", "690", (25, 690)),  # a partial last page
        ("25", "700", (25, 700)),  # past the end
        ("3", str(10**30), (3, 10**30)),
    ],
)
def test_paging(
    client: TestClient, events: list[dict[str, Any]], limit: str, offset: str, clamped: tuple[int, int]
) -> None:
    body = client.get(ROUTE, params={"limit": limit, "offset": offset, "risk_level": "low"}).json()
    assert (body["limit"], body["offset"]) == clamped
    assert body == expected_page(events, {"risk_level": "low"}, *clamped)


@pytest.mark.parametrize(
    ("limit", "offset"), [("", "0"), ("5.0", "0"), ("ten", "0"), ("5", "1e3"), ("5", "")]
)
def test_unparsable_paging(client: TestClient, limit: str, offset: str) -> None:
    response = client.get(ROUTE, params={"limit": limit, "offset": offset})
    assert (response.status_code, response.json()) == (400, {"error": "limit and offset must be integers"})


def test_every_page_once(client: TestClient, events: list[dict[str, Any]]) -> None:
    seen = []
    for offset in range(0, 800, 97):
        seen += client.get(ROUTE, params={"limit": 97, "offset": offset}).json()["entries"]
    assert [r["id"] for r in seen] == list(range(len(events), 0, -1))


def test_two_partitions(serve: Callable[..., TestClient]) -> None:
    events = audit_events(300, seed=3)
    client = serve(events, now_ms=NOW_MS, partitions=2, batch_size=50)
    pages: list[dict[str, Any]] = []
    for offset in range(0, 300, 40):
        body = client.get(ROUTE, params={"limit": 40, "offset": offset, "agent_id": "a1"}).json()
        assert body["total"] == sum(1 for e in events if e["agent_id"] == "a1")
        pages += body["entries"]
    assert len(pages) == sum(1 for e in events if e["agent_id"] == "a1")
    # ids number each partition's events in stream order: (sequence - 1) * 2 + partition + 1
    seqs = {0: 0, 1: 0}
    ids = []
    for e in events:
        p = partition_for(e["agent_id"], 2)
        seqs[p] += 1
        ids.append((seqs[p] - 1) * 2 + p + 1)
    mine = [(i, e) for i, e in zip(ids, events, strict=True) if e["agent_id"] == "a1"]
    # the rows are those events, newest (last produced) first, each with its id
    assert [(r["id"], r["action_target"]) for r in pages] == [
        (i, e["action_target"]) for i, e in reversed(mine)
    ]
    beyond = client.get(ROUTE, params={"offset": str(10**30)}).json()
    assert (beyond["entries"], beyond["total"]) == ([], 300)
    everything = client.get(ROUTE, params={"limit": 1000}).json()
    assert everything["total"] == 300
    assert sorted(r["action_target"] for r in everything["entries"]) == sorted(
        e["action_target"] for e in events
    )


def test_audit_log_switched_off(serve: Callable[..., TestClient]) -> None:
    serve(audit_events(20), now_ms=NOW_MS)  # an audit log already filled, then switched off
    client = serve(audit_events(5, seed=9), now_ms=NOW_MS, audit_log=False)
    assert client.get(ROUTE).json() == {
        "entries": [],
        "total": 0,
        "offset": 0,
        "limit": 50,
        "configured": False,
    }
    assert client.get("/api/v1/dashboard/overview").json()["total_actions"] == 25
