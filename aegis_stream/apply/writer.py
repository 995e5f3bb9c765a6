"""The single writer: prepares batches and applies each in one fenced Lua call.

Everything a batch changes (view counters, first-seen order, bucket expiry,
dead letters, the checkpoint and the XACKs) happens in one script, so a
crash leaves either all of it or none of it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import msgpack

from aegis_stream.apply.ops import build_ops
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
from aegis_stream.signing import SignedReader, signer_for
from aegis_stream.store import AsyncClient
from aegis_stream.streamids import entry_ms, text

log = logging.getLogger(__name__)
INLINE_ROWS_BYTES = 64 * 1024 * 1024  # audit rows larger in all than this are written before the script
SLICE = 100  # entries prepared between turns of the event loop (see Writer.prepare_overlapped)
APPLY_LUA = resources.files("aegis_stream.apply").joinpath("apply.lua").read_text("utf-8")


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """``status`` is ``ok``, ``stale`` (fenced: at or below ``checkpoint``) or ``lease`` (lost)."""

    status: str
    checkpoint: str


class Writer:
    """Applies batches to one store; safe to share between partitions of a process."""

    def __init__(self, redis: AsyncClient, keys: Keys, settings: Settings | None = None) -> None:
        self._redis = redis
        self._keys = keys
        self._settings = settings or Settings()
        self._script = redis.register_script(APPLY_LUA)
        signer = signer_for(self._settings.signing_key)
        self._signed = SignedReader(signer) if signer is not None else None
        self._warn_unverified_at = 1  # then 10, 100, ...: a hint, not a flood

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
        batch = PreparedBatch(dead=list(decoded.dead))
        for start in range(0, len(decoded.events), SLICE):
            await asyncio.sleep(0)
            self.fold(decoded, in_flight, into=batch, start=start, stop=start + SLICE)
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
        signed = self._signed
        if signed is not None and signed.unverified >= self._warn_unverified_at:
            log.warning(
                "%d entries so far carry a tag that AEGIS_SIGNING_KEY does not verify (producers with "
                "another key?); they are validated in full",
                signed.unverified,
            )
            self._warn_unverified_at = 10 * signed.unverified
        return decoded

    async def seen_before(self, p: int, decoded: Decoded) -> dict[str, int]:
        """The event ids of a decoded batch the store has recorded, with the stream ms of each."""
        ids = list({e.event_id for _, e in decoded.events if e.event_id})
        if not ids or not self._settings.dedupe_window_ms:
            return {}
        scores = await self._redis.zmscore(self._keys.dedupe(p), ids)
        return {eid: int(score) for eid, score in zip(ids, scores, strict=True) if score is not None}

    def fold(
        self,
        decoded: Decoded,
        known: Mapping[str, int],
        *,
        into: PreparedBatch | None = None,
        start: int = 0,
        stop: int | None = None,
    ) -> PreparedBatch:
        """Pre-aggregate a decoded batch (pure), dropping the duplicates of ids in ``known``.

        With ``into``, its events ``start:stop`` are added to that batch (which
        already holds the batch's dead letters and the events before them).
        """
        return fold(
            decoded.events[start:stop],
            decoded.dead if into is None else [],
            known_ids=known,
            dedupe_window_ms=self._settings.dedupe_window_ms,
            payloads=decoded.payloads,
            audit=self._settings.audit_log,
            into=into,
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
