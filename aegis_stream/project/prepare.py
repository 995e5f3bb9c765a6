"""Preparing a batch of stream entries for the writer (pure: no Redis, no clock).

Each entry is decoded and validated; an entry that cannot be becomes a dead
letter with its reason, and so does an event dated too far in the future.
An event whose ``event_id`` was already seen within the de-duplication window
is a duplicate and only acknowledged. The rest are pre-aggregated.

The window is measured between stream ids (the time each entry was appended),
not against a wall clock, so replaying the same log (a rebuild) makes the
same decisions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import msgpack

from aegis_stream.errors import InvalidEvent
from aegis_stream.events import AuditEvent
from aegis_stream.project.auditlog import AuditLogDelta, order_key
from aegis_stream.project.batch import BatchDelta
from aegis_stream.signing import SignedReader
from aegis_stream.streamids import entry_ms
from aegis_stream.wire import ENTRY_FIELD, decode_stored

Fields = dict[bytes, bytes] | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An entry that could not be decoded or validated, with the reason."""

    entry_id: str
    reason: str
    payload: bytes


@dataclass(slots=True)
class PreparedBatch:
    """Everything one apply call writes, apart from the checkpoint and the acks."""

    delta: BatchDelta = field(default_factory=BatchDelta)
    dead: list[DeadLetter] = field(default_factory=list)
    # event_id -> stream ms of its first occurrence, for ids first seen in this batch
    seen_ids: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    audit: AuditLogDelta = field(default_factory=AuditLogDelta)


@dataclass(slots=True)
class Decoded:
    """Decoded entries in stream order, the dead letters, and each event's audit-log payload."""

    events: list[tuple[str, AuditEvent]]
    dead: list[DeadLetter]
    payloads: dict[str, bytes]


def raw_payload(fields: dict[bytes, bytes]) -> bytes:
    """What a dead letter keeps of an entry: its payload, or (no ``e`` field) all its fields, msgpacked."""
    payload = fields.get(ENTRY_FIELD)
    return payload if payload is not None else msgpack.packb(fields, use_bin_type=True)


def decode_entries(
    entries: list[tuple[str, Fields]],
    *,
    max_bytes: int,
    max_future_skew_ms: int,
    signed: SignedReader | None = None,
) -> Decoded:
    """Decode entries in order; the invalid and the too-far-future ones become dead letters.

    With ``signed``, entries a producer signed are read without walking
    their params and result data (see :func:`aegis_stream.wire.decode_stored`).
    """
    events: list[tuple[str, AuditEvent]] = []
    dead: list[DeadLetter] = []
    payloads: dict[str, bytes] = {}
    for entry_id, fields in entries:
        if fields is None:  # deleted between read and claim: nothing left to count
            continue
        try:
            event, payloads[entry_id] = decode_stored(fields, max_bytes, signed)
        except InvalidEvent as e:
            dead.append(DeadLetter(entry_id, e.reason, raw_payload(fields)))
            continue
        except Exception as e:  # a decoding bug must not stall the partition either
            dead.append(DeadLetter(entry_id, f"decoding failed: {type(e).__name__}", raw_payload(fields)))
            continue
        # Measured from when the entry was appended (its stream id), not from the
        # projector's clock: lag does not change the verdict, and a replay agrees.
        if event.ts_us > (entry_ms(entry_id) + max_future_skew_ms) * 1000:
            reason = (
                f"timestamp: {event.timestamp} is more than {max_future_skew_ms} ms "
                f"after the event was appended"
            )
            dead.append(DeadLetter(entry_id, reason, raw_payload(fields)))
            continue
        events.append((entry_id, event))
    return Decoded(events, dead, payloads)


def fold(
    events: list[tuple[str, AuditEvent]],
    dead: list[DeadLetter],
    *,
    known_ids: Mapping[str, int],
    dedupe_window_ms: int,
    payloads: Mapping[str, bytes] | None = None,
    audit: bool = True,
    into: PreparedBatch | None = None,
) -> PreparedBatch:
    """Pre-aggregate decoded events, dropping duplicates of ``event_id`` within the window.

    ``known_ids`` maps event ids to the stream ms at which they were first
    applied (from earlier batches). With ``payloads`` (entry id -> payload),
    a dead letter keeps its entry's payload and, with ``audit``, each counted
    event is also appended to the audit log. With ``into``, the events (which
    follow those already in it) are added to that batch.
    """
    if into is None:
        batch = PreparedBatch(dead=list(dead))
    else:
        batch = into
        batch.dead.extend(dead)
    for entry_id, event in events:
        eid = event.event_id
        if eid is not None and dedupe_window_ms > 0:
            at = entry_ms(entry_id)
            first = batch.seen_ids.get(eid, known_ids.get(eid))
            if first is not None and at - first <= dedupe_window_ms:
                batch.duplicates += 1
                continue
            batch.seen_ids[eid] = at
        try:
            key = order_key(entry_id)
            batch.delta.add(entry_id, event)
        except Exception as e:  # a projection bug must not stall the partition
            payload = payloads.get(entry_id, b"") if payloads is not None else b""
            batch.dead.append(DeadLetter(entry_id, f"projection failed: {type(e).__name__}", payload))
            continue
        if payloads is not None and audit:
            batch.audit.add(key, event, payloads[entry_id])
    return batch
