"""compliance/report and compliance/regulatory against values computed independently from the events."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.api.test_dashboard import NOW_MS, expected_governance, iso
from tests.conftest import event_dict

H = 3_600_000
REPORT_KEYS = [
    "report_type",
    "generated_at",
    "period_start",
    "period_end",
    "total_actions",
    "blocked_actions",
    "approved_actions",
    "auto_approved",
    "summary",
    "score",
    "grade",
    "findings",
]
GRADES = [(97, "A+"), (93, "A"), (90, "A-"), (87, "B+"), (83, "B"), (80, "B-"), (77, "C+"), (73, "C")]
GRADES += [(70, "C-"), (67, "D+"), (63, "D"), (60, "D-")]


def grade(score: int) -> str:
    return next((g for floor, g in GRADES if score >= floor), "F")


def soc2_findings(events: list[dict[str, Any]]) -> tuple[list[tuple[str, str, str]], int, int]:
    """(title, severity, category) per finding, the score and the gap count, by the reference's rules."""
    total = len(events)
    matched = sum(1 for e in events if e["matched_rule"])
    out = []
    score = 100
    if total == 0 or matched / total * 100 >= 100.0:
        out.append(("CC6.1 -- Logical Access Security: PASS", "info", "access_control"))
    else:
        out.append(("CC6.1 -- Logical Access Security: FAIL", "critical", "access_control"))
        score -= 20
    bypass = sum(
        1 for e in events if e["risk_level"].upper() in ("HIGH", "CRITICAL") and e["approval"] == "auto"
    )
    if bypass == 0:
        out.append(("CC6.8 -- Unauthorized Access Prevention: PASS", "info", "access_control"))
    else:
        out.append(("CC6.8 -- Unauthorized Access Prevention: FAIL", "critical", "access_control"))
        score -= 25
    times = sorted(datetime.fromisoformat(e["timestamp"]).timestamp() for e in events)
    gaps = sum(1 for a, b in itertools.pairwise(times) if b - a > 3600)
    if gaps == 0:
        out.append(("CC7.2 -- System Monitoring: PASS", "info", "audit_trail"))
    else:
        out.append(("CC7.2 -- System Monitoring: WARN", "warning", "audit_trail"))
        score -= min(15, 5 * gaps)
    changes = [
        e for e in events if "policy" in e["action_type"].lower() or "config" in e["action_type"].lower()
    ]
    if total and changes and any(not e["matched_rule"] for e in changes):
        out.append(("CC8.1 -- Change Management: WARN", "warning", "audit_trail"))
        score -= 10
    else:
        out.append(("CC8.1 -- Change Management: PASS", "info", "audit_trail"))
    return out, max(0, score), gaps


PERSONAL = ("user", "customer", "personal", "pii", "profile", "account", "email")


def gdpr_findings(events: list[dict[str, Any]]) -> tuple[list[tuple[str, str, str]], int, list[str]]:
    total = len(events)
    score = 100
    out = []
    personal = [e for e in events if any(m in e["action_target"].lower() for m in PERSONAL)]
    if personal and any(not e["matched_rule"] for e in personal):
        out.append(("Data Access Logging: FAIL", "critical", "data_handling"))
        score -= 20
    else:
        out.append(("Data Access Logging: PASS", "info", "data_handling"))
    deletes = [e for e in events if "delete" in e["action_type"].lower()]
    if deletes and any(not e["matched_rule"] for e in deletes):
        out.append(("Right to Erasure Compliance: WARN", "warning", "data_handling"))
        score -= 15
    else:
        out.append(("Right to Erasure Compliance: PASS", "info", "data_handling"))
    counts = Counter(e["action_type"] for e in events)
    order = list(dict.fromkeys(e["action_type"] for e in events))
    heavy = [
        f"{t} ({counts[t]}x)" for t in order if "read" in t.lower() and counts[t] > total * 0.5 and total > 1
    ]
    if heavy:
        out.append(("Data Minimization: WARN", "warning", "data_handling"))
        score -= 10
    else:
        out.append(("Data Minimization: PASS", "info", "data_handling"))
    return out, score, heavy


def governance_titles(events: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    total = len(events)
    covered = sum(1 for e in events if e["matched_rule"] and e["matched_rule"] != "<default>")
    pct = covered / total * 100 if total else 100.0
    band = "PASS" if pct >= 90 else "WARN" if pct >= 70 else "FAIL"
    sev = {"PASS": "info", "WARN": "warning", "FAIL": "critical"}[band]
    out = [(f"Policy Coverage: {band}", sev, "access_control")]
    if total:
        out.append(("Approval Gate Usage", "info", "access_control"))
        hc = sum(1 for e in events if e["risk_level"].upper() in ("HIGH", "CRITICAL"))
        out.append(("Risk Distribution", "warning" if hc / total * 100 > 30 else "info", "access_control"))
        if any(e["agent_id"] and e["agent_id"] != "unknown" for e in events):
            out.append(("Agent Behavior Summary", "info", "audit_trail"))
    return out


def compliance_events(n: int, seed: int) -> list[dict[str, Any]]:
    """Varied events up to now, with quiet stretches, changes, deletes and personal targets."""
    rng = random.Random(seed)
    out = []
    t = NOW_MS - n * 2 * H  # never past now
    for i in range(n):
        t += rng.choice([60_000, 600_000, 30 * 60_000, H, H + 1, 2 * H])  # some steps are gaps
        out.append(
            event_dict(
                timestamp=iso(t) if i % 4 else iso(t)[:-6] + "+02:00",  # offsets are parsed to UTC
                action_type=rng.choice(["read_db", "update_config", "delete_row", "send", "set_policy"]),
                action_target=rng.choice(["users/7", "docs", "Customer-42", "billing", "my_email"]),
                matched_rule=rng.choice(["r1", "r2", "r3", "<default>", None]),
                risk_level=rng.choice(["LOW", "medium", "HIGH", "CRITICAL"]),
                approval=rng.choice(["auto", "approve", "block"]),
                agent_id=rng.choice(["a1", "a2", None, "unknown"]),
            )
        )
    rng.shuffle(out)  # arrival order differs from time order
    return out


def utc_iso(stamp: str) -> str:
    return datetime.fromisoformat(stamp).astimezone(UTC).isoformat()


@pytest.fixture(params=[1, 2], ids=["one-partition", "two-partitions"])
def loaded(
    request: pytest.FixtureRequest, serve: Callable[..., TestClient]
) -> tuple[TestClient, list[dict[str, Any]]]:
    events = compliance_events(400, seed=request.param)
    # small batches: the activity clusters are merged across many batches, out of time order
    return serve(events, now_ms=NOW_MS, batch_size=13, partitions=request.param), events


@pytest.mark.parametrize("kind", ["governance", "soc2", "gdpr"])
def test_report_shape_and_numbers(loaded: tuple[TestClient, list[dict[str, Any]]], kind: str) -> None:
    client, events = loaded
    body = client.get("/api/v1/dashboard/compliance/report", params={"type": kind}).json()
    assert list(body) == REPORT_KEYS
    approvals = Counter(e["approval"] for e in events)
    stamps = sorted(events, key=lambda e: datetime.fromisoformat(e["timestamp"]))
    assert body["report_type"] == kind
    assert body["generated_at"] == datetime.fromtimestamp(NOW_MS / 1000, UTC).isoformat()
    assert body["period_start"] == utc_iso(stamps[0]["timestamp"])
    assert body["period_end"] == utc_iso(stamps[-1]["timestamp"])
    assert (
        body["total_actions"],
        body["blocked_actions"],
        body["approved_actions"],
        body["auto_approved"],
    ) == (
        len(events),
        approvals["block"],
        approvals["approve"],
        approvals["auto"],
    )
    got = [(f["title"], f["severity"], f["category"]) for f in body["findings"]]
    assert all(
        list(f) == ["severity", "category", "title", "description", "recommendation"]
        for f in body["findings"]
    )
    if kind == "governance":
        assert got == governance_titles(events)
        assert (body["score"], body["grade"]) == expected_governance(events)
    elif kind == "soc2":
        titles, score, gaps = soc2_findings(events)
        assert got == titles and body["score"] == score and body["grade"] == grade(score)
        assert gaps > 0 and f"{gaps:,}" in body["findings"][2]["description"]
    else:
        titles, score, _heavy = gdpr_findings(events)
        assert got == titles and body["score"] == score and body["grade"] == grade(score)


def test_reports_with_every_branch_passing(serve: Callable[..., TestClient]) -> None:
    """Dense, fully covered activity: every SOC2 and GDPR finding passes, minimisation warns."""
    events = [
        event_dict(
            timestamp=iso(NOW_MS - H + i * 60_000),
            action_type="read_users" if i % 3 else "update_config",
            action_target="user/1",
            matched_rule="r",
            risk_level="LOW",
            approval="approve",
        )
        for i in range(30)
    ]
    client = serve(events, now_ms=NOW_MS)
    soc2 = client.get("/api/v1/dashboard/compliance/report?type=soc2").json()
    assert [f["title"] for f in soc2["findings"]] == [t for t, _, _ in soc2_findings(events)[0]]
    assert soc2["score"] == 100 and soc2["grade"] == "A+"
    gdpr = client.get("/api/v1/dashboard/compliance/report?type=gdpr").json()
    titles, score, heavy = gdpr_findings(events)
    assert [f["title"] for f in gdpr["findings"]] == [t for t, _, _ in titles]
    assert heavy == ["read_users (20x)"] and "read_users (20x)" in gdpr["findings"][2]["description"]
    assert gdpr["score"] == score == 90


def test_empty_reports(serve: Callable[..., TestClient]) -> None:
    client = serve([], now_ms=NOW_MS)
    now = datetime.fromtimestamp(NOW_MS / 1000, UTC).isoformat()
    for kind, count in (("governance", 1), ("soc2", 4), ("gdpr", 3)):
        body = client.get(f"/api/v1/dashboard/compliance/report?type={kind}").json()
        assert (body["period_start"], body["period_end"], body["generated_at"]) == (now, now, now)
        assert (body["score"], body["grade"], len(body["findings"])) == (100, "A+", count)
    default = client.get("/api/v1/dashboard/compliance/report").json()
    assert default["report_type"] == "governance"
    assert default["findings"][0]["title"] == "Policy Coverage: PASS"


@pytest.mark.parametrize("kind", ["custom", "", "SOC2", "governance "])
def test_unknown_report_type(serve: Callable[..., TestClient], kind: str) -> None:
    client = serve([], now_ms=NOW_MS)
    response = client.get("/api/v1/dashboard/compliance/report", params={"type": kind})
    assert response.status_code == 400
    assert response.json() == {
        "error": f"Unknown report type: {kind!r}. Must be one of: gdpr, governance, soc2"
    }


CATALOGUE = {  # framework: (total, full, partial) from the reference's catalogue table
    "eu_ai_act": (10, 2, 8),
    "nist_ai_rmf": (8, 2, 6),
    "soc2": (6, 4, 2),
    "iso_42001": (5, 0, 5),
    "owasp_agentic": (10, 0, 10),
}


@pytest.mark.parametrize("framework", list(CATALOGUE))
def test_regulatory(serve: Callable[..., TestClient], framework: str) -> None:
    client = serve([], now_ms=NOW_MS)
    body = client.get("/api/v1/dashboard/compliance/regulatory", params={"framework": framework}).json()
    total, full, partial = CATALOGUE[framework]
    assert list(body) == [
        "framework",
        "total_requirements",
        "fully_covered",
        "partially_covered",
        "not_covered",
        "coverage_score",
        "gaps",
        "recommendations",
    ]
    assert (body["framework"], body["total_requirements"], body["fully_covered"]) == (framework, total, full)
    assert (body["partially_covered"], body["not_covered"], body["gaps"]) == (partial, 0, [])
    assert body["coverage_score"] == 100.0 and isinstance(body["coverage_score"], float)
    assert len(body["recommendations"]) == 3
    assert str(partial) in body["recommendations"][0]


def test_regulatory_default_and_errors(serve: Callable[..., TestClient]) -> None:
    client = serve([], now_ms=NOW_MS)
    assert client.get("/api/v1/dashboard/compliance/regulatory").json()["framework"] == "eu_ai_act"
    valid = "['eu_ai_act', 'nist_ai_rmf', 'soc2', 'iso_42001', 'owasp_agentic']"
    for framework in ("", "EU_AI_ACT", "gdpr"):
        response = client.get("/api/v1/dashboard/compliance/regulatory", params={"framework": framework})
        assert (response.status_code, response.json()) == (
            400,
            {"error": f"Unknown framework. Valid: {valid}"},
        )
