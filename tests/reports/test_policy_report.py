"""Policy summary, score, badge and YAML view, table-driven against the reference's rules."""

from __future__ import annotations

import pytest
import yaml

from aegis_stream.policy import parse_policy
from aegis_stream.reports.policy_report import badge, score, summary, to_yaml

NAMES = [
    "Has policy rules",
    "Blocks destructive actions",
    "Approval gates for sensitive ops",
    "3+ policy rules",
    "Target-specific rules",
    "Conditional rules",
    "Non-permissive defaults",
    "All rules named",
]
POINTS = [15, 20, 15, 10, 10, 10, 10, 10]

FULL = """
defaults: {risk_level: low, approval: approve}
rules:
  - name: no-deletes
    match: {type: "delete_*", agent: "bot-*"}
    risk_level: critical
    approval: block
  - name: gate
    match: {target: "prod/*"}
    conditions: {param_gt: {amount: 100}}
    approval: approve
  - match: {type: read}
    risk_level: low
    approval: auto
"""


@pytest.mark.parametrize(
    ("text", "passed", "total", "grade"),
    [
        ("", [0, 0, 0, 0, 0, 0, 1, 0], 10, "F"),  # the empty policy: default approval is block
        ("defaults: {approval: auto}", [0] * 8, 0, "F"),
        (FULL, [1, 1, 1, 1, 1, 1, 1, 1], 100, "A+"),
        ("rules: [{approval: block}]", [1, 1, 0, 0, 0, 0, 1, 1], 55, "F"),
        (
            "rules: [{approval: block, match: {target: x}}]",
            [1, 1, 0, 0, 1, 0, 1, 1],
            65,
            "D",
        ),  # D+ in reports
        ("rules: [{name: '', approval: approve}]", [1, 0, 1, 0, 0, 0, 1, 0], 40, "F"),
        ("rules: [{name: null, match: {target: '*'}, conditions: {}}]", [1, 0, 1, 0, 0, 0, 1, 0], 40, "F"),
        (
            "defaults: {approval: auto}\nrules: [{approval: auto}, {approval: auto}, {approval: auto}]",
            [1, 0, 0, 1, 0, 0, 0, 1],
            35,
            "F",
        ),
    ],
)
def test_score(text: str, passed: list[int], total: int, grade: str) -> None:
    result = score(parse_policy(text))
    assert result["checks"] == [
        {"name": n, "passed": bool(p), "points": pts} for n, p, pts in zip(NAMES, passed, POINTS, strict=True)
    ]
    assert result["score"] == total == sum(pts for p, pts in zip(passed, POINTS, strict=True) if p)
    assert result["grade"] == grade
    assert list(result) == ["score", "grade", "checks"]


@pytest.mark.parametrize(
    ("text", "message", "color"),
    [
        (FULL, "A+ (100/100)", "brightgreen"),
        (
            "rules: [{approval: block}, {approval: approve, name: x}, {approval: auto}]",
            "B- (80/100)",
            "brightgreen",
        ),
        ("rules: [{approval: block, match: {target: x}}]", "D (65/100)", "yellow"),
        ("rules: [{approval: block}]", "F (55/100)", "orange"),
        ("rules: [{name: '', approval: approve}]", "F (40/100)", "orange"),
        ("", "F (10/100)", "red"),
    ],
)
def test_badge(text: str, message: str, color: str) -> None:
    assert badge(parse_policy(text)) == {
        "schemaVersion": 1,
        "label": "aegis score",
        "message": message,
        "color": color,
    }


def test_summary() -> None:
    body = summary(parse_policy(FULL))
    assert list(body) == [
        "default_risk_level",
        "default_approval",
        "rule_count",
        "rules",
        "has_destructive_blocks",
        "has_approval_gates",
    ]
    assert (body["default_risk_level"], body["default_approval"], body["rule_count"]) == ("LOW", "approve", 3)
    assert body["rules"][0] == {
        "name": "no-deletes",
        "match_type": "delete_*",
        "match_target": "*",
        "risk_level": "CRITICAL",
        "approval": "block",
        "conditions": {},
    }
    assert body["rules"][1]["conditions"] == {"param_gt": {"amount": 100}}
    assert body["rules"][2]["name"] == "rule_2"  # unnamed rules are named by position
    assert (body["has_destructive_blocks"], body["has_approval_gates"]) == (True, True)


def test_summary_of_null_name_and_conditions() -> None:
    rule = summary(parse_policy("rules: [{name: null, conditions: null}]"))["rules"][0]
    assert rule["name"] is None and rule["conditions"] is None


def test_summary_of_yaml_dates_is_json_safe() -> None:
    rule = summary(parse_policy("rules: [{conditions: {param_eq: {day: 2026-01-02}}}]"))["rules"][0]
    assert rule["conditions"] == {"param_eq": {"day": "2026-01-02"}}


def test_yaml_view() -> None:
    text = to_yaml(parse_policy(FULL))
    assert yaml.safe_load(text) == {
        "version": "1",
        "defaults": {"risk_level": "low", "approval": "approve"},
        "rules": [
            {
                "name": "no-deletes",
                "match": {"type": "delete_*"},
                "risk_level": "critical",
                "approval": "block",
            },
            {
                "name": "gate",
                "match": {"target": "prod/*"},
                "conditions": {"param_gt": {"amount": 100}},
                "risk_level": "medium",
                "approval": "approve",
            },
            {"name": "rule_2", "match": {"type": "read"}, "risk_level": "low", "approval": "auto"},
        ],
    }
    assert text.startswith("version: '1'\ndefaults:\n  risk_level: low\n")


def test_yaml_view_of_the_empty_policy() -> None:
    assert (
        to_yaml(parse_policy(""))
        == "version: '1'\ndefaults:\n  risk_level: medium\n  approval: block\nrules: []\n"
    )


def test_yaml_view_reloads_to_the_same_summary_minus_agents() -> None:
    policy = parse_policy(FULL)
    again = parse_policy(to_yaml(policy))
    assert summary(again) == summary(policy)


def test_yaml_view_keeps_unicode() -> None:
    assert "name: règle-ü" in to_yaml(parse_policy("rules: [{name: règle-ü}]"))
