"""The apply script's arguments: a prepared batch as a key table and one ops map (pure).

The script (``apply.lua``) refers to view keys by their 1-based index in the
key list, so a key named by many ops travels once; everything else goes in
one msgpack map, packed in C rather than framed argument by argument.
"""

from __future__ import annotations

from typing import Any

from aegis_stream.buckets import BUCKET_SIZES, bucket_expiry
from aegis_stream.keys import Keys
from aegis_stream.project.prepare import PreparedBatch

_PERIOD_BY_SIZE = {p.size_ms: p for p in BUCKET_SIZES}
_LONGEST = max(BUCKET_SIZES, key=lambda p: p.lookback_ms)


class _KeyTable:
    """Collects the view keys of one call; ops refer to them by 1-based index."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self._index: dict[str, int] = {}

    def __call__(self, key: str) -> int:
        index = self._index.get(key)
        if index is None:
            self.keys.append(key)
            index = self._index[key] = len(self.keys)
        return index


def build_ops(
    keys: Keys,
    p: int,
    batch: PreparedBatch,
    now_ms: int,
    *,
    dedupe_floor_ms: int | None,
    trim_minid: str,
    write_dead_letters: bool = True,
    agent_map_cap: int | None = None,
    ack_ids: list[str] | None = None,
    inline_rows: bool = True,
) -> tuple[list[str], dict[str, Any]]:
    """Translate a prepared batch into the script's key list and ops map (pure; exposed for tests).

    ``agent_map_cap`` bounds each agent's ``types`` and ``targets`` maps;
    ``None`` leaves agent profiles out (anomaly projection switched off).
    """
    table = _KeyTable()
    hincr: list[Any] = []
    hsetnx: list[Any] = []
    expire: list[Any] = []
    delta = batch.delta
    totals = table(keys.totals(p))
    for name, n in delta.totals.items():
        hincr += [totals, name, n]
    for (dim, value), n in delta.dims.items():
        hincr += [table(keys.counts(p, dim)), value, n]
    for (dim, value), entry_id in delta.first_seen.items():
        hsetnx += [table(keys.first_seen(p, dim)), value, entry_id]
    late = 0
    for (size_ms, start_ms, name), n in delta.buckets.items():
        at = bucket_expiry(start_ms, _PERIOD_BY_SIZE[size_ms])
        if at <= now_ms:
            # Too old for any timeline: the event still counts in totals and
            # is reported as late (counted once, by the longest period).
            if size_ms == _LONGEST.size_ms and name == "total":
                late += n
            continue
        key = table(keys.bucket(p, size_ms, start_ms))
        hincr += [key, name, n]
        if name == "total":
            expire += [key, at]
    dead_ops: list[Any] = []
    for letter in batch.dead if write_dead_letters else ():
        dead_ops += [letter.entry_id, letter.reason, letter.payload]
    seen: list[Any] = []
    trim_seen: list[Any] = []
    if batch.seen_ids or dedupe_floor_ms is not None:
        ids_key = table(keys.dedupe(p))
        for eid, at_ms in batch.seen_ids.items():
            seen += [ids_key, at_ms, eid]
        if dedupe_floor_ms is not None:
            trim_seen = [ids_key, dedupe_floor_ms]
    capped: list[Any] = []
    earliest: list[Any] = []
    latest: list[Any] = []
    if agent_map_cap is not None:
        for (agent, name), n in delta.profile_counters.items():
            hincr += [table(keys.profile(p, agent)), name, n]
        first_ids = delta.profile_first_seen
        # per (agent, kind): the four leading fields of each entry, and the order list's index
        map_keys: dict[tuple[str, str], tuple[list[Any], int]] = {}
        for (agent, kind, value), n in delta.profile_maps.items():
            slot = map_keys.get((agent, kind))
            if slot is None:
                slot = map_keys[(agent, kind)] = (
                    [
                        table(keys.profile_counts(p, kind, agent)),
                        table(keys.profile_first_seen(p, kind, agent)),
                        table(keys.profile(p, agent)),
                        f"{kind}_overflow",
                    ],
                    table(keys.profile_order(p, kind, agent)),
                )
            capped += slot[0]
            capped += [value, n, first_ids[(agent, kind, value)], slot[1]]
        for agent, (first_us, last_us) in delta.profile_spans.items():
            profile = table(keys.profile(p, agent))
            # fixed width, so the script compares them as strings (Lua numbers lose
            # precision past 2**53 microseconds, which year 9999 needs)
            earliest += [profile, "first_us", f"{first_us:018d}"]
            latest += [profile, "last_us", f"{last_us:018d}"]
    span = delta.span
    if span is not None:
        span_key = table(keys.span(p))
        earliest += [span_key, "first_us", f"{span[0]:018d}"]
        latest += [span_key, "last_us", f"{span[1]:018d}"]
    clusters: list[Any] = []
    for start, end in delta.clusters:
        clusters += [table(keys.activity(p)), *divmod(start, 1_000_000), *divmod(end, 1_000_000)]
    numbered: list[Any] = []
    payloads: list[Any] = []
    lists: list[Any] = []
    audit = batch.audit
    if audit.rows:
        numbered = [table(keys.audit_seqs(p)), *(order for order, _ in audit.rows)]
        if inline_rows:
            payloads = [table(keys.audit_rows(p)), *(payload for _, payload in audit.rows)]
        for combo, members in audit.index.items():
            lists += [table(keys.audit_index(p, combo)), len(members), *members]
    ops = {
        "h": hincr,
        "r": numbered,
        "w": payloads,
        "l": lists,
        "g": clusters,
        "n": hsetnx,
        "cm": capped,
        "cap": agent_map_cap or 0,
        "lo": earliest,
        "hi": latest,
        "x": expire,
        "d": dead_ops,
        "z": seen,
        "zt": trim_seen,
        "t": trim_minid,
        "c": [delta.events, len(batch.dead), late, batch.duplicates],
        # the ids to acknowledge travel inside the ops (one argument, packed in C,
        # rather than a thousand for the client to frame one by one)
        "k": ack_ids or [],
    }
    return table.keys, ops
