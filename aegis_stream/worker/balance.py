"""Spreading partitions over projector processes: each holds about its fair share.

A lease is taken by whichever process asks first, so without this the first
worker to start would hold every partition and the others would only stand
by. Each process reads the other workers' health records (see
:mod:`aegis_stream.worker.health`) and, holding more than its share while
another live worker holds less, gives one lease up; it then leaves that
partition alone for one lease period, so that worker takes it. Taking a free lease is never refused:
a partition nobody holds is always picked up, so balancing can delay a
takeover by at most one lease period, never stop one.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from aegis_stream.keys import Keys
from aegis_stream.store import AsyncClient
from aegis_stream.streamids import text
from aegis_stream.worker.health import fetch_records

MAX_WORKERS = 1000  # health records read at most


def fair_share(partitions: int, live_workers: int) -> int:
    """The most partitions one of ``live_workers`` processes should hold (at least one)."""
    return max(1, math.ceil(partitions / max(1, live_workers)))


def should_give_up(held: int, partitions: int, others_active: list[int]) -> bool:
    """Whether a process holding ``held`` leases should give one up (pure).

    ``others_active`` has, for every *other* live worker, how many leases it
    holds. Only when this process is over its share and some other worker is
    under it: a worker that looks alive but holds its share (say, one that
    was just killed, whose heartbeat is still fresh) takes nothing, so giving
    a lease up to it would only stall that partition.
    """
    share = fair_share(partitions, 1 + len(others_active))
    return held > share and any(n < share for n in others_active)


class FairShare:
    """Whether this process holds more partitions than its share, re-reading the workers now and then."""

    def __init__(
        self,
        redis: AsyncClient,
        keys: Keys,
        *,
        consumer: str,
        lease_ms: int,
        clock: Callable[[], int],
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._consumer = consumer
        self._lease_ms = lease_ms
        self._clock = clock
        self._others: list[int] = []
        self._read_ms: int | None = None
        self._gave_up_at: int | None = None

    async def others_active(self) -> list[int]:
        """Leases held by each other worker whose heartbeat is at most one lease period old.

        Read from the health records (cached for a third of a lease period).
        """
        now = self._clock()
        if self._read_ms is not None and now - self._read_ms < self._lease_ms // 3:
            return self._others
        self._read_ms = now
        index = self._keys.worker_index()
        names = [text(n) for n in await self._redis.zrangebyscore(index, now, "+inf")]
        names = [n for n in names if n != self._consumer][:MAX_WORKERS]
        others: list[int] = []
        for record in await fetch_records(self._redis, self._keys, names):
            beat = (record or {}).get("heartbeat_ms")
            if record is None or not isinstance(beat, int) or beat < now - self._lease_ms:
                continue
            parts = record.get("partitions") or {}
            others.append(sum(1 for h in parts.values() if isinstance(h, dict) and h.get("active")))
        self._others = others
        return others

    async def over(self, held: int) -> bool:
        """True when a process holding ``held`` partitions should give one up now.

        At most once per reading of the records: the next one is decided on
        what the others hold after they have had a chance to take this one.
        """
        others = await self.others_active()
        if self._gave_up_at == self._read_ms or not should_give_up(held, self._keys.partitions, others):
            return False
        self._gave_up_at = self._read_ms
        return True
