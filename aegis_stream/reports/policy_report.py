"""What the policy endpoints show: summary, the eight-check score, the YAML view and the badge.

Pure functions of a :class:`Policy`; names, points and the grade table follow
the reference exactly (they are part of the contract).
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from aegis_stream.policy import Policy
from aegis_stream.reports.grades import dashboard_grade

BADGE_COLORS = ((80, "brightgreen"), (60, "yellow"), (40, "orange"))


def _json_safe(value: Any) -> Any:
    """Conditions as loaded may hold YAML values JSON cannot carry (dates): those become strings."""
    return json.loads(json.dumps(value, default=str))


def summary(policy: Policy) -> dict[str, Any]:
    """Defaults, rules (without their agent glob, as the reference) and two coverage flags."""
    return {
        "default_risk_level": policy.default_risk_level,
        "default_approval": policy.default_approval,
        "rule_count": len(policy.rules),
        "rules": [
            {
                "name": rule.name,
                "match_type": rule.match_type,
                "match_target": rule.match_target,
                "risk_level": rule.risk_level,
                "approval": rule.approval,
                "conditions": _json_safe(rule.conditions),
            }
            for rule in policy.rules
        ],
        "has_destructive_blocks": any(rule.approval == "block" for rule in policy.rules),
        "has_approval_gates": any(rule.approval == "approve" for rule in policy.rules),
    }


def checks(policy: Policy) -> list[dict[str, Any]]:
    """The eight checks, in order; ``points`` is the check's weight whether or not it passed."""
    rules = policy.rules
    results = [
        ("Has policy rules", 15, bool(rules)),
        ("Blocks destructive actions", 20, any(r.approval == "block" for r in rules)),
        ("Approval gates for sensitive ops", 15, any(r.approval == "approve" for r in rules)),
        ("3+ policy rules", 10, len(rules) >= 3),
        ("Target-specific rules", 10, any(r.match_target and r.match_target != "*" for r in rules)),
        ("Conditional rules", 10, any(r.conditions for r in rules)),
        ("Non-permissive defaults", 10, policy.default_approval != "auto"),
        ("All rules named", 10, bool(rules) and all(r.name for r in rules)),
    ]
    return [{"name": name, "passed": passed, "points": points} for name, points, passed in results]


def score(policy: Policy) -> dict[str, Any]:
    """Sum of the passed checks' points (0-100), graded with the dashboard table."""
    listed = checks(policy)
    total = sum(c["points"] for c in listed if c["passed"])
    return {"score": total, "grade": dashboard_grade(total), "checks": listed}


def badge(policy: Policy) -> dict[str, Any]:
    """A Shields.io endpoint badge of the policy score."""
    result = score(policy)
    points = result["score"]
    color = next((c for floor, c in BADGE_COLORS if points >= floor), "red")
    return {
        "schemaVersion": 1,
        "label": "aegis score",
        "message": f"{result['grade']} ({points}/100)",
        "color": color,
    }


def to_yaml(policy: Policy) -> str:
    """The policy re-serialised as the reference's editor shows it.

    Kept: defaults, and per rule a truthy name, the type/target globs that
    are not ``*``, truthy conditions, risk level and approval. Dropped, as
    in the reference: agent globs, scope and falsy names.
    """
    rules = []
    for rule in policy.rules:
        out: dict[str, Any] = {}
        if rule.name:
            out["name"] = rule.name
        match = {k: v for k, v in (("type", rule.match_type), ("target", rule.match_target)) if v != "*"}
        if match:
            out["match"] = match
        if rule.conditions:
            out["conditions"] = rule.conditions
        out["risk_level"] = rule.risk_level.lower()
        out["approval"] = rule.approval
        rules.append(out)
    document = {
        "version": "1",
        "defaults": {"risk_level": policy.default_risk_level.lower(), "approval": policy.default_approval},
        "rules": rules,
    }
    return yaml.safe_dump(document, default_flow_style=False, sort_keys=False, allow_unicode=True)
