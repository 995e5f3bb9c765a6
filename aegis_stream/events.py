"""The audit event contract: fields, validation, redaction and timestamps.

An :class:`AuditEvent` carries the fields of the reference's audit row except
its ``id`` (ids are assigned by stream order), plus an optional ``event_id``
for producer retries. Everything here is pure: no Redis, no clock.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aegis_stream.errors import InvalidEvent

SCHEMA_VERSION = 1
RISK_LEVELS: tuple[str, ...] = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
APPROVALS: tuple[str, ...] = ("auto", "approve", "block")
RESULT_STATUSES: tuple[str, ...] = ("success", "failed", "blocked", "denied", "skipped")
REDACTED = "[REDACTED]"
# The reference's pattern, plus the dash spellings of its keys, "passwd" and "cookie".
SECRET_KEY = re.compile(
    r"password|passwd|secret|token|api[_-]?key|authorization|credential|private[_-]key|access[_-]key|cookie",
    re.IGNORECASE,
)
INT_MIN, INT_MAX = -(2**63), 2**64 - 1  # what msgpack can carry
MAX_TEXT = 4096  # characters, for every short text field
MAX_DEPTH = 32  # nesting levels of params and result data
MAX_EVENT_ID = 200
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TS_US = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z, the last datetime can hold

REQUIRED = ("session_id", "timestamp", "action_type", "action_target", "risk_level", "approval")
OPTIONAL_TEXT = (
    "action_desc",
    "matched_rule",
    "human_decision",
    "result_status",
    "result_error",
    "agent_id",
    "parent_agent_id",
    "chain_id",
)
# Optional text fields where "" is stored as NULL, as the reference does (others keep "").
_EMPTY_IS_NULL = frozenset(("action_desc", "result_status", "agent_id", "parent_agent_id", "chain_id"))
KNOWN_FIELDS = frozenset(
    REQUIRED + OPTIONAL_TEXT + ("action_params", "result_data", "chain_depth", "event_id", "schema_version")
)


@dataclass(slots=True, kw_only=True)
class AuditEvent:
    """One validated audit event; ``ts_us`` is UTC epoch microseconds.

    Treat it as immutable. It is not ``frozen`` only because a frozen
    dataclass's ``__init__`` costs 3x more, and the projector builds one per
    event.
    """

    session_id: str
    ts_us: int
    action_type: str
    action_target: str
    action_params: dict[str, Any] = field(default_factory=dict)
    action_desc: str | None = None
    risk_level: str
    approval: str
    matched_rule: str | None = None
    human_decision: str | None = None
    result_status: str | None = None
    result_data: Any = None
    result_error: str | None = None
    agent_id: str | None = None
    parent_agent_id: str | None = None
    chain_id: str | None = None
    chain_depth: int = 0
    event_id: str | None = None

    @property
    def timestamp(self) -> str:
        """The event time as the reference writes it (UTC isoformat)."""
        return format_timestamp(self.ts_us)


@functools.lru_cache(maxsize=8192)
def is_secret_key(key: str) -> bool:
    """True for a params key whose value must be redacted (cached: keys repeat a lot)."""
    return SECRET_KEY.search(key) is not None


def redact(value: Any) -> Any:
    """Return ``value`` with every secret-looking dict key's value replaced.

    Walks dicts and lists recursively, as the reference's logger does.
    """
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value  # fast path: scalars are the common case
    if kind is dict or isinstance(value, Mapping):
        return {
            k: (REDACTED if isinstance(k, str) and is_secret_key(k) else redact(v)) for k, v in value.items()
        }
    if kind is list or isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def parse_timestamp(value: Any) -> int:
    """Parse an ISO-8601 string or aware/naive datetime to UTC epoch microseconds.

    Accepts a trailing ``Z``, any UTC offset, and naive values (taken as UTC).
    Raises :class:`InvalidEvent` for anything else.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        text = value.strip()
        if not text.isprintable():  # fromisoformat lets a trailing NUL through
            raise InvalidEvent(f"timestamp: not an ISO-8601 date-time: {value[:60]!r}")
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidEvent(f"timestamp: not an ISO-8601 date-time: {value[:60]!r}") from None
    else:
        raise InvalidEvent(f"timestamp: expected an ISO-8601 string, got {type(value).__name__}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    us = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if us < 0:
        raise InvalidEvent("timestamp: before 1970-01-01T00:00:00Z")
    if us > MAX_TS_US:
        raise InvalidEvent("timestamp: after 9999-12-31T23:59:59.999999Z")
    return us


def utc_datetime(ts_us: int) -> datetime:
    """Epoch microseconds as an aware UTC datetime (exact, no float rounding)."""
    return _EPOCH + timedelta(microseconds=ts_us)


def format_timestamp(ts_us: int) -> str:
    """Format epoch microseconds as ``datetime.isoformat()`` of an aware UTC time."""
    return utc_datetime(ts_us).isoformat()


def _text(raw: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = raw.get(name)
    if type(value) is str and len(value) <= MAX_TEXT:  # the common case, checked first
        return value
    if value is None:
        if required:
            raise InvalidEvent(f"{name}: required field is missing")
        return None
    if not isinstance(value, str):
        raise InvalidEvent(f"{name}: expected a string, got {type(value).__name__}")
    if len(value) > MAX_TEXT:
        raise InvalidEvent(f"{name}: longer than {MAX_TEXT} characters")
    return value


def _scalar(value: Any, where: str) -> None:
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return
    if kind is int:
        if not INT_MIN <= value <= INT_MAX:
            raise InvalidEvent(f"{where}: integer out of range (more than 64 bits)")
        return
    if kind is float:
        if not math.isfinite(value):
            raise InvalidEvent(f"{where}: non-finite number")
        return
    raise InvalidEvent(f"{where}: unsupported value of type {kind.__name__}")


def _json_like(value: Any, where: str) -> None:
    """Refuse values that cannot round-trip through JSON and msgpack (iterative: no recursion limit)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        if kind is dict or (kind is not list and isinstance(item, Mapping)):
            children: Iterable[Any] = item.values()
            if not all(type(k) is str for k in item):
                raise InvalidEvent(f"{where}: object keys must be strings")
        elif kind is list or isinstance(item, tuple):
            children = item
        else:
            _scalar(item, where)
            continue
        if depth >= MAX_DEPTH:
            raise InvalidEvent(f"{where}: nested deeper than {MAX_DEPTH} levels")
        for child in children:
            kind = type(child)
            if kind is str or kind is int or kind is bool or child is None:
                if kind is int and not INT_MIN <= child <= INT_MAX:
                    _scalar(child, where)  # raises
            elif kind is dict or kind is list or isinstance(child, Mapping | tuple):
                stack.append((child, depth + 1))
            else:
                _scalar(child, where)


def build_event(raw: Mapping[str, Any], ts_us: int) -> AuditEvent:
    """Validate every field but the timestamp (already parsed) into an event."""
    session_id = _text(raw, "session_id", required=True)
    action_type = _text(raw, "action_type", required=True)
    action_target = _text(raw, "action_target", required=True)
    assert session_id is not None and action_type is not None and action_target is not None
    if not action_type:
        raise InvalidEvent("action_type: must not be empty")

    risk = raw.get("risk_level")
    if risk not in RISK_LEVELS:  # fast path: already upper-case
        if risk is None:
            raise InvalidEvent("risk_level: required field is missing")
        if not isinstance(risk, str) or risk.upper() not in RISK_LEVELS:
            raise InvalidEvent(f"risk_level: must be one of {', '.join(RISK_LEVELS)}, got {risk!r}"[:200])
        risk = risk.upper()
    approval = raw.get("approval")
    if approval not in APPROVALS:
        if approval is None:
            raise InvalidEvent("approval: required field is missing")
        raise InvalidEvent(f"approval: must be one of {', '.join(APPROVALS)}, got {approval!r}"[:200])

    params = raw.get("action_params")
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise InvalidEvent(f"action_params: expected an object, got {type(params).__name__}")
    if params:
        _json_like(params, "action_params")
        params = redact(params)
    result_data = raw.get("result_data")
    if result_data is not None:
        _json_like(result_data, "result_data")

    depth = raw.get("chain_depth", 0)
    if depth is None:
        depth = 0
    if type(depth) is not int or not 0 <= depth < 2**31:
        raise InvalidEvent(f"chain_depth: expected an integer from 0 to {2**31 - 1}, got {depth!r}"[:200])
    event_id = raw.get("event_id")
    if isinstance(event_id, str) and len(event_id) > MAX_EVENT_ID:  # before the text limit's message
        raise InvalidEvent(f"event_id: must be 1 to {MAX_EVENT_ID} characters")
    event_id = _text(raw, "event_id")
    if event_id is not None and not 0 < len(event_id) <= MAX_EVENT_ID:
        raise InvalidEvent(f"event_id: must be 1 to {MAX_EVENT_ID} characters")

    texts: dict[str, str | None] = {}
    for name in OPTIONAL_TEXT:
        value = _text(raw, name)
        texts[name] = None if value == "" and name in _EMPTY_IS_NULL else value
    return AuditEvent(
        session_id=session_id,
        ts_us=ts_us,
        action_type=action_type,
        action_target=action_target,
        action_params=dict(params),
        risk_level=risk,
        approval=approval,
        result_data=result_data if result_data else None,
        chain_depth=depth,
        event_id=event_id,
        **texts,
    )


def parse_event(raw: Any) -> AuditEvent:
    """Validate a user-supplied event mapping (JSON shape) into an :class:`AuditEvent`.

    Raises :class:`InvalidEvent` with a precise reason on the first problem.
    """
    if not isinstance(raw, Mapping):
        raise InvalidEvent(f"event: expected an object, got {type(raw).__name__}")
    unknown = sorted(str(k) for k in raw if k not in KNOWN_FIELDS)
    if unknown:
        raise InvalidEvent(f"event: unknown field {unknown[0]!r}"[:200])
    version = raw.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise InvalidEvent(f"schema_version: unsupported version {version!r}"[:200])
    if raw.get("timestamp") is None:
        raise InvalidEvent("timestamp: required field is missing")
    return build_event(raw, parse_timestamp(raw["timestamp"]))


def event_to_dict(event: AuditEvent) -> dict[str, Any]:
    """The event as a JSON-ready mapping in the reference's field order."""
    return {
        "session_id": event.session_id,
        "timestamp": event.timestamp,
        "action_type": event.action_type,
        "action_target": event.action_target,
        "action_params": event.action_params,
        "action_desc": event.action_desc,
        "risk_level": event.risk_level,
        "approval": event.approval,
        "matched_rule": event.matched_rule,
        "human_decision": event.human_decision,
        "result_status": event.result_status,
        "result_data": event.result_data,
        "result_error": event.result_error,
        "agent_id": event.agent_id,
        "parent_agent_id": event.parent_agent_id,
        "chain_id": event.chain_id,
        "chain_depth": event.chain_depth,
        "event_id": event.event_id,
    }
