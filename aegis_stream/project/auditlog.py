"""The audit log's indexes: which filter combinations each event is listed under (pure).

``audit/recent`` filters by any combination of risk level, action type,
agent and result status, and must count and page the matches without
scanning. So each event is appended to one list per combination of its
filterable values: the empty combination (every event), each value alone,
each pair, and so on (at most 16 lists). A page is then a range read at the
tail of one list, and the count is its length.

An event without agent or without result status is not listed under those
filters: like the reference, such events cannot be selected by them.

Lists hold *order keys*: the entry's stream id ``ms-seq`` as the integer
``ms * 1_000_000 + seq``, which sorts in stream order across partitions
(and which Redis stores as a compact integer).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import product

from aegis_stream.events import AuditEvent
from aegis_stream.streamids import id_key

FILTERS = ("risk_level", "action_type", "agent_id", "result_status")
Combo = tuple[str | None, ...]  # one value or None (not filtered) per name in FILTERS
SEQ_LIMIT = 1_000_000  # stream id sequence numbers within one millisecond stay below this


def order_key(entry_id: str) -> str:
    """The stream id ``ms-seq`` as one sortable integer, in decimal."""
    ms, seq = id_key(entry_id)
    if seq >= SEQ_LIMIT:
        raise ValueError(f"stream id {entry_id!r}: sequence beyond {SEQ_LIMIT - 1}")
    return str(ms * SEQ_LIMIT + seq)


def filter_values(event: AuditEvent) -> Combo:
    """The event's value for each filter (None where it has none)."""
    return (event.risk_level, event.action_type, event.agent_id or None, event.result_status)


def combos(values: Combo) -> Iterator[Combo]:
    """Every combination the values are listed under: each filter either set to its value or open."""
    choices = [(None,) if v is None else (None, v) for v in values]
    return product(*choices)


@dataclass(slots=True)
class AuditLogDelta:
    """What one batch appends to the audit log: rows, and index entries, in stream order.

    The index refers to rows by their position in ``rows`` (an event is
    listed under up to 16 combinations, and a small number is cheaper to
    carry to the script than its order key each time).
    """

    rows: list[tuple[str, bytes]] = field(default_factory=list)  # (order key, payload)
    index: dict[Combo, list[int]] = field(default_factory=dict)  # combo -> positions in rows
    _combos: dict[Combo, tuple[Combo, ...]] = field(default_factory=dict, repr=False)

    def add(self, key: str, event: AuditEvent, payload: bytes) -> None:
        """Append one applied event (in stream order) under its :func:`order_key`."""
        position = len(self.rows)
        self.rows.append((key, payload))
        values = filter_values(event)
        listed = self._combos.get(values)
        if listed is None:
            listed = self._combos[values] = tuple(combos(values))
        index = self.index
        for combo in listed:
            members = index.get(combo)
            if members is None:
                index[combo] = [position]
            else:
                members.append(position)
