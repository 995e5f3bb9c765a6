"""The single writer: turns a :class:`BatchDelta` into one fenced Lua call.

Everything a batch changes (view counters, first-seen order, bucket expiry,
dead letters, the checkpoint and the XACKs) happens in one script, so a
crash leaves either all of it or none of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import msgpack

from aegis_stream.buckets import BUCKET_SIZES, bucket_expiry
from aegis_stream.keys import GROUP, Keys
from aegis_stream.project.prepare import (
    DeadLetter,
    Decoded,
    Fields,
    PreparedBatch,
    decode_entries,
    fold,
    raw_payload,
)
from aegis_stream.settings import Settings
from aegis_stream.signing import signer_for
from aegis_stream.store import AsyncClient
from aegis_stream.streamids import entry_ms, text
from aegis_stream.wire import SignedReader

INLINE_ROWS_BYTES = 64 * 1024 * 1024  # audit rows larger in all than this are written before the script
SLICE = 100  # entries prepared between turns of the event loop (see Writer.prepare_overlapped)
APPLY_LUA = resources.files("aegis_stream.apply").joinpath("apply.lua").read_text("utf-8")
_PERIOD_BY_SIZE = {p.size_ms: p for p in BUCKET_SIZES}
_LONGEST = max(BUCKET_SIZES, key=lambda p: p.lookback_ms)


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """``status`` is ``ok``, ``stale`` (fenced: at or below ``checkpoint``) or ``lease`` (lost)."""

    status: str
    checkpoint: str


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


class Writer:
    """Applies batches to one store; safe to share between partitions of a process."""

    def __init__(self, redis: AsyncClient, keys: Keys, settings: Settings | None = None) -> None:
        self._redis = redis
        self._keys = keys
        self._settings = settings or Settings()
        self._script = redis.register_script(APPLY_LUA)
        signer = signer_for(self._settings.signing_key)
        self._signed = SignedReader(signer) if signer is not None else None

    async def prepare(
        self, p: int, entries: list[tuple[str, Fields]], poison: dict[str, int] | None = None
    ) -> PreparedBatch:
        """Decode, check and pre-aggregate entries, against the event ids this writer has recorded.

        Entries named in ``poison`` (id -> failed attempts) are dead-lettered unread.
        """
        decoded = self.decode(entries, poison)
        return self.fold(decoded, await self.seen_before(p, decoded))

    async def prepare_overlapped(
        self, p: int, entries: list[tuple[str, Fields]], *, in_flight: Mapping[str, int]
    ) -> PreparedBatch:
        """:meth:`prepare` for a batch read while the one before it is being applied.

        ``in_flight`` holds that batch's event ids (-> stream ms): the store does
        not list them yet, and they count as seen. The work is done in slices,
        each after a turn of the event loop: sending the other batch takes
        several turns (checking the connection, writing, draining), and a
        preparation that kept the loop to itself would hold it back. The store
        is asked which ids it has seen only after the fold, so that the question
        does not wait behind the other batch's script on the server; almost
        always it has seen none and the fold stands, else it is folded again.
        """
        decoded = Decoded([], [], {})
        for start in range(0, len(entries), SLICE):
            await asyncio.sleep(0)
            part = self.decode(entries[start : start + SLICE])
            decoded.events += part.events
            decoded.dead += part.dead
            decoded.payloads.update(part.payloads)
        settings = self._settings
        batch = PreparedBatch(dead=list(decoded.dead))
        payloads = decoded.payloads if settings.audit_log else None
        for start in range(0, len(decoded.events), SLICE):
            await asyncio.sleep(0)
            fold(
                decoded.events[start : start + SLICE],
                [],
                known_ids=in_flight,
                dedupe_window_ms=settings.dedupe_window_ms,
                payloads=payloads,
                into=batch,
            )
        stored = await self.seen_before(p, decoded)
        if not stored:
            return batch
        # after the batch in flight the store holds its first-seen times, the later ones
        return self.fold(decoded, {**stored, **in_flight})

    def decode(self, entries: list[tuple[str, Fields]], poison: dict[str, int] | None = None) -> Decoded:
        """Decode and check entries (pure); those named in ``poison`` are dead-lettered unread."""
        settings, poison = self._settings, poison or {}
        decoded = decode_entries(
            [e for e in entries if e[0] not in poison] if poison else entries,
            max_bytes=settings.max_event_bytes,
            max_future_skew_ms=settings.max_future_skew_ms,
            signed=self._signed,
        )
        for entry_id, fields in entries:
            if entry_id in poison:
                reason = f"poison: {poison[entry_id]} attempts to apply it on its own did not complete"
                decoded.dead.append(DeadLetter(entry_id, reason, raw_payload(fields or {})))
        return decoded

    async def seen_before(self, p: int, decoded: Decoded) -> dict[str, int]:
        """The event ids of a decoded batch the store has recorded, with the stream ms of each."""
        ids = list({e.event_id for _, e in decoded.events if e.event_id})
        if not ids or not self._settings.dedupe_window_ms:
            return {}
        scores = await self._redis.zmscore(self._keys.dedupe(p), ids)
        return {eid: int(score) for eid, score in zip(ids, scores, strict=True) if score is not None}

    def fold(self, decoded: Decoded, known: Mapping[str, int]) -> PreparedBatch:
        """Pre-aggregate a decoded batch (pure), dropping the duplicates of ids in ``known``."""
        return fold(
            decoded.events,
            decoded.dead,
            known_ids=known,
            dedupe_window_ms=self._settings.dedupe_window_ms,
            payloads=decoded.payloads if self._settings.audit_log else None,
        )

    async def apply(
        self,
        p: int,
        *,
        token: str,
        first_id: str,
        last_id: str,
        ack_ids: list[str],
        batch: PreparedBatch,
        now_ms: int,
        trim_minid: str = "",
        write_dead_letters: bool = True,
    ) -> ApplyResult:
        """Apply one batch of partition ``p`` whose entries span ``first_id..last_id``.

        A rebuild passes ``write_dead_letters=False``: the dead-letter stream
        already holds them (it is not versioned); they are still counted.
        """
        window = self._settings.dedupe_window_ms
        dedupe_floor_ms = entry_ms(first_id) - window if window else None
        rows = batch.audit.rows
        # The rows' payloads travel in the script's ops, but a single argument is
        # capped (proto-max-bulk-len, 512 MiB by default): past a bound, the rows go
        # first, on their own. Keyed by stream position and the same at every
        # attempt, they are idempotent, and a row nothing lists is never shown.
        inline = sum(len(payload) for _, payload in rows) <= INLINE_ROWS_BYTES
        if not inline:
            pipe = self._redis.pipeline(transaction=False)
            for i in range(0, len(rows), 500):
                pipe.hset(self._keys.audit_rows(p), mapping=dict(rows[i : i + 500]))
            await pipe.execute()
        view_keys, ops = build_ops(
            self._keys,
            p,
            batch,
            now_ms,
            dedupe_floor_ms=dedupe_floor_ms,
            trim_minid=trim_minid,
            write_dead_letters=write_dead_letters,
            agent_map_cap=self._settings.agent_map_cap if self._settings.anomalies else None,
            ack_ids=ack_ids,
            inline_rows=inline,
        )
        script_keys = [
            self._keys.stream(p),
            self._keys.checkpoint(p),
            self._keys.lease(p),
            self._keys.dead(p),
            *view_keys,
        ]
        # use_bin_type=False: the cmsgpack bundled with Redis cannot read the bin types
        packed = msgpack.packb(ops, use_bin_type=False)
        args: list[Any] = [GROUP, token, first_id, last_id, now_ms, packed]
        reply = await self._script(keys=script_keys, args=args)
        status, checkpoint = (text(x) for x in reply)
        return ApplyResult(status=status, checkpoint=checkpoint)
