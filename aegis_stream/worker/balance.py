"""Spreading partitions over projector processes: each holds about its fair share.

A lease is taken by whichever process asks first, so without this the first
worker to start would hold every partition and the others would only stand
by. Each process reads how many workers are alive from the worker index
(see :mod:`aegis_stream.worker.health`) and, holding more than its share,
gives one lease up; it then leaves that partition alone for one lease period,
so a process under its share takes it. Taking a free lease is never refused:
a partition nobody holds is always picked up, so balancing can delay a
takeover by at most one lease period, never stop one.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from aegis_stream.keys import Keys
from aegis_stream.store import AsyncClient


def fair_share(partitions: int, live_workers: int) -> int:
    """The most partitions one of ``live_workers`` processes should hold (at least one)."""
    return max(1, math.ceil(partitions / max(1, live_workers)))


class FairShare:
    """Whether this process holds more partitions than its share, re-counting workers now and then."""

    def __init__(
        self,
        redis: AsyncClient,
        keys: Keys,
        *,
        lease_ms: int,
        record_ttl_ms: int,
        clock: Callable[[], int],
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._lease_ms = lease_ms
        self._record_ttl_ms = record_ttl_ms
        self._clock = clock
        self._live = 1
        self._counted_ms: int | None = None

    async def live_workers(self) -> int:
        """Workers whose heartbeat is at most one lease period old (cached for a third of one)."""
        now = self._clock()
        if self._counted_ms is None or now - self._counted_ms >= self._lease_ms // 3:
            self._counted_ms = now
            # the index scores each worker by heartbeat + record TTL: a heartbeat newer than
            # now - lease scores above now - lease + TTL
            live = await self._redis.zcount(
                self._keys.worker_index(), now - self._lease_ms + self._record_ttl_ms, "+inf"
            )
            self._live = max(1, int(live))
        return self._live

    async def over(self, held: int) -> bool:
        """True when a process holding ``held`` partitions should give one up."""
        return held > fair_share(self._keys.partitions, await self.live_workers())
