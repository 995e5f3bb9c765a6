"""Rebuild: replay the retained log into a new views version, then switch to it atomically.

The live projector keeps writing the current version meanwhile. The new
version is built by reading each partition's stream directly (``XRANGE``, no
consumer group), through the same preparation and the same fenced apply
script, so the rebuilt views are what the live projector would have made of
the retained log. When every partition has caught up with the head of its
stream, one ``SET`` of the version pointer switches readers; projectors see
the switch, rewind the group to the new version's checkpoint, and go on.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aegis_stream.apply import Writer
from aegis_stream.errors import AegisError
from aegis_stream.keys import Keys
from aegis_stream.layout import check_partitions
from aegis_stream.settings import Settings
from aegis_stream.store import AsyncClient
from aegis_stream.streamids import text
from aegis_stream.worker.lease import Lease

log = logging.getLogger(__name__)
MAX_VERSION = 1_000_000  # as AEGIS_VIEWS_VERSION
LOCK_MS = 60_000  # renewed after every batch; a crashed rebuild frees it this long after


class RebuildRefused(AegisError):
    """A rebuild cannot run: a bad version, another rebuild running, or its lock lost."""


@dataclass(frozen=True, slots=True)
class RebuildResult:
    """What a rebuild did."""

    previous_version: int
    version: int
    events: int
    entries: int


async def current_version(redis: AsyncClient, keys: Keys) -> int:
    """The views version in use."""
    return keys.following(await redis.get(keys.views_pointer())).version


async def _clear(redis: AsyncClient, keys: Keys) -> None:
    """Delete whatever an earlier, interrupted rebuild left in ``keys``' namespace."""
    for p in keys.all_partitions():
        pattern = f"{keys.prefix}:v{keys.version}:{{p{p}}}:*"
        batch: list[Any] = []
        async for name in redis.scan_iter(match=pattern, count=1000):
            batch.append(name)
            if len(batch) >= 500:
                await redis.delete(*batch)
                batch.clear()
        if batch:
            await redis.delete(*batch)


async def _replay_partition(
    redis: AsyncClient, keys: Keys, p: int, settings: Settings, *, clock_ms: Callable[[], int], lock: Lease
) -> tuple[int, int]:
    """Apply every entry of partition ``p`` after the new version's checkpoint; (events, entries)."""
    writer = Writer(redis, keys, settings)
    events = entries_seen = 0
    while True:
        if not await lock.acquire():
            raise RebuildRefused("another rebuild took over the rebuild lock; this one stopped")
        checkpoint = text(await redis.hget(keys.checkpoint(p), "id") or b"")
        start = f"({checkpoint}" if checkpoint else "-"
        raw: Any = await redis.xrange(keys.stream(p), min=start, max="+", count=settings.batch_size)
        if not raw:
            return events, entries_seen
        entries = [(text(i), f) for i, f in raw]
        now = clock_ms()
        batch = await writer.prepare(p, entries)
        result = await writer.apply(
            p,
            token="",  # no lease: the rebuild is the only writer of its new namespace
            first_id=entries[0][0],
            last_id=entries[-1][0],
            ack_ids=[],  # nothing to acknowledge: the rebuild reads without a group
            batch=batch,
            now_ms=now,
            write_dead_letters=False,
        )
        if result.status != "ok":
            raise RebuildRefused(
                f"rebuild of partition {p} was fenced ({result.status} at {result.checkpoint}): "
                "something else wrote into the new views version; nothing was switched"
            )
        events += batch.delta.events
        entries_seen += len(entries)


async def rebuild(
    redis: AsyncClient, settings: Settings, *, clock_ms: Callable[[], int], target: int | None = None
) -> RebuildResult:
    """Replay the retained log into a fresh views version and make it current."""
    base = Keys(settings.key_prefix, settings.views_version, settings.partitions)
    await check_partitions(redis, base)
    # One rebuild at a time: two replaying into the same new version would fence each
    # other half-way and leave it short.
    lock = Lease(redis, base.rebuild_lock(), secrets.token_hex(8), LOCK_MS)
    if not await lock.acquire():
        raise RebuildRefused("another rebuild is running; wait for it to finish")
    try:
        return await _rebuild_locked(redis, base, settings, clock_ms=clock_ms, target=target, lock=lock)
    finally:
        await lock.release()


async def _rebuild_locked(
    redis: AsyncClient,
    base: Keys,
    settings: Settings,
    *,
    clock_ms: Callable[[], int],
    target: int | None,
    lock: Lease,
) -> RebuildResult:
    previous = await current_version(redis, base)
    version = target if target is not None else previous + 1
    if not 1 <= version <= MAX_VERSION:
        raise RebuildRefused(f"views version must be between 1 and {MAX_VERSION}, got {version}")
    if version == previous:
        raise RebuildRefused(f"views version {version} is the one in use; rebuild into another")
    keys = base.at_version(version)
    await _clear(redis, keys)
    events = entries = 0
    # The second pass catches up with what arrived during the first; then the switch:
    # readers follow the pointer at their next request, projectors at their next batch.
    for catching_up in (False, True):
        for p in keys.all_partitions():
            got_events, got_entries = await _replay_partition(
                redis, keys, p, settings, clock_ms=clock_ms, lock=lock
            )
            events += got_events
            entries += got_entries
            if not catching_up:
                log.info("rebuild: partition %d replayed (%d entries)", p, got_entries)
    if not await lock.acquire():
        raise RebuildRefused("another rebuild took over the rebuild lock; nothing was switched")
    await redis.set(base.views_pointer(), str(version))
    return RebuildResult(previous_version=previous, version=version, events=events, entries=entries)
