"""The worker's heartbeat, and the verdict ``aegis-stream worker --check`` draws from it.

Each projector process keeps one small JSON record, ``<prefix>:workers:<consumer>``,
with a TTL: who it is (consumer, pid, host, start time), when it last beat,
and per partition whether it is active or standing by, how many events it
applied and, while the loop backs off, the error it backs off from. The
partition loops refresh it as they go round, at most every
:data:`BEAT_EVERY_MS`, in one pipelined round trip (never one per batch). A
loop that stops going round stops refreshing it, so the record goes stale.

The names of live records are kept in the sorted set ``<prefix>:workers``
(scored by expiry), so a checker finds them without scanning the keyspace.
A checker in the same container as the worker, but another process, cannot
know the worker's pid (the default consumer name is ``<host>-<pid>``): with
``AEGIS_CONSUMER`` set it reads that consumer's record, otherwise every live
record whose ``host`` is this host's name, and is satisfied by any healthy one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from aegis_stream.keys import Keys
from aegis_stream.settings import Settings
from aegis_stream.store import TRANSIENT_ERRORS, AsyncClient, async_client
from aegis_stream.streamids import text

log = logging.getLogger(__name__)
BEAT_EVERY_MS = 1000
STALE_PERIODS = 3  # a record is stale after this many of the longest pauses of a healthy loop
MAX_ERROR_CHARS = 200
MAX_WORKERS_READ = 1000  # records a checker reads when it looks for this host's workers
CHECK_TIMEOUT_S = 2.0  # a probe waits no longer than this for the store's answer
_STORE_ERRORS: tuple[type[BaseException], ...] = (*TRANSIENT_ERRORS, redis.RedisError)


def stale_after_ms(block_ms: int, lease_ms: int, max_backoff_ms: int) -> int:
    """How old a heartbeat may be: a few times the longest pause of a healthy loop.

    A loop pauses at most ``block_ms`` (a blocking read), ``lease_ms / 2`` (standing
    by) or ``max_backoff_ms`` (backing off) before it goes round and beats again.
    """
    return STALE_PERIODS * max(block_ms, lease_ms // 2, max_backoff_ms) + BEAT_EVERY_MS


@dataclass(slots=True)
class PartitionHealth:
    """What one partition loop reports: its role, its progress, the error it backs off from."""

    active: bool = False
    applied: int = 0
    error: str | None = None
    seen_ms: int = 0  # when the loop last went round

    def failed(self, exc: BaseException) -> None:
        """The loop is backing off from ``exc``."""
        self.active = False
        self.error = (f"{type(exc).__name__}: {exc}")[:MAX_ERROR_CHARS]


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of a check: healthy or not, and one line saying why."""

    healthy: bool
    message: str


@dataclass(slots=True)
class Heartbeat:
    """One worker process's health record: kept fresh by the partition loops, deleted on a clean stop."""

    redis: AsyncClient
    keys: Keys
    consumer: str
    pid: int
    host: str
    clock: Callable[[], int]
    stale_after_ms: int
    partitions: dict[int, PartitionHealth] = field(default_factory=dict)
    started_ms: int = 0
    _last_beat_ms: int | None = None
    _closed: bool = False

    def __post_init__(self) -> None:
        self.started_ms = self.clock()

    @property
    def record_ttl_ms(self) -> int:
        """How long a record outlives its heartbeat: past staleness, so a checker can say "stale"."""
        return 2 * self.stale_after_ms

    def record(self, now_ms: int) -> dict[str, Any]:
        """The record as stored (JSON-ready)."""
        return {
            "consumer": self.consumer,
            "pid": self.pid,
            "host": self.host,
            "started_ms": self.started_ms,
            "heartbeat_ms": now_ms,
            "stale_after_ms": self.stale_after_ms,
            "partitions": {
                str(p): {"active": h.active, "applied": h.applied, "error": h.error, "seen_ms": h.seen_ms}
                for p, h in sorted(self.partitions.items())
            },
        }

    async def maybe_beat(self) -> None:
        """Write the record if the last write is at least :data:`BEAT_EVERY_MS` old (never after clear)."""
        now = self.clock()
        if self._closed or (self._last_beat_ms is not None and now - self._last_beat_ms < BEAT_EVERY_MS):
            return
        self._last_beat_ms = now  # before awaiting: the other partition loops skip meanwhile
        await self.beat(now)

    async def beat(self, now_ms: int) -> None:
        """Write the record and its index entry in one round trip; a store error is only logged."""
        ttl = self.record_ttl_ms
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self.keys.worker_health(self.consumer), json.dumps(self.record(now_ms)), px=ttl)
        pipe.zadd(self.keys.worker_index(), {self.consumer: now_ms + ttl})
        pipe.zremrangebyscore(self.keys.worker_index(), "-inf", f"({now_ms}")
        try:
            await pipe.execute()
        except _STORE_ERRORS as e:
            log.debug("worker health not written: %s", e)

    async def clear(self) -> None:
        """Delete the record (a clean stop): a checker then says no worker runs."""
        self._closed = True
        with contextlib.suppress(*_STORE_ERRORS):
            pipe = self.redis.pipeline(transaction=False)
            pipe.delete(self.keys.worker_health(self.consumer))
            pipe.zrem(self.keys.worker_index(), self.consumer)
            await pipe.execute()


def decode(raw: bytes | str | None) -> dict[str, Any] | None:
    """A stored record as a mapping; None if absent. Raises ValueError if unreadable."""
    if raw is None:
        return None
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("the health record is not a JSON object")
    return value


def _seconds(ms: int) -> str:
    return f"{max(ms, 0) / 1000:.1f}s"


def verdict(record: Mapping[str, Any] | None, now_ms: int) -> Verdict:
    """Healthy or not, from one decoded record and the checker's clock; pure.

    Unhealthy: no record; a heartbeat older than the record's ``stale_after_ms``;
    a partition whose loop has not gone round for that long (stuck); or every
    partition backing off on an error.
    """
    if record is None:
        return Verdict(False, "no health record")
    try:
        name = str(record["consumer"])
        age = now_ms - int(record["heartbeat_ms"])
        limit = int(record["stale_after_ms"])
        parts = {int(p): dict(v) for p, v in dict(record["partitions"]).items()}
        seen = {p: now_ms - int(v["seen_ms"]) for p, v in parts.items()}
        errors = {p: v.get("error") for p, v in parts.items()}
        active = sum(1 for v in parts.values() if v.get("active"))
        applied = sum(int(v.get("applied", 0)) for v in parts.values())
    except (KeyError, TypeError, ValueError, AttributeError):
        return Verdict(False, "unreadable health record")
    if age > limit:
        return Verdict(
            False, f"worker {name}: last heartbeat {_seconds(age)} ago (stale after {_seconds(limit)})"
        )
    stuck = sorted(p for p, ms in seen.items() if ms > limit)
    if stuck:
        return Verdict(
            False,
            f"worker {name}: partition {stuck[0]} stuck, its loop last ran {_seconds(seen[stuck[0]])} ago",
        )
    if parts and all(errors.values()):
        first = min(parts)
        return Verdict(
            False,
            f"worker {name}: every partition is backing off on errors (partition {first}: {errors[first]})",
        )
    backing_off = sum(1 for e in errors.values() if e)
    return Verdict(
        True,
        f"worker {name} healthy: {active} active, {len(parts) - active - backing_off} standing by"
        + (f", {backing_off} backing off" if backing_off else "")
        + f", {applied} events applied, last heartbeat {_seconds(age)} ago",
    )


async def read_records(
    client: AsyncClient, keys: Keys, *, consumer: str | None, host: str
) -> list[dict[str, Any] | None]:
    """The records to judge: ``consumer``'s (None if missing), or every live one of ``host``.

    A record that cannot be decoded is returned as an empty mapping (judged unreadable).
    """
    index = keys.worker_index()
    names = [consumer] if consumer else [text(m) for m in await client.zrange(index, 0, MAX_WORKERS_READ - 1)]
    records = await fetch_records(client, keys, names)
    if consumer:
        return records
    return [r for r in records if r is not None and r.get("host", host) == host]


async def fetch_records(client: AsyncClient, keys: Keys, names: list[str]) -> list[dict[str, Any] | None]:
    """The records of the workers ``names``, in one round trip: None if missing, ``{}`` if unreadable."""
    if not names:
        return []
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.get(keys.worker_health(name))
    out: list[dict[str, Any] | None] = []
    for raw in await pipe.execute():
        try:
            out.append(decode(raw))
        except ValueError:
            out.append({})
    return out


def judge(records: list[dict[str, Any] | None], now_ms: int, *, who: str) -> Verdict:
    """One verdict over several records: healthy if any is; else every reason, joined."""
    if not records or records == [None]:
        return Verdict(False, f"no projector worker health record for {who}")
    verdicts = [verdict(r, now_ms) for r in records]
    for v in verdicts:
        if v.healthy:
            return v
    return Verdict(False, "; ".join(v.message for v in verdicts))


async def check(settings: Settings, *, host: str, clock: Callable[[], int]) -> Verdict:
    """Judge the records of ``AEGIS_CONSUMER``, or of ``host``; gives up after :data:`CHECK_TIMEOUT_S`."""
    assert settings.redis_url is not None
    keys = Keys(settings.key_prefix, settings.views_version, settings.partitions)
    consumer = settings.consumer
    client = async_client(settings.redis_url, cluster=settings.cluster)
    try:
        records = await asyncio.wait_for(
            read_records(client, keys, consumer=consumer, host=host), CHECK_TIMEOUT_S
        )
    except TimeoutError:
        return Verdict(False, f"the store did not answer within {CHECK_TIMEOUT_S:g}s")
    except _STORE_ERRORS as e:
        return Verdict(False, f"cannot read the store: {e}")
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.aclose(), CHECK_TIMEOUT_S / 2)
    who = f"consumer {consumer!r}" if consumer else f"host {host!r}"
    return judge(records, clock(), who=who)
