"""Reading the audit log: one page of the events matching a filter combination, newest first.

A page reads the tail of one index list (``LLEN`` and ``LRANGE``) and the
page's rows (``HMGET``): a fixed number of commands whatever the filters,
and no scan. With several partitions, the tails of every partition's list
are merged by order key (stream order).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aegis_stream.errors import InvalidEvent, StoreError
from aegis_stream.events import AuditEvent
from aegis_stream.keys import Keys
from aegis_stream.project.auditlog import Combo
from aegis_stream.store import AsyncClient
from aegis_stream.wire import decode, decode_vouched

MAX_INDEX = 2**62  # Redis list indexes are 64-bit; deeper offsets simply find nothing


@dataclass(frozen=True, slots=True)
class AuditPage:
    """How many events match, and the page's rows as ``(id, event)``, newest first."""

    total: int
    rows: list[tuple[int, AuditEvent]]


def _json_text(value: Any) -> str:
    return json.dumps(value, default=str)


def entry_row(row_id: int, event: AuditEvent) -> dict[str, Any]:
    """One event as a row of the reference's audit log (its 18 keys, in its column order)."""
    return {
        "id": row_id,
        "session_id": event.session_id,
        "timestamp": event.timestamp,
        "action_type": event.action_type,
        "action_target": event.action_target,
        "action_params": _json_text(event.action_params or {}),
        "action_desc": event.action_desc or None,
        "risk_level": event.risk_level,
        "approval": event.approval,
        "matched_rule": event.matched_rule,
        "human_decision": event.human_decision,
        "result_status": event.result_status,
        "result_data": _json_text(event.result_data) if event.result_data else None,
        "result_error": event.result_error,
        "agent_id": event.agent_id or None,
        "parent_agent_id": event.parent_agent_id or None,
        "chain_id": event.chain_id or None,
        "chain_depth": event.chain_depth,
    }


def _row(found: tuple[bytes | None, bytes | None], p: int, partitions: int) -> tuple[int, AuditEvent]:
    payload, seq = found
    if payload is None or seq is None:
        raise StoreError("an audit log row is missing; rebuild the views")
    try:
        n = int(seq)
        event = decode(payload, max_bytes=len(payload))
    except InvalidEvent as e:
        vouched = decode_vouched(payload, e.reason)  # counted on a producer's tag
        if vouched is None:
            raise StoreError(f"unreadable audit log row ({e}); rebuild the views") from None
        event = vouched
    except ValueError as e:
        raise StoreError(f"unreadable audit log row ({e}); rebuild the views") from None
    return (n - 1) * partitions + p + 1, event


async def recent(redis: AsyncClient, keys: Keys, combo: Combo, *, offset: int, limit: int) -> AuditPage:
    """The ``limit`` events after the newest ``offset`` matching ``combo``, and how many match."""
    parts = list(keys.all_partitions())
    indexes = [keys.audit_index(p, combo) for p in parts]
    pipe = redis.pipeline(transaction=False)
    if len(parts) == 1:  # exactly the page, with the count, in one round trip
        pipe.llen(indexes[0])
        pipe.lrange(indexes[0], -min(offset + limit, MAX_INDEX), -min(offset + 1, MAX_INDEX))
        length, members = await pipe.execute()
        total = int(length)
        page = sorted(((int(m), 0) for m in members), reverse=True)
    else:  # every partition's newest offset + limit (no more than it holds), merged by stream order
        for index in indexes:
            pipe.llen(index)
        lengths = [int(n) for n in await pipe.execute()]
        total = sum(lengths)
        if offset >= total:
            return AuditPage(total, [])
        holding = [(p, index, n) for p, index, n in zip(parts, indexes, lengths, strict=True) if n]
        pipe = redis.pipeline(transaction=False)
        for _p, index, length in holding:
            pipe.lrange(index, -min(offset + limit, length), -1)
        replies = await pipe.execute()
        tails = [(int(m), p) for (p, _, _), members in zip(holding, replies, strict=True) for m in members]
        tails.sort(reverse=True)
        page = tails[offset : offset + limit]
    if not page:
        return AuditPage(total, [])
    by_partition: dict[int, list[int]] = {}
    for order, p in page:
        by_partition.setdefault(p, []).append(order)
    pipe = redis.pipeline(transaction=False)
    for p, orders in by_partition.items():
        fields = [str(o) for o in orders]
        pipe.hmget(keys.audit_rows(p), fields)
        pipe.hmget(keys.audit_seqs(p), fields)
    rows = iter(await pipe.execute())
    found: dict[tuple[int, int], tuple[bytes | None, bytes | None]] = {}
    for p, orders in by_partition.items():
        payloads, seqs = next(rows), next(rows)
        found.update(((o, p), (v, n)) for o, v, n in zip(orders, payloads, seqs, strict=True))
    return AuditPage(total, [_row(found[(o, p)], p, keys.partitions) for o, p in page])
