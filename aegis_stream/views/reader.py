"""The one reader of the views. Every method reads a bounded set of keys.

Partitions are merged here: counters are summed, and a value's position in
first-appearance order is the earliest stream id at which any partition saw it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aegis_stream.buckets import Period, window_starts
from aegis_stream.errors import StoreError
from aegis_stream.keys import GROUP, Keys
from aegis_stream.project.activity import gap_count
from aegis_stream.project.auditlog import Combo
from aegis_stream.project.projection import DIMENSIONS, NO_AGENT
from aegis_stream.store import AsyncClient
from aegis_stream.streamids import text
from aegis_stream.views.auditlog import AuditPage, recent
from aegis_stream.views.profiles import AgentProfile, MapsCache, read_profiles
from aegis_stream.views.values import NEVER, counter, order


@dataclass(slots=True)
class Aggregates:
    """Merged counters: ``totals`` and, per dimension, ``(value, count)`` in first-appearance order."""

    totals: Counter[str] = field(default_factory=Counter)
    dims: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Number of events applied."""
        return self.totals["total"]

    def counts(self, dim: str) -> dict[str, int]:
        """``value -> count`` for one dimension, in first-appearance order."""
        return dict(self.dims.get(dim, []))


@dataclass(frozen=True, slots=True)
class Activity:
    """When events happened: the earliest and latest event time, and SOC2 CC7.2's gap count."""

    first_us: int | None
    last_us: int | None
    gaps: int


@dataclass(frozen=True, slots=True)
class PartitionStatus:
    """Pipeline health of one partition.

    ``oldest_pending_age_ms`` is how long ago the oldest entry still pending
    in the projector group (read but not acknowledged) was appended, measured
    from its stream id; ``None`` when nothing is pending.
    """

    partition: int
    length: int
    pending: int
    lag: int | None
    oldest_pending_age_ms: int | None
    checkpoint: str | None
    applied_events: int
    last_applied_ms: int | None
    dead_letters: int
    late_events: int
    duplicates: int = 0


def parse_cluster(member: str) -> tuple[int, int]:
    """An activity cluster as stored by the apply script: ``s1:u1:s2:u2`` -> (start, end) in µs."""
    try:
        s1, u1, s2, u2 = (int(x) for x in member.split(":"))
    except ValueError:
        raise StoreError(f"unreadable activity cluster {member!r:.60}; rebuild the views") from None
    return s1 * 1_000_000 + u1, s2 * 1_000_000 + u2


class ViewReader:
    """Reads merged views for the API and the CLI."""

    def __init__(self, redis: AsyncClient, keys: Keys) -> None:
        self._redis = redis
        self._base = keys
        self._maps_cache = MapsCache()

    async def active_keys(self) -> Keys:
        """Key names of the views version in use (a rebuild switches it atomically)."""
        return self._base.following(await self._redis.get(self._base.views_pointer()))

    async def aggregates(self, dims: Sequence[str] = DIMENSIONS) -> Aggregates:
        """Totals and the requested dimensions, merged over partitions (one round trip)."""
        keys = await self.active_keys()
        pipe = self._redis.pipeline(transaction=False)
        parts = list(keys.all_partitions())
        for p in parts:
            pipe.hgetall(keys.totals(p))
            for dim in dims:
                pipe.hgetall(keys.counts(p, dim))
                pipe.hgetall(keys.first_seen(p, dim))
        replies = iter(await pipe.execute())
        result = Aggregates()
        counts: dict[str, Counter[str]] = {dim: Counter() for dim in dims}
        first: dict[str, dict[str, tuple[int, int]]] = {dim: {} for dim in dims}
        for _p in parts:
            for k, v in next(replies).items():
                result.totals[text(k)] += counter(v)
            for dim in dims:
                for k, v in next(replies).items():
                    counts[dim][text(k)] += counter(v)
                seen = first[dim]
                for k, v in next(replies).items():
                    name, at = text(k), order(v)
                    if at < seen.get(name, NEVER):
                        seen[name] = at
        for dim in dims:
            seen = first[dim]
            ordered = sorted(counts[dim].items(), key=lambda kv: seen.get(kv[0], NEVER))
            result.dims[dim] = [(k, n) for k, n in ordered if n]
        return result

    async def activity(self) -> Activity:
        """Event-time span and monitoring gaps, merged over partitions (one round trip).

        With one partition the gap count is the number of activity clusters
        less one (``ZCARD``); with several, the clusters of every partition are
        read and merged (their number grows with quiet hours, not with events).
        """
        keys = await self.active_keys()
        parts = list(keys.all_partitions())
        pipe = self._redis.pipeline(transaction=False)
        for p in parts:
            pipe.hgetall(keys.span(p))
            if len(parts) == 1:
                pipe.zcard(keys.activity(p))
            else:
                pipe.zrange(keys.activity(p), 0, -1)
        replies = iter(await pipe.execute())
        firsts: list[int] = []
        lasts: list[int] = []
        clusters: list[tuple[int, int]] = []
        gaps = 0
        for _p in parts:
            span = {text(k): counter(v) for k, v in next(replies).items()}
            if "first_us" in span and "last_us" in span:
                firsts.append(span["first_us"])
                lasts.append(span["last_us"])
            reply = next(replies)
            if isinstance(reply, int):
                gaps = max(0, reply - 1)
            else:
                clusters += [parse_cluster(text(m)) for m in reply]
        if len(parts) > 1:
            gaps = gap_count(clusters)
        return Activity(min(firsts, default=None), max(lasts, default=None), gaps)

    async def recent(self, combo: Combo, *, offset: int, limit: int) -> AuditPage:
        """One page of the audit log, newest first (see :mod:`aegis_stream.views.auditlog`)."""
        return await recent(self._redis, await self.active_keys(), combo, offset=offset, limit=limit)

    async def profiles(self, *, maps: bool = True) -> list[AgentProfile]:
        """Every agent's profile, in the order agents first appeared (three round trips at most).

        ``maps=False`` leaves out the action type and target maps (what alerts do not need).
        """
        keys = await self.active_keys()
        agents = [agent for agent, _ in (await self.aggregates(("agent",))).dims["agent"]]
        # events without agent and agent "default" share a name, so their maps are merged by
        # first appearance: only they need it read
        shared = {NO_AGENT, "default"}
        merged = shared if shared.issubset(agents) else ()
        return await read_profiles(
            self._redis, keys, agents, maps=maps, with_firsts=merged, cache=self._maps_cache
        )

    async def timeline(self, period: Period, now_ms: int) -> list[tuple[int, dict[str, int]]]:
        """Non-empty buckets of ``period`` from the one holding ``now - lookback`` through now."""
        keys = await self.active_keys()
        starts = window_starts(now_ms, period)
        parts = list(keys.all_partitions())
        pipe = self._redis.pipeline(transaction=False)
        for p in parts:
            for start in starts:
                pipe.hgetall(keys.bucket(p, period.size_ms, start))
        replies = iter(await pipe.execute())
        merged: dict[int, Counter[str]] = {start: Counter() for start in starts}
        for _p in parts:
            for start in starts:
                for k, v in next(replies).items():
                    merged[start][text(k)] += counter(v)
        return [(start, dict(c)) for start, c in merged.items() if c.get("total", 0) > 0]

    async def pipeline_status(self, now_ms: int | None = None) -> list[PartitionStatus]:
        """Length, pending, lag, oldest pending age, checkpoint and counters of every partition.

        One pipelined round trip of four commands per partition (``XLEN``, the
        checkpoint ``HGETALL``, ``XINFO GROUPS``, the ``XPENDING`` summary),
        plus ``TIME`` when ``now_ms`` is not given (ages are then measured
        against the server's clock, the one that stamps stream ids). A
        missing stream or group gives zeros and ``None``, never an error;
        connection errors still raise.
        """
        keys = await self.active_keys()
        pipe = self._redis.pipeline(transaction=False)
        parts = list(keys.all_partitions())
        for p in parts:
            stream = keys.stream(p)
            pipe.xlen(stream)
            pipe.hgetall(keys.checkpoint(p))
            pipe.xinfo_groups(stream)
            pipe.xpending(stream, GROUP)
        if now_ms is None:
            pipe.time()
        replies = await pipe.execute(raise_on_error=False)
        if now_ms is None:  # TIME answers (seconds, microseconds); unreadable: ages unknown
            reply = replies[-1]
            if isinstance(reply, tuple | list) and len(reply) == 2:
                now_ms = int(reply[0]) * 1000 + int(reply[1]) // 1000
        out = []
        for i, p in enumerate(parts):
            length, checkpoint, groups, summary = replies[4 * i : 4 * i + 4]
            length = length if isinstance(length, int) else 0
            cp = {text(k): text(v) for k, v in checkpoint.items()} if isinstance(checkpoint, dict) else {}
            group: dict[Any, Any] = {}
            if isinstance(groups, list):
                group = next((g for g in groups if text(g.get("name", b"")) == GROUP), {})
            lag = group.get("lag")
            pending = int(group.get("pending", 0) or 0)
            oldest_age: int | None = None
            if isinstance(summary, dict):
                pending = int(summary.get("pending") or 0)
                oldest = summary.get("min")
                ms = order(oldest)[0] if pending and oldest is not None else NEVER[0]
                if now_ms is not None and ms != NEVER[0]:
                    oldest_age = max(0, now_ms - ms)  # a future id (clock skew) counts as 0
            out.append(
                PartitionStatus(
                    partition=p,
                    length=length,
                    pending=pending,
                    lag=int(lag) if lag is not None else (length if not group else None),
                    oldest_pending_age_ms=oldest_age,
                    checkpoint=cp.get("id"),
                    applied_events=counter(cp.get("events", 0)),
                    last_applied_ms=counter(cp["applied_ms"]) if "applied_ms" in cp else None,
                    dead_letters=counter(cp.get("dead", 0)),
                    late_events=counter(cp.get("late", 0)),
                    duplicates=counter(cp.get("duplicates", 0)),
                )
            )
        return out
