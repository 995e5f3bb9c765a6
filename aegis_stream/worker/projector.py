"""Projector: reads a partition through the consumer group and applies batches.

Per partition: hold the lease, first re-process every pending entry (a dead
predecessor's reads), then read new entries in batches. Each batch is decoded
(bad entries become dead letters), pre-aggregated and applied by one fenced
script that also acknowledges it.

New batches overlap: batch N+1 is read, then batch N is sent, and N+1 is
decoded and pre-aggregated while the server applies N. N+1 is sent only
once N has been applied, so the order and the fence are what they would be
one batch at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from typing import Any

import redis

from aegis_stream.apply import Writer
from aegis_stream.apply.writer import ApplyResult
from aegis_stream.clock import wall_clock_ms
from aegis_stream.keys import GROUP, Keys
from aegis_stream.project.prepare import PreparedBatch
from aegis_stream.settings import Settings
from aegis_stream.store import TRANSIENT_ERRORS, AsyncClient, is_refusal
from aegis_stream.streamids import entry_ms, id_key, text
from aegis_stream.worker.lease import Lease

log = logging.getLogger(__name__)
Entry = tuple[str, dict[bytes, bytes] | None]
ISOLATE_AFTER = 2  # deliveries; beyond this, pending entries are re-applied one at a time


class LeaseLost(Exception):
    """Another process holds the partition now; stop writing."""


NOT_THE_ENTRYS_FAULT: tuple[type[BaseException], ...] = (LeaseLost, *TRANSIENT_ERRORS)


class PartitionProjector:
    """Projects one partition; one instance per (process, partition)."""

    def __init__(
        self,
        redis: AsyncClient,
        keys: Keys,
        p: int,
        settings: Settings,
        *,
        consumer: str,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.p = p
        self._redis = redis
        self._base_keys = keys
        self._keys = keys
        self._settings = settings
        self._consumer = consumer
        self._clock = clock
        self._writer = Writer(redis, keys, settings)
        self.lease = Lease(redis, keys.lease(p), f"{consumer}:{secrets.token_hex(8)}", settings.lease_ms)
        self._renewed_ms = 0
        self.applied_events = 0
        # a batch read and prepared, to be applied at the next step (see step)
        self._ready: tuple[list[Entry], PreparedBatch] | None = None

    async def ensure_group(self) -> None:
        """Create the consumer group from the start of the stream (never ``$``), idempotently."""
        try:
            await self._redis.xgroup_create(self._keys.stream(self.p), GROUP, id="0", mkstream=True)
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    async def follow_version(self) -> None:
        """Switch to the views version a rebuild made current, rewinding the group to its checkpoint.

        The rewind re-delivers whatever the old version saw after the rebuild
        caught up; the new version's checkpoint fences what it already has.
        """
        keys = self._base_keys.following(await self._redis.get(self._base_keys.views_pointer()))
        if keys.version == self._keys.version:
            return
        await self.flush()  # the batch ready was prepared for the version it is leaving
        checkpoint = await self._redis.hget(keys.checkpoint(self.p), "id")
        await self._redis.xgroup_setid(keys.stream(self.p), GROUP, id=text(checkpoint or b"0"))
        self._keys, self._writer = keys, Writer(self._redis, keys, self._settings)
        log.info("partition %d: now writing views version %d", self.p, keys.version)

    async def step(self, *, block_ms: int | None) -> int:
        """Read a batch of new entries, apply the one read before, prepare this one; how many it read.

        A batch is applied at the next step (or by :meth:`flush`), which also
        raises its error (a lost lease, say).
        """
        await self._keep_lease()
        await self.follow_version()
        ready, self._ready = self._ready, None
        # Read before sending the batch ready: the server runs one command at a
        # time, and a read queued behind the script would wait for all of it.
        reply: Any = await self._redis.xreadgroup(
            GROUP,
            self._consumer,
            {self._keys.stream(self.p): ">"},
            count=self._settings.batch_size,
            block=None if ready else block_ms,  # a batch is waiting: do not hold it back
        )
        entries: list[Entry] = []
        for _stream, items in reply or []:
            entries.extend((text(i), f) for i, f in items)  # one stream: in id order already
        sending = asyncio.create_task(self._apply_new(*ready)) if ready else None
        try:
            if entries:
                seen = ready[1].seen_ids if ready else {}
                batch = await self._writer.prepare_overlapped(self.p, entries, in_flight=seen)
                self._ready = (entries, batch)
        finally:
            if sending is not None:
                await sending
        return len(entries)

    async def flush(self) -> None:
        """Apply the batch read and prepared but not yet sent, if any."""
        ready, self._ready = self._ready, None
        if ready is not None:
            await self._apply_new(*ready)

    def forget(self) -> None:
        """Drop the batch prepared but not sent: its entries stay pending, to be re-processed."""
        self._ready = None

    async def _apply_new(self, entries: list[Entry], batch: PreparedBatch) -> None:
        """Apply a batch of new entries prepared ahead; if it was fenced, the careful path re-filters it."""
        result = await self._apply(entries, batch)
        if result.status == "lease":
            raise LeaseLost(result.checkpoint)
        if result.status != "ok":  # a rewound group delivered entries the checkpoint covers
            await self.process(entries)

    async def _apply(self, entries: list[Entry], batch: PreparedBatch) -> ApplyResult:
        """Send one prepared batch (entries in id order) to the fenced script; count it if it was applied."""
        now = self._clock()
        result = await self._writer.apply(
            self.p,
            token=self.lease.token,
            first_id=entries[0][0],
            last_id=entries[-1][0],
            ack_ids=[i for i, _ in entries],
            batch=batch,
            now_ms=now,
            trim_minid=self._trim_minid(entries[-1][0], now),
        )
        if result.status == "ok":
            self._applied(batch)
        return result

    def _applied(self, batch: PreparedBatch) -> None:
        self.applied_events += batch.delta.events
        if batch.dead:
            first = batch.dead[0]
            log.warning(
                "partition %d: %d entries dead-lettered (first %s: %s)",
                self.p,
                len(batch.dead),
                first.entry_id,
                first.reason,
            )

    async def recover(self) -> int:
        """Re-process every pending entry of the group (any consumer), oldest first.

        Entries delivered more than twice are re-applied one at a time, so that
        one entry that kills the process (a poison entry) cannot take the
        others down with it. Delivery counts only choose isolation: they also
        grow when a healthy worker is killed or its lease changes hands. The
        verdict counts what only a poison entry does, attempts to apply it on
        its own that never completed (see :meth:`_apply_alone`).
        """
        handled = 0
        cursor = "0-0"
        while True:
            await self._keep_lease()
            reply: Any = await self._redis.xautoclaim(
                self._keys.stream(self.p),
                GROUP,
                self._consumer,
                min_idle_time=0,
                start_id=cursor,
                count=self._settings.batch_size,
            )
            cursor = text(reply[0])
            entries: list[Entry] = [(text(i), f) for i, f in reply[1]]
            # reply[2] (Redis 7) lists pending ids whose entries were deleted;
            # XAUTOCLAIM already dropped them from the pending list.
            deliveries = await self._deliveries(entries)
            # One crash leaves its batch pending with 2 deliveries: re-apply it as a batch.
            # Entries that have already taken down a second worker are isolated one by one.
            if any(n > ISOLATE_AFTER for n in deliveries.values()):
                for entry in entries:
                    await self._apply_alone(entry)
            else:
                await self.process(entries)
            handled += len(entries)
            if cursor == "0-0":
                return handled

    async def prune_consumers(self) -> int:
        """Remove the group's consumers that have nothing pending and have been idle for two leases.

        Every worker process joins the group under its own name, so without
        this each restart would leave one consumer behind for good. Only the
        lease holder reads the partition, and it has just claimed every
        pending entry, so the consumers removed hold nothing.
        """
        stream = self._keys.stream(self.p)
        rows: Any = await self._redis.xinfo_consumers(stream, GROUP)
        gone = 0
        for row in rows:
            name = text(row["name"])
            if (
                name == self._consumer
                or int(row["pending"])
                or int(row["idle"]) < 2 * self._settings.lease_ms
            ):
                continue
            await self._redis.xgroup_delconsumer(stream, GROUP, name)
            gone += 1
        return gone

    async def _apply_alone(self, entry: Entry) -> None:
        """Apply one suspect entry by itself, dead-lettering it after ``max_deliveries`` failed attempts.

        The attempt is counted before it starts and forgotten once it ends, so
        only an attempt that took the process down (or failed inside the apply)
        stays counted. A lost lease or an unreachable store is not the entry's
        fault, and neither is a store that refuses writes (out of memory, read-only,
        see ``store.STORE_REFUSALS``): that attempt is taken back.
        """
        key, entry_id = self._keys.attempts(self.p), entry[0]
        tries = int(await self._redis.hincrby(key, entry_id, 1))
        failed = tries - 1
        poison = {entry_id: failed} if failed >= self._settings.max_deliveries else None
        try:
            await self.process([entry], poison=poison)
        except Exception as e:
            if isinstance(e, NOT_THE_ENTRYS_FAULT) or is_refusal(e):
                # best effort: a store that refused the apply may refuse this write too
                with contextlib.suppress(*TRANSIENT_ERRORS, redis.ResponseError):
                    await self._redis.hincrby(key, entry_id, -1)
            raise
        await self._redis.hdel(key, entry_id)

    async def _deliveries(self, entries: list[Entry]) -> dict[str, int]:
        """How many times each pending entry has been delivered (one XPENDING per page)."""
        if not entries:
            return {}
        rows: Any = await self._redis.xpending_range(
            self._keys.stream(self.p), GROUP, min=entries[0][0], max=entries[-1][0], count=len(entries) * 2
        )
        return {text(r["message_id"]): int(r["times_delivered"]) for r in rows}

    async def process(self, entries: list[Entry], *, poison: dict[str, int] | None = None) -> None:
        """Apply a batch exactly once: skip what the checkpoint covers, fence the rest.

        Entries named in ``poison`` (id -> failed attempts) are dead-lettered unread.
        """
        if not entries:
            return
        await self._keep_lease()  # a long recovery must not let the lease lapse under it
        entries.sort(key=lambda e: id_key(e[0]))
        checkpoint = text(await self._redis.hget(self._keys.checkpoint(self.p), "id") or b"")
        for _attempt in range(5):
            if checkpoint:
                floor = id_key(checkpoint)
                done = [i for i, _ in entries if id_key(i) <= floor]
                entries = [e for e in entries if id_key(e[0]) > floor]
                if done:  # applied before (redelivery or rewind): only acknowledge
                    await self._redis.xack(self._keys.stream(self.p), GROUP, *done)
            if not entries:
                return
            batch = await self._writer.prepare(self.p, entries, poison)
            result = await self._apply(entries, batch)
            if result.status == "ok":
                return
            if result.status == "lease":
                raise LeaseLost(result.checkpoint)
            checkpoint = result.checkpoint  # stale: someone advanced it; re-filter
        raise RuntimeError("checkpoint kept moving under a lease holder")

    def _trim_minid(self, last_id: str, now_ms: int) -> str:
        """Trim below both the retention horizon and what this partition has applied."""
        retention = self._settings.retention_ms
        if not retention:
            return ""
        floor = min(entry_ms(last_id), now_ms - retention)
        return f"{floor}-0" if floor > 0 else ""

    async def _keep_lease(self) -> None:
        now = self._clock()
        if now - self._renewed_ms < self._settings.lease_ms // 3:
            return
        if not await self.lease.acquire():
            raise LeaseLost("renewal refused")
        self._renewed_ms = now
