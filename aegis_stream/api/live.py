"""The live hub: one shared reader per API process, fanned out to bounded per-client queues.

The hub starts with its first subscriber and stops when the last one leaves
(and in the lifespan). While it runs, one task per partition follows the
partition's event stream (``XREAD BLOCK`` from the newest entry at start)
and one task polls the views' progress (the views version and every
partition's checkpoint). Every message goes to each subscriber's bounded
queue without waiting: a subscriber whose queue is full is dropped (its
stream is closed and the browser reconnects by itself); the hub and the
other subscribers go on.

Work stays bounded whatever the event rate: a read takes at most
``READ_COUNT`` entries, a fuller burst skips to the newest ones (the message
says ``truncated``), and a partition sends at most one message per
``MIN_INTERVAL_S``. Events are decoded as the audit log decodes them, so
secret-looking params arrive redacted.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import redis

from aegis_stream.errors import InvalidEvent
from aegis_stream.keys import Keys
from aegis_stream.store import TRANSIENT_ERRORS, AsyncClient
from aegis_stream.views import ViewReader
from aegis_stream.views.auditlog import entry_row
from aegis_stream.views.values import order
from aegis_stream.wire import decode_entry

log = logging.getLogger(__name__)

QUEUE_SIZE = 64  # messages a client may fall behind before it is dropped
READ_COUNT = 50  # entries per read; a fuller burst skips to the newest this many
MIN_INTERVAL_S = 0.1  # at most ten event messages a second per partition
PROGRESS_S = 0.5  # how often the views' progress is polled
RETRY_S = 1.0  # pause after a store error
MAX_BLOCK_MS = 1000  # longest blocking read; a stopped reader leaves within it
LINGER_S = 2.0  # how long the reader outlives its last client
STOP_WAIT_S = 2.0  # how long stopping the reader waits for its tasks before leaving them to end alone
STORE_ERRORS: tuple[type[BaseException], ...] = (*TRANSIENT_ERRORS, redis.RedisError)


@dataclass(frozen=True, slots=True)
class Message:
    """One Server-Sent Event: its type and its JSON data."""

    event: str
    data: dict[str, Any]

    def encode(self) -> bytes:
        """The event on the wire (JSON never holds a raw newline, so one ``data:`` line)."""
        text = json.dumps(self.data, separators=(",", ":"), default=str)
        return f"event: {self.event}\ndata: {text}\n\n".encode()


@dataclass(eq=False, slots=True)
class Subscriber:
    """One client's bounded queue; ``None`` on it means "the stream ends"."""

    queue: asyncio.Queue[Message | None]
    dropped: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, message: Message) -> bool:
        """Queue ``message`` without waiting; False when the queue is full."""
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            return False
        return True

    def end(self) -> None:
        """End the stream: forget what is queued, queue the end marker, and mark it dropped."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)
        self.dropped.set()


def event_row(entry_id: bytes | str, fields: dict[bytes, bytes], p: int, max_bytes: int) -> dict[str, Any]:
    """One stream entry as an audit-log row (no ``id`` yet: the projector numbers it), or ``{}``."""
    try:
        event = decode_entry(fields, max_bytes)  # validates and redacts, as the audit log's rows are
    except InvalidEvent:
        return {}  # it will be dead-lettered; nothing to show
    row = entry_row(0, event)
    del row["id"]
    sid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return {"stream_id": sid, "partition": p, **row}


def _entries(reply: Any) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """The entries of a one-stream ``XREAD`` reply, RESP2 (list) or RESP3 (map)."""
    if not reply:
        return []
    streams = reply.values() if isinstance(reply, dict) else [pair[1] for pair in reply]
    return [(entry[0], entry[1]) for entries in streams for entry in entries]


class LiveHub:
    """The shared reader of one API process and its subscribers."""

    def __init__(
        self,
        redis: AsyncClient,
        keys: Keys,
        *,
        block_ms: int,
        max_bytes: int,
        audit_log: bool = True,
        queue_size: int = QUEUE_SIZE,
        linger_s: float = LINGER_S,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._reader = ViewReader(redis, keys)
        self._block_ms = block_ms
        self._max_bytes = max_bytes
        self._audit_log = audit_log
        self._queue_size = queue_size
        self._subscribers: set[Subscriber] = set()
        self._tasks: list[asyncio.Task[None]] = []
        # Each start of the reader is a generation; a task of an earlier one publishes nothing
        # and leaves at its next turn, even if its cancellation was lost inside a blocking read.
        self._generation = 0
        self._linger_s = linger_s
        self._linger: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.closed = False

    @property
    def subscribers(self) -> int:
        """How many clients are subscribed."""
        return len(self._subscribers)

    @property
    def running(self) -> bool:
        """Whether the shared reader is running."""
        return bool(self._tasks)

    async def subscribe(self) -> Subscriber:
        """A new subscriber; the reader is running and positioned when this returns.

        Raises a store error when the reader cannot start (the endpoint answers 503).
        """
        async with self._lock:
            if self.closed:
                raise ConnectionError("the API is shutting down")
            if not self._tasks:
                await self._start()
            sub = Subscriber(asyncio.Queue(self._queue_size))
            self._subscribers.add(sub)
            return sub

    async def unsubscribe(self, sub: Subscriber) -> None:
        """Forget ``sub``; once the last one has gone for :data:`LINGER_S`, the reader stops.

        The wait lets reconnecting pages (and clients that come and go) share
        one reader instead of starting one each.
        """
        self._subscribers.discard(sub)
        if not self._subscribers and (self._linger is None or self._linger.done()):
            self._linger = asyncio.create_task(self._stop_when_idle())

    async def _stop_when_idle(self) -> None:
        while True:
            await asyncio.sleep(self._linger_s)
            async with self._lock:
                if self._subscribers or not self._tasks:
                    return
                tasks = self._detach()
            await _settle(tasks)  # outside the lock: a new subscriber starts a new reader meanwhile
            return

    def publish(self, message: Message) -> None:
        """Offer ``message`` to every subscriber; drop those whose queue is full."""
        for sub in list(self._subscribers):
            if not sub.offer(message):
                log.info("live stream: dropped a client %d messages behind", self._queue_size)
                self._subscribers.discard(sub)
                sub.end()

    def end_streams(self) -> None:
        """End every subscriber's stream and refuse new ones (the server is shutting down)."""
        self.closed = True
        for sub in list(self._subscribers):
            sub.end()

    async def close(self) -> None:
        """End every stream and stop the reader."""
        self.end_streams()
        if self._linger is not None:
            self._linger.cancel()  # only ever waits in a sleep or on the lock
        async with self._lock:
            tasks = self._detach()
        await _settle(tasks)

    # -- the reader ----------------------------------------------------------
    async def _start(self) -> None:
        """Position on each partition's newest entry and the views' progress, then start the tasks."""
        parts = list(self._keys.all_partitions())
        pipe = self._redis.pipeline(transaction=False)
        for p in parts:
            pipe.xrevrange(self._keys.stream(p), "+", "-", count=1)
        newest = await pipe.execute()
        progress = await self._progress()
        gen = self._generation
        tasks: list[Coroutine[Any, Any, None]] = [
            self._follow(p, found[0][0] if found else b"0-0", gen)
            for p, found in zip(parts, newest, strict=True)
        ]
        tasks.append(self._watch_views(progress, gen))
        self._tasks = [asyncio.create_task(t) for t in tasks]

    def _detach(self) -> list[asyncio.Task[None]]:
        """End the current generation and hand its tasks over to be settled.

        They are not cancelled: a cancellation that lands inside a blocking
        read can leave the client's connection waiting for a reply that never
        comes (the client retries the read). They leave by themselves at their
        next turn, within one blocking read (at most a second).
        """
        self._generation += 1
        tasks, self._tasks = self._tasks, []
        return tasks

    async def _follow(self, p: int, last: bytes | str, gen: int) -> None:
        """Publish the partition's new entries (``events``) as they are appended."""
        while gen == self._generation:
            try:
                last = await self._forward(p, last, gen)
            except STORE_ERRORS as e:
                log.warning("live stream: cannot read partition %d: %s", p, e)
                await asyncio.sleep(RETRY_S)
            except Exception:  # never die quietly: every dashboard would stop updating
                log.exception("live stream: reading partition %d failed", p)
                await asyncio.sleep(RETRY_S)

    async def _forward(self, p: int, last: bytes | str, gen: int) -> bytes | str:
        """Wait for entries after ``last``, publish them, and return the new position."""
        stream = self._keys.stream(p)
        block = min(self._block_ms, MAX_BLOCK_MS)  # bounds how long stopping the reader takes
        found = _entries(await self._redis.xread({stream: last}, count=READ_COUNT, block=block))
        if not found:
            return last
        truncated = len(found) >= READ_COUNT
        if truncated:  # a burst: show the newest, skip the rest
            newest: Any = await self._redis.xrevrange(stream, "+", "-", count=READ_COUNT)
            found = [(i, f) for i, f in reversed(newest) if order(i) > order(last)] or found
        if gen != self._generation:  # stopped while reading
            return last
        rows = [event_row(i, f, p, self._max_bytes) for i, f in found] if self._audit_log else []
        shown = [r for r in rows if r]
        self.publish(
            Message("events", {"partition": p, "count": len(found), "truncated": truncated, "events": shown})
        )
        await asyncio.sleep(MIN_INTERVAL_S)
        return found[-1][0]

    async def _progress(self) -> tuple[int, tuple[Any, ...]]:
        """The views version in use and every partition's checkpoint (one small round trip)."""
        keys = await self._reader.active_keys()
        pipe = self._redis.pipeline(transaction=False)
        for p in keys.all_partitions():
            pipe.hget(keys.checkpoint(p), "id")
        return keys.version, tuple(await pipe.execute())

    async def _watch_views(self, seen: tuple[int, tuple[Any, ...]], gen: int) -> None:
        """Publish ``views`` whenever the projector has applied something (or a rebuild switched)."""
        while gen == self._generation:
            await asyncio.sleep(PROGRESS_S)
            try:
                now = await self._progress()
            except STORE_ERRORS as e:
                log.warning("live stream: cannot read the views' progress: %s", e)
                await asyncio.sleep(RETRY_S)
                continue
            except Exception:  # e.g. a corrupted views pointer: keep the events flowing
                log.exception("live stream: reading the views' progress failed")
                await asyncio.sleep(RETRY_S)
                continue
            if now != seen and gen == self._generation:
                seen = now
                version, checkpoints = now
                applied = [c.decode() if isinstance(c, bytes) else c for c in checkpoints]
                self.publish(Message("views", {"version": version, "checkpoints": applied}))


async def _settle(tasks: list[asyncio.Task[None]]) -> None:
    """Wait (bounded) for cancelled reader tasks to end.

    A task of an ended generation leaves at its next turn; stopping waits for
    that at most :data:`STOP_WAIT_S`, so it never hangs.
    """
    if not tasks:
        return
    _done, pending = await asyncio.wait(tasks, timeout=STOP_WAIT_S)
    for task in pending:  # should not happen (reads block at most a second): give up on them
        task.cancel()
    if pending:
        log.warning("live stream: %d reader tasks did not end in time; cancelled", len(pending))
