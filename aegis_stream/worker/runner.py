"""The worker process: one loop per partition, each active (holding the lease) or standing by.

A loop never dies of a store error: unreachable servers, refusals and
corrupted state are logged and retried with backoff, and a lost lease sends
the loop back to standing by. The loops keep the process's health record
fresh as they go round (see health.py); a clean stop deletes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable

import redis

from aegis_stream.clock import wall_clock_ms
from aegis_stream.errors import ConfigError
from aegis_stream.keys import Keys
from aegis_stream.layout import check_partitions
from aegis_stream.settings import Settings
from aegis_stream.store import TRANSIENT_ERRORS, AsyncClient
from aegis_stream.worker.balance import FairShare
from aegis_stream.worker.health import Heartbeat, PartitionHealth, stale_after_ms
from aegis_stream.worker.projector import LeaseLost, PartitionProjector

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 5.0
PROGRESS_EVERY_MS = 10_000


class Worker:
    """A projector process: one task per partition, each active or standing by."""

    def __init__(
        self,
        redis: AsyncClient,
        settings: Settings,
        *,
        clock: Callable[[], int] = wall_clock_ms,
        partitions: list[int] | None = None,
    ) -> None:
        self.settings = settings
        self.keys = Keys(settings.key_prefix, settings.views_version, settings.partitions)
        host, pid = socket.gethostname(), os.getpid()
        self.consumer = settings.consumer or f"{host}-{pid}"
        chosen = partitions if partitions is not None else list(self.keys.all_partitions())
        self.projectors = [
            PartitionProjector(redis, self.keys, p, settings, consumer=self.consumer, clock=clock)
            for p in chosen
        ]
        self.stop_event = asyncio.Event()
        self._clock = clock
        self._redis = redis
        self.health = Heartbeat(
            redis,
            self.keys,
            self.consumer,
            pid=pid,
            host=host,
            clock=clock,
            stale_after_ms=stale_after_ms(settings.block_ms, settings.lease_ms, int(MAX_BACKOFF_S * 1000)),
        )
        self.share = FairShare(
            redis, self.keys, consumer=self.consumer, lease_ms=settings.lease_ms, clock=clock
        )

    def stop(self) -> None:
        """Ask every partition loop to finish its batch and exit."""
        self.stop_event.set()

    async def run(self, *, burst: bool = False) -> int:
        """Run until :meth:`stop` (or, in burst mode, until every partition is drained).

        The health record is written at once, refreshed by the loops, and deleted on the way out.
        """
        now = self._clock()
        self.health.partitions = {pp.p: PartitionHealth(seen_ms=now) for pp in self.projectors}
        await self.health.maybe_beat()
        try:
            counts = await asyncio.gather(*(self._run_partition(pp, burst) for pp in self.projectors))
        finally:
            await self.health.clear()
        return sum(counts)

    async def _lease_changed(self, health: PartitionHealth, *, active: bool) -> None:
        """Record a lease taken or given up at once, not at the next heartbeat.

        Other workers balance on these records: one that lags (a worker
        killed just after taking a lease) would look under its share and be
        given a lease it cannot take.
        """
        health.active = active
        await self.health.beat(self._clock())

    def _held(self) -> int:
        """How many partitions' leases this process holds (as its health record says)."""
        return sum(h.active for h in self.health.partitions.values())

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop_event.wait(), timeout=seconds)

    async def _activate(self, pp: PartitionProjector, standing_by: bool) -> bool:
        """Take the partition's lease and re-process its pending entries; False if another holds it."""
        pp.forget()  # prepared before the lease was lost or the store failed: re-processed below
        await check_partitions(self._redis, self.keys)
        await pp.ensure_group()
        extra = {"partition": pp.p}
        if not await pp.lease.acquire():
            if not standing_by:
                log.info("partition %d: another projector holds the lease; standing by", pp.p, extra=extra)
            return False
        log.info("partition %d: active as %s", pp.p, pp.lease.token.rsplit(":", 1)[0], extra=extra)
        await pp.follow_version()
        pending = await pp.recover()
        if pending:
            log.info("partition %d: re-processed %d pending entries", pp.p, pending, extra=extra)
        pruned = await pp.prune_consumers()
        if pruned:
            log.info("partition %d: removed %d idle consumers of earlier workers", pp.p, pruned, extra=extra)
        return True

    async def _run_partition(self, pp: PartitionProjector, burst: bool) -> int:
        backoff = 0.1
        active = standing_by = False
        reported, last_report_ms = 0, self._clock()
        health = self.health.partitions[pp.p]
        extra = {"partition": pp.p}
        left_until = 0  # until then, this partition is left for another worker (balancing)
        while not self.stop_event.is_set():
            health.active, health.applied, health.seen_ms = active, pp.applied_events, self._clock()
            await self.health.maybe_beat()  # at most one round trip a second, for the whole process
            try:
                if not active:
                    if self._clock() < left_until:  # given up to balance: leave it to the others
                        await self._pause(self.settings.lease_ms / 2000)
                        continue
                    active = await self._activate(pp, standing_by)
                    standing_by = not active
                    health.error = None
                    if not active:
                        await self._pause(self.settings.lease_ms / 2000)
                        continue
                    await self._lease_changed(health, active=True)
                handled = await pp.step(block_ms=None if burst else self.settings.block_ms)
                backoff = 0.1
                health.error = None
                if burst and handled == 0:
                    log.info("partition %d: drained", pp.p, extra=extra)
                    break
                if not burst and await self.share.over(self._held()):
                    await pp.flush()  # everything read so far is applied and acknowledged
                    await pp.lease.release()
                    await self._lease_changed(health, active=False)
                    active, standing_by = False, True
                    left_until = self._clock() + self.settings.lease_ms
                    log.info("partition %d: lease given up for another worker to take", pp.p, extra=extra)
            except LeaseLost:
                log.warning("partition %d: lease lost, standing by", pp.p, extra=extra)
                active = False
            except ConfigError:
                self.stop()  # a partition count the store disagrees with: nothing to retry
                raise
            except TRANSIENT_ERRORS as e:  # before ResponseError: CLUSTERDOWN and TRYAGAIN are ResponseErrors
                log.warning(
                    "partition %d: store unavailable (%s), retrying in %.1fs", pp.p, e, backoff, extra=extra
                )
                active = False
                health.failed(e)
                await self._pause(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            except redis.ResponseError as e:
                if "NOGROUP" in str(e):
                    log.warning("partition %d: consumer group missing, recreating it", pp.p, extra=extra)
                else:  # e.g. OOM refusals: log, back off, never die
                    log.exception(
                        "partition %d: store refused a command, retrying in %.1fs", pp.p, backoff, extra=extra
                    )
                active = False
                health.failed(e)
                await self._pause(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            except Exception as e:  # e.g. a corrupted checkpoint: log, back off, never die
                log.exception(
                    "partition %d: projection failed, retrying in %.1fs", pp.p, backoff, extra=extra
                )
                active = False
                health.failed(e)
                await self._pause(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            now = self._clock()
            if now - last_report_ms >= PROGRESS_EVERY_MS and pp.applied_events != reported:
                log.info("partition %d: %d events applied", pp.p, pp.applied_events, extra=extra)
                reported, last_report_ms = pp.applied_events, now
        if active:
            try:
                await pp.flush()
            except Exception as e:  # its entries stay pending: the next holder re-processes them
                log.info("partition %d: the last batch read was not applied (%s)", pp.p, e, extra=extra)
        with contextlib.suppress(*TRANSIENT_ERRORS):
            await pp.lease.release()
        return pp.applied_events
