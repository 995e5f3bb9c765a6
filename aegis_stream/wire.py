"""Wire format: one versioned msgpack map per stream entry.

A stream entry has a single field ``e`` holding the msgpack map. Keys are
short to keep the retained log small; ``v`` is the schema version. Decoding
re-validates everything, because anyone with access to Redis can XADD.
"""

from __future__ import annotations

from typing import Any

import msgpack

from aegis_stream.errors import InvalidEvent
from aegis_stream.events import MAX_TS_US, SCHEMA_VERSION, AuditEvent, build_event

ENTRY_FIELD = b"e"
DEFAULT_MAX_BYTES = 64 * 1024

# event attribute -> short wire key (order is the encoding order)
_SHORT: dict[str, str] = {
    "session_id": "s",
    "action_type": "at",
    "action_target": "tg",
    "action_params": "p",
    "action_desc": "d",
    "risk_level": "r",
    "approval": "a",
    "matched_rule": "m",
    "human_decision": "h",
    "result_status": "rs",
    "result_data": "rd",
    "result_error": "re",
    "agent_id": "ag",
    "parent_agent_id": "pa",
    "chain_id": "c",
    "chain_depth": "cd",
    "event_id": "id",
}
_LONG = {short: name for name, short in _SHORT.items()}


def encode(event: AuditEvent, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Serialise a validated event; raise :class:`InvalidEvent` if it is too big."""
    body: dict[str, Any] = {"v": SCHEMA_VERSION, "t": event.ts_us}
    for name, short in _SHORT.items():
        value = getattr(event, name)
        if value is None or (name == "chain_depth" and value == 0):
            continue
        if name == "action_params" and not value:
            continue
        body[short] = value
    payload: bytes = msgpack.packb(body, use_bin_type=True)
    if len(payload) > max_bytes:
        raise InvalidEvent(f"event: encoded size {len(payload)} bytes exceeds the limit of {max_bytes}")
    return payload


def decode(payload: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> AuditEvent:
    """Parse and re-validate one wire payload into an :class:`AuditEvent`."""
    if len(payload) > max_bytes:
        raise InvalidEvent(f"event: encoded size {len(payload)} bytes exceeds the limit of {max_bytes}")
    try:
        body = msgpack.unpackb(payload, raw=False, strict_map_key=True)
    except Exception as e:  # msgpack raises several unrelated exception types
        raise InvalidEvent("wire: not a msgpack document") from e
    if not isinstance(body, dict):
        raise InvalidEvent(f"wire: expected a map, got {type(body).__name__}")
    version = body.get("v")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise InvalidEvent(f"wire: unsupported schema version {version!r}"[:200])
    ts_us = body.get("t")
    if type(ts_us) is not int or not 0 <= ts_us <= MAX_TS_US:
        raise InvalidEvent("timestamp: wire value must be epoch microseconds from 1970 to 9999")
    raw: dict[str, Any] = {}
    for short, value in body.items():
        if short in ("v", "t"):
            continue
        name = _LONG.get(short)
        if name is None:
            raise InvalidEvent(f"wire: unknown key {short!r}"[:200])
        raw[name] = value
    return build_event(raw, ts_us)


def decode_entry(fields: dict[bytes, bytes], max_bytes: int = DEFAULT_MAX_BYTES) -> AuditEvent:
    """Decode the field map of one stream entry."""
    payload = fields.get(ENTRY_FIELD)
    if payload is None:
        raise InvalidEvent("wire: stream entry has no 'e' field")
    return decode(payload, max_bytes)
