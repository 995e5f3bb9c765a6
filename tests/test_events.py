"""The event contract: validation reasons, normalisation, redaction, timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from aegis_stream.errors import InvalidEvent
from aegis_stream.events import format_timestamp, parse_event, parse_timestamp, redact
from tests.conftest import event_dict

# 2026-11-30T12:00:00Z as epoch microseconds, computed by hand:
# days from 1970-01-01 to 2026-11-30 = 20787; 20787 * 86400 + 12 * 3600 = 1_796_040_000 s
NOON_US = 1_796_040_000 * 1_000_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-30T12:00:00Z", NOON_US),
        ("2026-11-30T12:00:00+00:00", NOON_US),
        ("2026-11-30T14:00:00+02:00", NOON_US),
        ("2026-11-30T07:00:00-05:00", NOON_US),
        ("2026-11-30T12:00:00", NOON_US),  # naive = UTC
        ("2026-11-30T12:00:00.250000Z", NOON_US + 250_000),
        ("2026-11-30 12:00:00.000001+00:00", NOON_US + 1),
        ("1970-01-01T00:00:00Z", 0),
    ],
)
def test_parse_timestamp_accepts_iso_forms(text: str, expected: int) -> None:
    assert parse_timestamp(text) == expected


def test_parse_timestamp_accepts_datetimes() -> None:
    aware = datetime(2026, 11, 30, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    assert parse_timestamp(aware) == NOON_US
    assert parse_timestamp(datetime(2026, 11, 30, 12, 0)) == NOON_US


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("yesterday", "timestamp: not an ISO-8601 date-time"),
        ("2026-13-01T00:00:00Z", "timestamp: not an ISO-8601 date-time"),
        ("", "timestamp: not an ISO-8601 date-time"),
        ("2026-12-04T05:00:00\x00", "timestamp: not an ISO-8601 date-time"),
        ("2026-12-04\x0bT05:00:00", "timestamp: not an ISO-8601 date-time"),
        (1_700_000_000, "timestamp: expected an ISO-8601 string, got int"),
        ("1969-12-31T23:59:59Z", "timestamp: before 1970-01-01T00:00:00Z"),
        ("9999-12-31T23:59:59-01:00", "timestamp: after 9999-12-31T23:59:59.999999Z"),
    ],
)
def test_parse_timestamp_rejects(value: Any, reason: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        parse_timestamp(value)
    assert err.value.reason.startswith(reason)


@pytest.mark.parametrize(
    ("ts_us", "text"),
    [
        (NOON_US, "2026-11-30T12:00:00+00:00"),  # no fraction when microsecond == 0
        (NOON_US + 5, "2026-11-30T12:00:00.000005+00:00"),
        (0, "1970-01-01T00:00:00+00:00"),
    ],
)
def test_format_timestamp_matches_isoformat(ts_us: int, text: str) -> None:
    assert format_timestamp(ts_us) == text


def test_parse_event_normalises() -> None:
    event = parse_event(
        event_dict(
            risk_level="high", action_desc="", agent_id="", chain_id="", result_status="", result_data={}
        )
    )
    assert event.risk_level == "HIGH"
    assert event.action_desc is None
    assert event.agent_id is None
    assert event.chain_id is None
    assert event.result_status is None
    assert event.result_data is None
    assert event.ts_us == NOON_US
    assert event.timestamp == "2026-11-30T12:00:00+00:00"
    assert event.action_params == {}
    assert event.chain_depth == 0


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"session_id": None}, "session_id: required field is missing"),
        ({"action_type": None}, "action_type: required field is missing"),
        ({"action_type": ""}, "action_type: must not be empty"),
        ({"action_target": 7}, "action_target: expected a string, got int"),
        ({"risk_level": None}, "risk_level: required field is missing"),
        ({"risk_level": "SEVERE"}, "risk_level: must be one of LOW, MEDIUM, HIGH, CRITICAL, got 'SEVERE'"),
        ({"risk_level": 3}, "risk_level: must be one of LOW, MEDIUM, HIGH, CRITICAL, got 3"),
        ({"approval": "AUTO"}, "approval: must be one of auto, approve, block, got 'AUTO'"),
        ({"approval": None}, "approval: required field is missing"),
        ({"timestamp": None}, "timestamp: required field is missing"),
        ({"timestamp": "soon"}, "timestamp: not an ISO-8601 date-time: 'soon'"),
        ({"action_params": [1, 2]}, "action_params: expected an object, got list"),
        ({"action_params": {"x": float("nan")}}, "action_params: non-finite number"),
        ({"action_params": {"x": {1, 2}}}, "action_params: unsupported value of type set"),
        ({"action_params": {"n": 2**64}}, "action_params: integer out of range (more than 64 bits)"),
        ({"result_data": [-(2**63) - 1]}, "result_data: integer out of range (more than 64 bits)"),
        ({"chain_depth": -1}, "chain_depth: expected an integer from 0 to 2147483647, got -1"),
        ({"chain_depth": 2**40}, "chain_depth: expected an integer from 0 to 2147483647, got 1099511627776"),
        ({"event_id": "e" * 5000}, "event_id: must be 1 to 200 characters"),
        ({"chain_depth": True}, "chain_depth: expected an integer from 0 to 2147483647, got True"),
        ({"chain_depth": "2"}, "chain_depth: expected an integer from 0 to 2147483647, got '2'"),
        ({"event_id": ""}, "event_id: must be 1 to 200 characters"),
        ({"agent_id": ["a"]}, "agent_id: expected a string, got list"),
        ({"surprise": 1}, "event: unknown field 'surprise'"),
        ({"schema_version": 2}, "schema_version: unsupported version 2"),
        ({"action_desc": "x" * 4097}, "action_desc: longer than 4096 characters"),
    ],
)
def test_parse_event_rejects_with_reason(overrides: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        parse_event(event_dict(**overrides))
    assert err.value.reason == reason


def test_parse_event_rejects_non_mapping() -> None:
    with pytest.raises(InvalidEvent, match="event: expected an object, got list"):
        parse_event([1])


def test_redaction_walks_dicts_and_lists() -> None:
    params = {
        "path": "/etc",
        "Password": "hunter2",
        "nested": {"api_key": "k", "keep": 1, "list": [{"MyToken": "t"}, "plain"]},
        "authorization_header": "Bearer x",
        "access_keys": ["a"],
        "X-Api-Key": "k",
        "private-key": "k",
        "passwd": "p",
        "Cookie": "c",
        "author": "kept",
    }
    assert redact(params) == {
        "path": "/etc",
        "Password": "[REDACTED]",
        "nested": {"api_key": "[REDACTED]", "keep": 1, "list": [{"MyToken": "[REDACTED]"}, "plain"]},
        "authorization_header": "[REDACTED]",
        "access_keys": "[REDACTED]",
        "X-Api-Key": "[REDACTED]",
        "private-key": "[REDACTED]",
        "passwd": "[REDACTED]",
        "Cookie": "[REDACTED]",
        "author": "kept",
    }
    event = parse_event(event_dict(action_params={"db_password": "p", "n": 1}))
    assert event.action_params == {"db_password": "[REDACTED]", "n": 1}


def test_now_is_not_read() -> None:
    # the same input always gives the same event: validation never looks at a clock
    a = parse_event(event_dict())
    b = parse_event(event_dict())
    assert a == b
    assert a.ts_us == NOON_US != int(datetime.now(UTC).timestamp() * 1e6)
