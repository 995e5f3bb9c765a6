"""Every condition key, its edge cases, and fail-closed behaviour."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from aegis_stream.policy import Policy, Rule, parse_policy
from aegis_stream.policy import conditions as conditions_module

WED_NOON = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday
LOGGER = "aegis_stream.policy.conditions"


def at(hh: int, mm: int, day: int = 4) -> datetime:
    return datetime(2026, 3, day, hh, mm, tzinfo=UTC)


def holds(
    conditions: dict[str, Any] | None,
    params: dict[str, Any] | None = None,
    now: datetime = WED_NOON,
    action: tuple[str, str, str] = ("act", "tgt", ""),
) -> bool:
    policy = Policy(rules=(Rule("cond", conditions=conditions, risk_level="HIGH", approval="auto"),))
    decision = policy.evaluate(action[0], action[1], params, action[2], now=now)
    return decision.matched_rule == "cond"


@pytest.mark.parametrize(
    ("conditions", "now", "expected"),
    [
        ({"time_after": "09:00"}, at(9, 0), True),
        ({"time_after": "09:00"}, at(8, 59), False),
        ({"time_after": "09:00"}, at(23, 59), True),
        ({"time_after": "9:00"}, at(9, 30), True),
        ({"time_before": "17:30"}, at(17, 29), True),
        ({"time_before": "17:30"}, at(17, 30), False),
        ({"time_before": "17:30"}, at(0, 0), True),
        ({"time_after": "09:00", "time_before": "17:00"}, at(12, 0), True),
        ({"time_after": "09:00", "time_before": "17:00"}, at(17, 0), False),
        # "after hours" written as a pair can never hold: the keys are ANDed.
        ({"time_after": "18:00", "time_before": "08:00"}, at(20, 0), False),
        ({"time_after": "18:00", "time_before": "08:00"}, at(7, 0), False),
        # now is read in UTC: 10:00 at +02:00 is 08:00 UTC.
        ({"time_after": "09:00"}, datetime(2026, 3, 4, 10, 0, tzinfo=timezone(timedelta(hours=2))), False),
        ({"time_before": "09:00"}, datetime(2026, 3, 4, 10, 0, tzinfo=timezone(timedelta(hours=2))), True),
        ({"weekdays": [1, 2, 3, 4, 5]}, at(12, 0, day=4), True),
        ({"weekdays": [1, 2, 3, 4, 5]}, at(12, 0, day=7), False),
        ({"weekdays": [6, 7]}, at(12, 0, day=8), True),
        ({"weekdays": [7]}, at(12, 0, day=7), False),
        ({"weekdays": [3]}, at(12, 0, day=4), True),
        ({"weekdays": []}, at(12, 0, day=4), False),
        ({"weekdays": ["3"]}, at(12, 0, day=4), False),
    ],
)
def test_time_and_weekday_conditions(conditions: dict[str, Any], now: datetime, expected: bool) -> None:
    assert holds(conditions, now=now) is expected


@pytest.mark.parametrize(
    ("conditions", "params", "expected"),
    [
        ({"param_eq": {"env": "prod"}}, {"env": "prod"}, True),
        ({"param_eq": {"env": "prod"}}, {"env": "dev"}, False),
        ({"param_eq": {"env": "prod"}}, {}, False),
        ({"param_eq": {"env": "prod"}}, None, False),
        ({"param_eq": {"env": "prod"}}, {"env": None}, False),
        ({"param_eq": {"n": 5}}, {"n": 5.0}, True),
        ({"param_eq": {"n": 5}}, {"n": "5"}, False),
        ({"param_eq": {"env": "prod", "zone": "eu"}}, {"env": "prod", "zone": "eu"}, True),
        ({"param_eq": {"env": "prod", "zone": "eu"}}, {"env": "prod", "zone": "us"}, False),
        ({"param_eq": {}}, {}, True),
        ({"param_gt": {"amount": 500}}, {"amount": 501}, True),
        ({"param_gt": {"amount": 500}}, {"amount": 500.5}, True),
        ({"param_gt": {"amount": 500}}, {"amount": 500}, False),
        ({"param_gt": {"amount": 500}}, {"amount": -1}, False),
        ({"param_gt": {"amount": 500}}, {}, False),
        ({"param_lt": {"amount": 10}}, {"amount": 9}, True),
        ({"param_lt": {"amount": 10}}, {"amount": 10}, False),
        ({"param_gte": {"amount": 10}}, {"amount": 10}, True),
        ({"param_gte": {"amount": 10}}, {"amount": 9.99}, False),
        ({"param_lte": {"amount": 10}}, {"amount": 10}, True),
        ({"param_lte": {"amount": 10}}, {"amount": 11}, False),
        ({"param_gt": {"name": "m"}}, {"name": "n"}, True),
        ({"param_gt": {"amount": 1}, "param_lt": {"amount": 5}}, {"amount": 3}, True),
        ({"param_gt": {"amount": 1}, "param_lt": {"amount": 5}}, {"amount": 7}, False),
        ({"param_contains": {"tags": "urgent"}}, {"tags": ["urgent", "x"]}, True),
        ({"param_contains": {"tags": "urgent"}}, {"tags": ["u"]}, False),
        ({"param_contains": {"path": "/etc/"}}, {"path": "/etc/passwd"}, True),
        ({"param_contains": {"path": "/etc/"}}, {"path": "/home/me"}, False),
        ({"param_contains": {"meta": "k"}}, {"meta": {"k": 1}}, True),
        ({"param_contains": {"tags": "a"}}, {}, False),
        ({"param_matches": {"email": r"@example\.com$"}}, {"email": "bob@example.com"}, True),
        ({"param_matches": {"email": r"@example\.com$"}}, {"email": "bob@example.org"}, False),
        ({"param_matches": {"id": r"^\d+$"}}, {"id": 12345}, True),
        ({"param_matches": {"id": "abc"}}, {"id": "xxABCxx"}, False),
        ({"param_matches": {"id": "(?i)abc"}}, {"id": "xxABCxx"}, True),
        ({"param_matches": {"id": "."}}, {}, False),
        ({"param_matches": {"id": "."}}, {"id": None}, False),
        ({"param_matches": {"s": "X"}}, {"s": "a" * 9999 + "X"}, True),
        ({"param_matches": {"s": "X"}}, {"s": "a" * 10000 + "X"}, False),
        ({"param_matches": {"s": "a" * 1000}}, {"s": "a" * 1000}, True),
        ({"param_matches": {"a": "^1$", "b": "^2$"}}, {"a": 1, "b": 2}, True),
        ({"param_matches": {"a": "^1$", "b": "^2$"}}, {"a": 1, "b": 3}, False),
    ],
)
def test_param_conditions(conditions: dict[str, Any], params: dict[str, Any] | None, expected: bool) -> None:
    assert holds(conditions, params) is expected


@pytest.mark.parametrize(
    ("conditions", "params"),
    [
        ({"param_gt": {"amount": 500}}, {"amount": "600"}),
        ({"param_lt": {"amount": 500}}, {"amount": [1]}),
        ({"param_gte": {"when": "x"}}, {"when": 3}),
        ({"param_lte": {"n": 1}}, {"n": {"a": 1}}),
        ({"param_contains": {"n": "1"}}, {"n": 12}),
        ({"param_contains": {"d": ["unhashable"]}}, {"d": {"a": 1}}),
    ],
)
def test_type_errors_fail_closed(conditions: dict[str, Any], params: dict[str, Any]) -> None:
    assert holds(conditions, params) is False


def test_empty_and_null_conditions_hold() -> None:
    assert holds({}) is True
    assert holds(None) is True


@pytest.mark.parametrize(
    ("conditions", "fragment"),
    [
        ({"region": "eu"}, "unknown condition key"),
        ({"Time_After": "09:00"}, "unknown condition key"),
        ({"time_after": 1080}, "quote it"),
        ({"time_after": "24:00"}, "HH:MM"),
        ({"time_before": "noon"}, "HH:MM"),
        ({"time_before": "09:60"}, "HH:MM"),
        ({"weekdays": 3}, "list of ISO weekday"),
        ({"param_gt": 5}, "mapping of param name"),
        ({"param_eq": ["a"]}, "mapping of param name"),
        ({"param_matches": "x"}, "mapping of param name to regex"),
        ({"param_matches": {"s": "("}}, "invalid"),
        ({"param_matches": {"s": 5}}, "not a string"),
        ({"param_matches": {"s": "a" * 1001}}, "longer than 1000"),
        ({"semantic": 5}, "expected a string"),
        ({"semantic": "the and of"}, "no keywords"),
    ],
)
def test_malformed_or_unknown_fails_closed_and_warns_once(
    conditions: dict[str, Any], fragment: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    policy = Policy(rules=(Rule("cond", conditions=conditions),), source="p.yaml")
    for _ in range(3):
        decision = policy.evaluate("a", "b", {"s": "aaaa((", "t": 1}, now=WED_NOON)
        assert decision.matched_rule == "<default>"
    records = [r for r in caplog.records if r.name == LOGGER]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    message = records[0].getMessage()
    assert "p.yaml rule 0 ('cond')" in message
    assert fragment in message


def test_one_bad_key_sinks_an_otherwise_true_rule() -> None:
    assert holds({"param_eq": {"env": "prod"}, "region": "eu"}, {"env": "prod"}) is False


def test_unquoted_yaml_time_is_sexagesimal_and_fails_closed() -> None:
    policy = parse_policy("rules:\n  - {name: late, conditions: {time_after: 18:00}}\n")
    assert policy.rules[0].conditions == {"time_after": 1080}
    assert policy.evaluate("x", "y", now=at(20, 0)).matched_rule == "<default>"
    quoted = parse_policy("rules:\n  - {name: late, conditions: {time_after: '18:00'}}\n")
    assert quoted.evaluate("x", "y", now=at(20, 0)).matched_rule == "late"


def test_conditions_from_yaml_combined() -> None:
    policy = parse_policy(
        """
rules:
  - name: weekday_big_prod_refund
    conditions:
      weekdays: [1, 2, 3, 4, 5]
      time_after: "08:00"
      param_eq: {env: prod}
      param_gte: {amount: 100}
      param_matches: {currency: "^(USD|EUR)$"}
      semantic: financial
    risk_level: critical
    approval: block
"""
    )
    params = {"env": "prod", "amount": 100, "currency": "EUR"}
    assert policy.evaluate("refund", "orders", params, now=WED_NOON).matched_rule == "weekday_big_prod_refund"
    assert policy.evaluate("lookup", "orders", params, now=WED_NOON).matched_rule == "<default>"
    assert policy.evaluate("refund", "orders", params, now=at(12, 0, day=7)).matched_rule == "<default>"
    assert policy.evaluate("refund", "orders", params, now=at(7, 0)).matched_rule == "<default>"
    low = {**params, "amount": 99}
    assert policy.evaluate("refund", "orders", low, now=WED_NOON).matched_rule == "<default>"
    gbp = {**params, "currency": "GBP"}
    assert policy.evaluate("refund", "orders", gbp, now=WED_NOON).matched_rule == "<default>"


# --- param_matches time limit ---------------------------------------------------------------
#
# "(?:(a|a)+$)|!" does match "a" * 30 + "!" (the "!" branch), but only after the first branch
# has backtracked through about 2**30 ways of splitting the run of a's at each start position:
# minutes of work without a limit. With the limit the search is abandoned and the rule fails
# closed, so a rule that *should* match does not.
EXPLOSIVE = r"(?:(a|a)+$)|!"
HOSTILE = "a" * 30 + "!"


def test_exploding_regex_times_out_and_fails_closed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    policy = Policy(
        rules=(Rule("re", conditions={"param_matches": {"q": EXPLOSIVE}}, approval="auto"),),
        source="t.yaml",
    )
    # The same pattern on a short input finishes, and matches via the "!" branch.
    assert policy.evaluate("a", "b", {"q": "aaaa!"}, now=WED_NOON).matched_rule == "re"

    started = time.perf_counter()
    decision = policy.evaluate("a", "b", {"q": HOSTILE}, now=WED_NOON)
    elapsed = time.perf_counter() - started

    assert decision.matched_rule == "<default>"
    assert (decision.risk_level, decision.approval) == ("MEDIUM", "block")
    assert elapsed < 1.0
    records = [r for r in caplog.records if r.name == LOGGER]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    message = records[0].getMessage()
    assert "t.yaml rule 0 ('re')" in message
    assert "timed out after 0.1s" in message
    assert repr(EXPLOSIVE) in message
    assert "'q'" in message


def test_timeout_warning_is_logged_once_per_pattern(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conditions_module, "MATCH_TIMEOUT", 0.01)  # keep the three timeouts cheap
    caplog.set_level(logging.WARNING, logger=LOGGER)
    policy = Policy(
        rules=(
            Rule("one", conditions={"param_matches": {"q": EXPLOSIVE}}),
            Rule("two", conditions={"param_matches": {"r": "(a|aa)+$"}}),
        ),
    )
    for _ in range(3):
        assert (
            policy.evaluate("a", "b", {"q": HOSTILE, "r": HOSTILE}, now=WED_NOON).matched_rule == "<default>"
        )
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(messages) == 2
    assert "rule 0 ('one')" in messages[0]
    assert "rule 1 ('two')" in messages[1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a" * 30 + "!", False),  # the classic nested-quantifier case: no match
        ("a" * 30, True),
        ("b" * 5000 + "a", True),
    ],
)
def test_nested_quantifier_gives_the_right_answer(
    text: str, expected: bool, caplog: pytest.LogCaptureFixture
) -> None:
    # regex settles this pattern without exploring the backtracking, so the answer is real:
    # no timeout (which would log a warning) stands in for it.
    caplog.set_level(logging.WARNING, logger=LOGGER)
    assert holds({"param_matches": {"s": "(a+)+$"}}, {"s": text}) is expected
    assert [r for r in caplog.records if r.name == LOGGER] == []
