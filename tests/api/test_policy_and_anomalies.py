"""Policy routes (with hot reload, D7) and anomaly routes (D3, D4) through the app."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from aegis_stream.policy import parse_policy
from aegis_stream.reports.policy_report import score, summary
from aegis_stream.settings import Settings
from tests.api.conftest import load
from tests.api.test_dashboard import NOW_MS, iso
from tests.conftest import event_dict

H = 3_600_000
ONE_RULE = "rules:\n  - name: first\n    approval: block\n"
THREE_RULES = (
    ONE_RULE + "  - name: second\n    approval: approve\n  - name: third\n    match: {target: 'x*'}\n"
)


def wait_for(check: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """Poll ``check`` until it holds or the timeout passes (a condition, not a fixed sleep)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


def rewrite(path: Path, text: str) -> None:
    path.write_text(text)
    st = path.stat()  # make sure the change is visible even on a coarse-mtime file system
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_policy_routes_follow_the_file(serve: Callable[..., TestClient], tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(ONE_RULE)
    client = serve([], now_ms=NOW_MS, policy_path=str(path), policy_poll_ms=20)
    route = "/api/v1/dashboard/policy/summary"
    assert client.get(route).json() == summary(parse_policy(ONE_RULE))
    rewrite(path, THREE_RULES)
    assert wait_for(lambda: client.get(route).json()["rule_count"] == 3)
    assert client.get(route).json() == summary(parse_policy(THREE_RULES))
    assert client.get("/api/v1/dashboard/policy/score").json() == score(parse_policy(THREE_RULES))
    assert client.get("/api/v1/dashboard/overview").json()["policy_rule_count"] == 3
    assert client.get("/api/v1/dashboard/system/health").json()["policy_rules"] == 3
    # an invalid file does not take effect: the policy in force stays
    watcher = client.app.state.aegis.policy_watcher  # type: ignore[attr-defined]
    rewrite(path, "rules: [{approval: sometimes}]\n")
    assert client.portal is not None
    looks = [client.portal.call(watcher.check) for _ in range(3)]  # enough to settle and refuse it
    assert looks == [False, False, False]
    assert client.get(route).json()["rule_count"] == 3
    # nor does an emptied file (an editor half-way through a save), nor a deleted one
    for text in ("", "\n  \n", "# only a comment\n", "---\n"):  # no document at all
        rewrite(path, text)
        assert [client.portal.call(watcher.check) for _ in range(3)] == [False, False, False]
        assert client.get(route).json()["rule_count"] == 3
    path.unlink()
    assert [client.portal.call(watcher.check) for _ in range(3)] == [False, False, False]
    assert client.get(route).json()["rule_count"] == 3
    # a file restored takes effect again, and an explicit empty policy clears it
    rewrite(path, ONE_RULE)
    assert wait_for(lambda: client.get(route).json()["rule_count"] == 1)
    rewrite(path, "rules: []\n")
    assert wait_for(lambda: client.get(route).json()["rule_count"] == 0)


def test_policy_routes(serve: Callable[..., TestClient]) -> None:
    policy = parse_policy(THREE_RULES)
    client = serve([], now_ms=NOW_MS, policy=policy)
    assert client.get("/api/v1/dashboard/policy/score").json()["score"] == 15 + 20 + 15 + 10 + 10 + 10 + 10
    yaml_body = client.get("/api/v1/dashboard/policy/yaml").json()
    assert list(yaml_body) == ["yaml"] and "name: third" in yaml_body["yaml"]
    assert client.get("/api/v1/badge/score").json() == {
        "schemaVersion": 1,
        "label": "aegis score",
        "message": "A- (90/100)",
        "color": "brightgreen",
    }


def profile_events() -> list[dict[str, Any]]:
    """Agents with known block rates; events without agent share 'default' with agent 'default'."""
    out = []
    plan = {
        "blocker": (10, 7),
        "fine": (20, 2),
        "few": (4, 4),
        "half": (6, 3),
        None: (3, 3),
        "default": (3, 1),
    }
    t = NOW_MS - 30 * H
    for agent, (n, blocked) in plan.items():
        for i in range(n):
            t += 60_000
            out.append(
                event_dict(
                    agent_id=agent,
                    approval="block" if i < blocked else "auto",
                    action_type=f"op_{i % 3}",
                    action_target=f"t{i % 4}",
                    timestamp=iso(t),
                )
            )
    # an older event for "blocker", arriving last: first_seen is event time, not arrival
    out.append(
        event_dict(agent_id="blocker", approval="auto", timestamp=iso(NOW_MS - 40 * H), action_type="op_9")
    )
    return out


def expected(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for e in events:
        name = e["agent_id"] or "default"
        p = out.setdefault(
            name,
            {"agent_id": name, "total_actions": 0, "blocked_count": 0, "types": {}, "targets": {}, "ts": []},
        )
        p["total_actions"] += 1
        p["blocked_count"] += e["approval"] == "block"
        p["types"][e["action_type"]] = p["types"].get(e["action_type"], 0) + 1
        p["targets"][e["action_target"]] = p["targets"].get(e["action_target"], 0) + 1
        p["ts"].append(datetime.fromisoformat(e["timestamp"]))
    return [
        {
            "agent_id": p["agent_id"],
            "total_actions": p["total_actions"],
            "blocked_count": p["blocked_count"],
            "block_rate": round(p["blocked_count"] / p["total_actions"], 3),
            "action_types": p["types"],
            "targets": p["targets"],
            "first_seen": min(p["ts"]).astimezone(UTC).isoformat(),
            "last_seen": max(p["ts"]).astimezone(UTC).isoformat(),
            "action_types_overflow": 0,
            "targets_overflow": 0,
        }
        for p in out.values()
    ]


def test_profiles(serve: Callable[..., TestClient]) -> None:
    events = profile_events()
    client = serve(events, now_ms=NOW_MS, batch_size=7)
    body = client.get("/api/v1/dashboard/anomalies/profiles").json()
    assert list(body) == ["profiles", "configured"] and body["configured"] is True
    assert body["profiles"] == expected(events)


def test_profiles_polled_follow_new_events(serve: Callable[..., TestClient], settings: Settings) -> None:
    """The agents that acted since the last request are rendered again; the others are reused."""
    events = profile_events()
    client = serve(events, now_ms=NOW_MS)
    url = "/api/v1/dashboard/anomalies/profiles"
    first = client.get(url)
    assert client.get(url).content == first.content  # nothing changed: byte for byte the same
    more = [
        event_dict(agent_id="blocker", approval="block", action_target="new", timestamp=iso(NOW_MS - H)),
        event_dict(agent_id=None, action_type="op_7", timestamp=iso(NOW_MS - 2 * H)),
    ]
    load(settings, more, NOW_MS)
    body = client.get(url).json()
    assert body == {"profiles": expected(events + more), "configured": True}


def test_alerts(serve: Callable[..., TestClient]) -> None:
    events = profile_events()
    client = serve(events, now_ms=NOW_MS)
    body = client.get("/api/v1/dashboard/anomalies/alerts").json()
    assert list(body) == ["alerts", "configured"] and body["configured"] is True
    profiles = expected(events)
    qualifying = [
        p for p in profiles if p["total_actions"] >= 5 and p["blocked_count"] / p["total_actions"] > 0.5
    ]
    qualifying.sort(key=lambda p: p["last_seen"], reverse=True)
    assert (
        [a["agent_id"] for a in body["alerts"]]
        == [p["agent_id"] for p in qualifying]
        == ["default", "blocker"]
    )
    for alert, p in zip(body["alerts"], qualifying, strict=True):
        assert list(alert) == ["type", "severity", "agent_id", "message", "timestamp"]
        assert alert["type"] == "high_block_rate"
        assert alert["severity"] == min(1.0, p["blocked_count"] / p["total_actions"])
        assert f"{p['blocked_count']}/{p['total_actions']}" in alert["message"]
        assert alert["timestamp"] == p["last_seen"]


def test_anomalies_switched_off(serve: Callable[..., TestClient]) -> None:
    client = serve(profile_events(), now_ms=NOW_MS, anomalies=False)
    assert client.get("/api/v1/dashboard/anomalies/profiles").json() == {"profiles": [], "configured": False}
    assert client.get("/api/v1/dashboard/anomalies/alerts").json() == {"alerts": [], "configured": False}
    assert client.get("/api/v1/dashboard/system/health").json()["anomaly_detector"] is False
