"""Wire format: one versioned msgpack map per stream entry.

A stream entry has a single field ``e`` holding the msgpack map. Keys are
short to keep the retained log small; ``v`` is the schema version. Decoding
re-validates everything, because anyone with access to Redis can XADD.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import msgpack

from aegis_stream.errors import InvalidEvent
from aegis_stream.events import (
    APPROVALS,
    INT_MAX,
    INT_MIN,
    MAX_DEPTH,
    MAX_EVENT_ID,
    MAX_TEXT,
    MAX_TS_US,
    RISK_LEVELS,
    SCHEMA_VERSION,
    AuditEvent,
    build_event,
    is_secret_key,
)
from aegis_stream.heads import HeadReader
from aegis_stream.signing import MAC_FIELD, SignedReader, Signer

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
_KNOWN_SHORT = frozenset({"v", "t", *_LONG})


def encode(event: AuditEvent, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Serialise a validated event; raise :class:`InvalidEvent` if it is too big or cannot be encoded."""
    body: dict[str, Any] = {"v": SCHEMA_VERSION, "t": event.ts_us}
    for name, short in _SHORT.items():
        value = getattr(event, name)
        if value is None or (name == "chain_depth" and value == 0):
            continue
        if name == "action_params" and not value:
            continue
        body[short] = value
    try:
        payload: bytes = msgpack.packb(body, use_bin_type=True)
    except (OverflowError, TypeError, ValueError) as e:  # e.g. a lone surrogate in a string
        raise InvalidEvent(f"event: cannot be encoded: {e}"[:200]) from None
    if len(payload) > max_bytes:
        raise InvalidEvent(f"event: encoded size {len(payload)} bytes exceeds the limit of {max_bytes}")
    return payload


_OPTIONAL_TEXT_SHORT = ("d", "m", "h", "rs", "re", "ag", "pa", "c")
_SCALARS = (str, bool, type(None))


def _clean_tree(value: Any, *, redactable: bool) -> bool:
    """True when ``value`` is JSON-like, nested less than 32 deep, and needs no redaction.

    Mirrors what :func:`build_event` accepts without changing anything, so a
    ``False`` only sends the event down the general path, which gives the reason.
    """
    kind = type(value)
    if kind is not dict and kind is not list:
        if kind is float:
            return math.isfinite(value)
        if kind is int:
            return bool(INT_MIN <= value <= INT_MAX)
        return kind in _SCALARS
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth >= MAX_DEPTH:
            return False
        if type(item) is dict:
            for key in item:
                if type(key) is not str or (redactable and is_secret_key(key)):
                    return False
            children = item.values()
        else:
            children = item
        for child in children:
            kind = type(child)
            if kind is str or kind is bool or child is None:
                continue
            if kind is int:
                if not INT_MIN <= child <= INT_MAX:
                    return False
            elif kind is dict or kind is list:
                stack.append((child, depth + 1))
            elif kind is not float or not math.isfinite(child):
                return False
    return True


def _fast_event(body: dict[Any, Any]) -> AuditEvent | None:
    """The common case (what the producer writes), checked directly; None means "use the full validator".

    Anything unusual (an unknown key, an empty optional text, a secret-looking
    key, a value out of range, nesting too deep) falls back to :func:`build_event`,
    which gives the precise reason, so this only ever accepts what it would accept.
    """
    get = body.get
    version, ts_us = get("v"), get("t")
    session, action_type, target = get("s"), get("at"), get("tg")
    risk, approval = get("r"), get("a")
    if (
        type(version) is not int
        or version != SCHEMA_VERSION
        or type(ts_us) is not int
        or not 0 <= ts_us <= MAX_TS_US
        or type(session) is not str
        or type(action_type) is not str
        or type(target) is not str
        or not action_type
        or len(session) > MAX_TEXT
        or len(action_type) > MAX_TEXT
        or len(target) > MAX_TEXT
        or risk not in RISK_LEVELS
        or approval not in APPROVALS
        or not _KNOWN_SHORT.issuperset(body)
    ):
        return None
    texts: list[str | None] = []
    for short in _OPTIONAL_TEXT_SHORT:
        value = get(short)
        if value is not None and (type(value) is not str or not value or len(value) > MAX_TEXT):
            return None
        texts.append(value)
    params, data, depth, event_id = get("p"), get("rd"), get("cd", 0), get("id")
    if params is not None and (type(params) is not dict or not _clean_tree(params, redactable=True)):
        return None
    if data is not None and not _clean_tree(data, redactable=False):
        return None
    if type(depth) is not int or not 0 <= depth < 2**31:
        return None
    if event_id is not None and (type(event_id) is not str or not 0 < len(event_id) <= MAX_EVENT_ID):
        return None
    desc, rule, human, status, error, agent, parent, chain = texts
    return AuditEvent(
        session_id=session,
        ts_us=ts_us,
        action_type=action_type,
        action_target=target,
        action_params=dict(params) if params else {},
        action_desc=desc,
        risk_level=risk,
        approval=approval,
        matched_rule=rule,
        human_decision=human,
        result_status=status,
        result_data=data if data else None,
        result_error=error,
        agent_id=agent,
        parent_agent_id=parent,
        chain_id=chain,
        chain_depth=depth,
        event_id=event_id,
    )


def decode(payload: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> AuditEvent:
    """Parse and re-validate one wire payload into an :class:`AuditEvent`."""
    return _decode(payload, max_bytes)[0]


def _no_extensions(code: int, data: bytes) -> Any:
    raise InvalidEvent(f"wire: msgpack extension type {code} is not a JSON value")


def _decode(payload: bytes, max_bytes: int) -> tuple[AuditEvent, bool]:
    """The event, and whether the payload was already in the producer's form (the fast path)."""
    if len(payload) > max_bytes:
        raise InvalidEvent(f"event: encoded size {len(payload)} bytes exceeds the limit of {max_bytes}")
    try:
        body = msgpack.unpackb(payload, raw=False, strict_map_key=True, ext_hook=_no_extensions)
    except InvalidEvent:
        raise
    except Exception as e:  # msgpack raises several unrelated exception types
        raise InvalidEvent("wire: not a msgpack document") from e
    if type(body) is dict:
        fast = _fast_event(body)
        if fast is not None:
            return fast, True
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
    return build_event(raw, ts_us), False


def decode_entry(fields: dict[bytes, bytes], max_bytes: int = DEFAULT_MAX_BYTES) -> AuditEvent:
    """Decode the field map of one stream entry."""
    return decode_stored(fields, max_bytes)[0]


def entry_fields(payload: bytes, signer: Signer | None = None) -> dict[bytes, bytes]:
    """The field map a producer appends for one payload: ``e``, and with a signer its tag ``s``."""
    if signer is None:
        return {ENTRY_FIELD: payload}
    return {ENTRY_FIELD: payload, MAC_FIELD: signer.tag(payload)}


def decode_stored(
    fields: dict[bytes, bytes], max_bytes: int = DEFAULT_MAX_BYTES, signed: SignedReader | None = None
) -> tuple[AuditEvent, bytes]:
    """Decode one stream entry, and give the payload to keep in the audit log.

    That is the entry's own payload when it is already in the form the
    producer writes (the checked fast path: nothing to redact), else the
    validated, redacted event encoded again, so the audit log never keeps a
    secret a raw ``XADD`` carried.

    With ``signed``, an entry whose tag verifies is a producer's own,
    validated work: its params and result data are not walked, and the
    event's ``action_params`` and ``result_data`` are left empty (the audit
    log keeps them in the payload); every other field is checked as usual,
    and anything unusual goes through the full validation. This is for the
    projector alone.
    """
    payload = fields.get(ENTRY_FIELD)
    if payload is None:
        raise InvalidEvent("wire: stream entry has no 'e' field")
    tag = fields.get(MAC_FIELD)
    if signed is not None and tag is not None and len(payload) <= max_bytes:
        if signed.signer.verify(payload, tag):
            head = signed.head(payload)
            event = _fast_event(head) if head is not None else None
            if event is not None:
                return event, payload
        else:
            signed.unverified += 1
    event, as_written = _decode(payload, max_bytes)
    return event, payload if as_written else encode(event, max_bytes=2 * len(payload) + 1024)


UNREADABLE = "_unreadable"  # the params a vouched-for row shows instead of its own


def decode_vouched(payload: bytes, reason: str) -> AuditEvent | None:
    """A stored row whose params or result data do not validate (``reason``), read without them.

    Only a producer holding the signing key can have such a row counted (its
    tag spared the walk); the row is shown with ``{"_unreadable": reason}``
    as params and no result data, rather than making its page unreadable.
    None if even the other fields do not validate.
    """
    head = HeadReader().head(payload)
    event = _fast_event(head) if head is not None else None
    if event is None:
        return None
    return replace(event, action_params={UNREADABLE: reason}, result_data=None)
