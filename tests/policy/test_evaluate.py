"""Choosing a rule: globs, agent globs, order, naming, defaults, airline policy."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import aegis_stream
from aegis_stream.policy import Decision, Policy, Rule, load_policy, parse_policy

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
AIRLINE = Path(aegis_stream.__file__).parent / "data" / "airline-policy.yaml"


def _one_rule(match_type: str = "*", match_target: str = "*", match_agent: str = "*") -> Policy:
    rule = Rule("hit", match_type, match_target, match_agent, risk_level="HIGH", approval="auto")
    return Policy(rules=(rule,))


# pattern, text, matches?
GLOBS = [
    ("*", "", True),
    ("*", "anything/at/all", True),
    ("read_*", "read_users", True),
    ("read_*", "read_", True),
    ("read_*", "Read_users", False),
    ("read_*", "xread_users", False),
    ("*users", "read_users", True),
    ("*users", "read_users2", False),
    ("a?c", "abc", True),
    ("a?c", "a/c", True),
    ("a?c", "ac", False),
    ("a?c", "abbc", False),
    ("[abc]x", "bx", True),
    ("[abc]x", "dx", False),
    ("[abc]x", "Bx", False),
    ("[!abc]x", "dx", True),
    ("[!abc]x", "ax", False),
    ("[!abc]x", "x", False),
    ("[a-c]*", "cat", True),
    ("[a-c]*", "dog", False),
    ("files/*", "files/a/b/c.txt", True),
    ("files/*", "files", False),
    ("*.txt", "dir/sub/file.txt", True),
    ("*.txt", "file.TXT", False),
    ("a.c", "abc", False),
    ("a.c", "a.c", True),
    ("delete", "delete", True),
    ("delete", "Delete", False),
    ("delete", "delete_all", False),
    ("[", "[", True),
    ("(x)+", "(x)+", True),
    ("(x)+", "xx", False),
]


@pytest.mark.parametrize(("pattern", "text", "hit"), GLOBS)
def test_type_glob(pattern: str, text: str, hit: bool) -> None:
    decision = _one_rule(match_type=pattern).evaluate(text, "t", now=NOW)
    assert decision.matched_rule == ("hit" if hit else "<default>")


@pytest.mark.parametrize(("pattern", "text", "hit"), GLOBS)
def test_target_glob(pattern: str, text: str, hit: bool) -> None:
    decision = _one_rule(match_target=pattern).evaluate("t", text, now=NOW)
    assert decision.matched_rule == ("hit" if hit else "<default>")


@pytest.mark.parametrize(
    ("pattern", "agent", "hit"),
    [
        ("*", None, True),
        ("*", "", True),
        ("*", "agent-crm", True),
        ("agent-*", "agent-crm", True),
        ("agent-*", "Agent-crm", False),
        ("agent-*", "other", False),
        ("agent-*", None, False),
        ("agent-*", "", False),
        ("crm", "crm", True),
        ("crm", "crm2", False),
        # An empty or missing agent is tested as the literal "*".
        ("[*]", None, True),
        ("[*]", "", True),
        ("[*]", "x", False),
        ("?", None, True),
        ("bot-?", "bot-1", True),
        ("bot-?", "bot-12", False),
    ],
)
def test_agent_glob(pattern: str, agent: str | None, hit: bool) -> None:
    decision = _one_rule(match_agent=pattern).evaluate("t", "t", agent_id=agent, now=NOW)
    assert decision.matched_rule == ("hit" if hit else "<default>")


def test_type_and_target_must_both_match() -> None:
    policy = _one_rule(match_type="delete_*", match_target="db/*")
    assert policy.evaluate("delete_row", "db/users", now=NOW).matched_rule == "hit"
    assert policy.evaluate("delete_row", "fs/users", now=NOW).matched_rule == "<default>"
    assert policy.evaluate("read_row", "db/users", now=NOW).matched_rule == "<default>"


ORDERED = parse_policy(
    """
defaults: {risk_level: high, approval: approve}
rules:
  - name: prod_delete
    match: {type: "delete_*", target: "prod/*"}
    risk_level: critical
    approval: block
  - name: any_delete
    match: {type: "delete_*"}
    risk_level: high
    approval: approve
  - name: crm_reads
    match: {type: "read_*", agent: "crm-*"}
    risk_level: low
    approval: auto
  - name: big_reads
    match: {type: "read_*"}
    conditions: {param_gt: {rows: 1000}}
    risk_level: medium
    approval: approve
  - name: reads
    match: {type: "read_*"}
    risk_level: low
    approval: auto
  - name: ""
    match: {type: "send_*", target: "mail/*"}
    risk_level: medium
    approval: approve
  - name: null
    match: {type: "export"}
    risk_level: high
    approval: block
  - match: {type: "ping"}
    risk_level: low
    approval: auto
"""
)


@pytest.mark.parametrize(
    ("action_type", "target", "params", "agent", "expected"),
    [
        ("delete_row", "prod/users", None, None, Decision("CRITICAL", "block", "prod_delete")),
        ("delete_row", "dev/users", None, None, Decision("HIGH", "approve", "any_delete")),
        ("read_rows", "db", None, "crm-eu", Decision("LOW", "auto", "crm_reads")),
        ("read_rows", "db", {"rows": 5000}, "crm-eu", Decision("LOW", "auto", "crm_reads")),
        ("read_rows", "db", {"rows": 5000}, "ops", Decision("MEDIUM", "approve", "big_reads")),
        ("read_rows", "db", {"rows": 10}, "ops", Decision("LOW", "auto", "reads")),
        ("read_rows", "db", None, None, Decision("LOW", "auto", "reads")),
        ("send_mail", "mail/alice", None, None, Decision("MEDIUM", "approve", "send_*@mail/*")),
        ("send_mail", "sms/alice", None, None, Decision("HIGH", "approve", "<default>")),
        ("export", "anything", None, None, Decision("HIGH", "block", "export@*")),
        ("ping", "host", None, None, Decision("LOW", "auto", "rule_7")),
        ("PING", "host", None, None, Decision("HIGH", "approve", "<default>")),
        ("update_row", "db", None, None, Decision("HIGH", "approve", "<default>")),
    ],
)
def test_first_match_wins_and_naming(
    action_type: str, target: str, params: dict[str, Any] | None, agent: str | None, expected: Decision
) -> None:
    assert ORDERED.evaluate(action_type, target, params, agent_id=agent, now=NOW) == expected


def test_empty_policy_blocks_everything() -> None:
    assert Policy().evaluate("anything", "anywhere", now=NOW) == Decision("MEDIUM", "block", "<default>")
    assert parse_policy("").evaluate("x", "y", now=NOW) == Decision("MEDIUM", "block", "<default>")


def test_null_conditions_match_unconditionally() -> None:
    policy = Policy(rules=(Rule("r", conditions=None, risk_level="LOW", approval="auto"),))
    assert policy.evaluate("x", "y", {"a": 1}, now=NOW) == Decision("LOW", "auto", "r")


def test_evaluation_repeats_identically() -> None:
    first = [ORDERED.evaluate("read_rows", "db", {"rows": n}, now=NOW) for n in (1, 2000, 3)]
    second = [ORDERED.evaluate("read_rows", "db", {"rows": n}, now=NOW) for n in (1, 2000, 3)]
    assert first == second
    assert [d.matched_rule for d in first] == ["reads", "big_reads", "reads"]


# tool, params, expected decision under the airline demo policy
AIRLINE_CASES = [
    ("get_reservation_details", {"reservation_id": "ABC123"}, Decision("LOW", "auto", "lookups")),
    ("get_user_details", {"user_id": "mia_li_3668"}, Decision("LOW", "auto", "lookups")),
    (
        "search_direct_flight",
        {"origin": "JFK", "destination": "SEA"},
        Decision("LOW", "auto", "flight_search"),
    ),
    (
        "search_onestop_flight",
        {"origin": "JFK", "destination": "SFO"},
        Decision("LOW", "auto", "flight_search"),
    ),
    ("list_all_airports", {}, Decision("LOW", "auto", "airport_list")),
    ("think", {"thought": "check the fare rules"}, Decision("LOW", "auto", "think")),
    ("calculate", {"expression": "2 * 350"}, Decision("LOW", "auto", "calculate")),
    ("transfer_to_human_agents", {"summary": "refund dispute"}, Decision("LOW", "auto", "human_handoff")),
    (
        "send_certificate",
        {"user_id": "u1", "amount": 600},
        Decision("CRITICAL", "block", "large_certificate"),
    ),
    (
        "send_certificate",
        {"user_id": "u1", "amount": 501},
        Decision("CRITICAL", "block", "large_certificate"),
    ),
    ("send_certificate", {"user_id": "u1", "amount": 500}, Decision("HIGH", "approve", "certificate")),
    ("send_certificate", {"user_id": "u1", "amount": 100}, Decision("HIGH", "approve", "certificate")),
    ("send_certificate", {"user_id": "u1"}, Decision("HIGH", "approve", "certificate")),
    ("book_reservation", {"user_id": "u1", "flights": []}, Decision("HIGH", "approve", "booking")),
    ("cancel_reservation", {"reservation_id": "ABC123"}, Decision("HIGH", "approve", "cancellation")),
    (
        "update_reservation_flights",
        {"reservation_id": "ABC123", "cabin": "economy", "flights": [], "payment_id": "gift_card_1"},
        Decision("MEDIUM", "approve", "reservation_changes"),
    ),
    (
        "update_reservation_baggages",
        {"reservation_id": "ABC123"},
        Decision("MEDIUM", "approve", "reservation_changes"),
    ),
    (
        "update_reservation_passengers",
        {"reservation_id": "ABC123"},
        Decision("MEDIUM", "approve", "reservation_changes"),
    ),
    ("delete_user", {}, Decision("MEDIUM", "block", "<default>")),
]


@pytest.mark.parametrize(("tool", "params", "expected"), AIRLINE_CASES)
def test_airline_policy(tool: str, params: dict[str, Any], expected: Decision) -> None:
    policy = load_policy(AIRLINE)
    assert policy.evaluate(tool, tool, params, agent_id="gpt-4o", now=NOW) == expected


def test_airline_policy_shape() -> None:
    policy = load_policy(AIRLINE)
    assert [rule.name for rule in policy.rules] == [
        "lookups",
        "flight_search",
        "airport_list",
        "think",
        "calculate",
        "human_handoff",
        "large_certificate",
        "certificate",
        "booking",
        "cancellation",
        "reservation_changes",
    ]
    assert (policy.default_risk_level, policy.default_approval) == ("MEDIUM", "block")
    assert policy.rules[6].conditions == {"param_gt": {"amount": 500}}
    header = AIRLINE.read_text("utf-8").splitlines()[0]
    assert header.startswith("#") and "tau-bench" in header
