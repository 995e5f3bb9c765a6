"""The pure projection, table-driven."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from aegis_stream.events import parse_event
from aegis_stream.project import aggregate, project
from aegis_stream.streamids import id_key
from tests.conftest import event_dict

NOON_MS = 1_796_040_000_000
H = 3_600_000


@pytest.mark.parametrize(
    ("overrides", "totals"),
    [
        ({}, ("total", "matched", "covered")),
        ({"matched_rule": "<default>"}, ("total", "matched")),
        ({"matched_rule": None}, ("total",)),
        ({"matched_rule": ""}, ("total",)),
        ({"risk_level": "HIGH", "approval": "auto"}, ("total", "matched", "covered", "high_risk", "bypass")),
        ({"risk_level": "CRITICAL", "approval": "block"}, ("total", "matched", "covered", "high_risk")),
        ({"risk_level": "MEDIUM", "approval": "auto"}, ("total", "matched", "covered")),
        ({"action_type": "update_Config"}, ("total", "matched", "covered", "changes")),
        ({"action_type": "POLICY_set", "matched_rule": None}, ("total", "changes", "changes_unmatched")),
        ({"action_type": "bulk_delete"}, ("total", "matched", "covered", "deletes")),
        (
            {"action_type": "delete_config", "matched_rule": ""},
            ("total", "changes", "changes_unmatched", "deletes", "deletes_unmatched"),
        ),
        ({"action_target": "CustomerDB"}, ("total", "matched", "covered", "personal")),
        ({"action_target": "x-e-mail"}, ("total", "matched", "covered")),  # "e-mail" is not "email"
        (
            {"action_target": "user:7", "matched_rule": None},
            ("total", "personal", "personal_unmatched"),
        ),
        (
            {"action_type": "delete_user", "action_target": "acct/profile", "matched_rule": "<default>"},
            ("total", "matched", "deletes", "personal"),
        ),
    ],
)
def test_totals(overrides: dict[str, Any], totals: tuple[str, ...]) -> None:
    assert project(parse_event(event_dict(**overrides))).totals == totals


@pytest.mark.parametrize(
    ("overrides", "dims"),
    [
        (
            {},
            {"risk": "LOW", "approval": "auto", "status": "success", "type": "read_file", "agent": "agent-a"},
        ),
        (
            {"result_status": None, "agent_id": None},
            {"risk": "LOW", "approval": "auto", "status": "unknown", "type": "read_file", "agent": ""},
        ),
        (
            {"risk_level": "critical", "approval": "block", "result_status": "blocked", "action_type": "rm"},
            {"risk": "CRITICAL", "approval": "block", "status": "blocked", "type": "rm", "agent": "agent-a"},
        ),
    ],
)
def test_dimensions(overrides: dict[str, Any], dims: dict[str, str]) -> None:
    assert dict(project(parse_event(event_dict(**overrides))).dims) == dims


@pytest.mark.parametrize(
    ("approval", "field"), [("auto", "auto"), ("approve", "approved"), ("block", "blocked")]
)
def test_buckets(approval: str, field: str) -> None:
    inc = project(parse_event(event_dict(timestamp="2026-11-30T13:59:59.999Z", approval=approval)))
    hour = NOON_MS + H
    assert inc.buckets == (
        (H, hour, "total"),
        (H, hour, field),
        (6 * H, NOON_MS, "total"),
        (6 * H, NOON_MS, field),
        (24 * H, NOON_MS - 12 * H, "total"),
        (24 * H, NOON_MS - 12 * H, field),
    )


@pytest.mark.parametrize(
    ("overrides", "agent", "counters"),
    [
        ({}, "agent-a", ("total",)),
        ({"approval": "block"}, "agent-a", ("total", "blocked")),
        ({"approval": "approve", "agent_id": None}, "", ("total",)),
        ({"approval": "block", "agent_id": ""}, "", ("total", "blocked")),
    ],
)
def test_profile(overrides: dict[str, Any], agent: str, counters: tuple[str, ...]) -> None:
    event = parse_event(event_dict(timestamp="2026-11-30T12:00:00.000250Z", **overrides))
    profile = project(event).profile
    assert profile.agent == agent
    assert profile.counters == counters
    assert profile.maps == (("types", "read_file"), ("targets", "docs/readme.md"))
    assert profile.ts_us == NOON_MS * 1000 + 250


def test_aggregate_sums_and_keeps_first_seen() -> None:
    events = [
        ("1-0", parse_event(event_dict(risk_level="HIGH", approval="approve"))),
        ("1-1", parse_event(event_dict(risk_level="LOW"))),
        ("2-0", parse_event(event_dict(risk_level="HIGH", agent_id=None, result_status=None))),
    ]
    delta = aggregate(events)
    assert delta.events == 3
    # the third event is HIGH on auto: a bypass
    assert delta.totals == {"total": 3, "matched": 3, "covered": 3, "high_risk": 2, "bypass": 1}
    assert delta.dims[("risk", "HIGH")] == 2
    assert delta.dims[("risk", "LOW")] == 1
    assert delta.dims[("agent", "")] == 1
    assert delta.dims[("status", "unknown")] == 1
    assert delta.first_seen[("risk", "HIGH")] == "1-0"
    assert delta.first_seen[("risk", "LOW")] == "1-1"
    assert delta.first_seen[("agent", "")] == "2-0"
    assert delta.buckets[(H, NOON_MS, "total")] == 3
    assert delta.buckets[(H, NOON_MS, "approved")] == 1
    assert delta.buckets[(H, NOON_MS, "auto")] == 2


def stamp(rng: random.Random) -> str:
    return f"2026-11-{rng.randint(1, 30):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z"


def test_batch_sum_equals_per_event_projection() -> None:
    """The shape-counting aggregator gives exactly the sum of project() over every event."""
    rng = random.Random(7)
    entries = []
    for i in range(3000):
        entries.append(
            (
                f"{1000 + i}-{i % 3}",
                parse_event(
                    event_dict(
                        timestamp=stamp(rng),
                        risk_level=rng.choice(["LOW", "MEDIUM", "HIGH", "CRITICAL"]),
                        approval=rng.choice(["auto", "approve", "block"]),
                        result_status=rng.choice([None, "success", "failed"]),
                        action_type=f"t{rng.randint(0, 9)}",
                        agent_id=rng.choice([None, "a", "b", "c"]),
                        action_target=f"x{rng.randint(0, 40)}",
                        matched_rule=rng.choice([None, "", "<default>", "r1", "r2"]),
                    )
                ),
            )
        )
    totals: Counter[str] = Counter()
    dims: Counter[tuple[str, str]] = Counter()
    buckets: Counter[tuple[int, int, str]] = Counter()
    first: dict[tuple[str, str], str] = {}
    counters: Counter[tuple[str, str]] = Counter()
    maps: Counter[tuple[str, str, str]] = Counter()
    maps_first: dict[tuple[str, str, str], str] = {}
    spans: dict[str, tuple[int, int]] = {}
    for entry_id, event in entries:
        inc = project(event)
        totals.update(inc.totals)
        dims.update(inc.dims)
        buckets.update(inc.buckets)
        for dim in inc.dims:
            first.setdefault(dim, entry_id)
        agent = inc.profile.agent
        counters.update((agent, name) for name in inc.profile.counters)
        for kind, value in inc.profile.maps:
            maps[(agent, kind, value)] += 1
            maps_first.setdefault((agent, kind, value), entry_id)
        low, high = spans.get(agent, (inc.profile.ts_us, inc.profile.ts_us))
        spans[agent] = (min(low, inc.profile.ts_us), max(high, inc.profile.ts_us))
    delta = aggregate(entries)
    assert delta.events == 3000
    assert delta.totals == totals
    assert delta.dims == dims
    assert delta.buckets == buckets
    assert delta.first_seen == first
    assert delta.profile_counters == counters
    assert delta.profile_maps == maps
    assert delta.profile_first_seen == maps_first
    assert delta.profile_spans == spans
    # the writer admits capped values in this order: within each agent's map, stream order
    for agent, kind in {(a, k) for a, k, _ in maps}:
        in_delta = [v for a, k, v in delta.profile_maps if (a, k) == (agent, kind)]
        assert in_delta == sorted(in_delta, key=lambda v: id_key(maps_first[(agent, kind, v)]))
