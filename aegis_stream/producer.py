"""The producer: a small client agents use to append audit events.

Events are validated before anything is sent (a bad event raises
:class:`InvalidEvent` and sends nothing). A missing timestamp is filled from
the injected clock; a missing decision is filled by the policy, if one is
given. ``emit_many`` sends one pipelined round trip per call. With a
``signer`` (the ``AEGIS_SIGNING_KEY`` the projectors hold), each entry
carries a tag saying it was validated here, so the projector need not walk
it again (see :mod:`aegis_stream.signing`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import redis
from redis.exceptions import RedisClusterException

from aegis_stream.classify import classify
from aegis_stream.clock import wall_clock_us
from aegis_stream.errors import InvalidEvent, StoreError
from aegis_stream.events import AuditEvent, parse_event, utc_datetime
from aegis_stream.keys import Keys, partition_for
from aegis_stream.policy import Policy
from aegis_stream.signing import Signer
from aegis_stream.store import AsyncClient, SyncClient
from aegis_stream.wire import DEFAULT_MAX_BYTES, encode, entry_fields

EventLike = Mapping[str, Any] | AuditEvent


def prepare(raw: EventLike, *, now_us: int, policy: Policy | None = None) -> AuditEvent:
    """Validate one event, filling a missing timestamp and (with a policy) a missing decision."""
    if isinstance(raw, AuditEvent):
        return raw
    if not isinstance(raw, Mapping):
        raise InvalidEvent(f"event: expected an object, got {type(raw).__name__}")
    fields = dict(raw)
    if fields.get("timestamp") is None:
        fields["timestamp"] = utc_datetime(now_us)
    if policy is not None:
        classify(fields, policy)
    return parse_event(fields)


class _Base:
    def __init__(
        self,
        keys: Keys,
        *,
        policy: Policy | None,
        max_bytes: int,
        clock: Callable[[], int],
        maxlen: int | None,
        max_future_skew_ms: int | None = None,
        signer: Signer | None = None,
    ) -> None:
        self.keys = keys
        self.signer = signer
        self.policy = policy
        self.max_bytes = max_bytes
        self.clock = clock
        self.maxlen = maxlen
        self.max_future_skew_ms = max_future_skew_ms

    def _encode(self, events: Iterable[EventLike]) -> list[tuple[str, dict[Any, Any]]]:
        now = self.clock()
        return [self._encode_one(raw, now) for raw in events]

    def _encode_one(self, raw: EventLike, now: int) -> tuple[str, dict[Any, Any]]:
        event = prepare(raw, now_us=now, policy=self.policy)
        skew = self.max_future_skew_ms
        if skew is not None and event.ts_us > now + skew * 1000:
            # the projector would dead-letter it (measured from the append): say so now
            raise InvalidEvent(f"timestamp: {event.timestamp} is more than {skew} ms ahead of now")
        stream = self.keys.stream(partition_for(event.agent_id, self.keys.partitions))
        return stream, entry_fields(encode(event, self.max_bytes), self.signer)


class Producer(_Base):
    """Blocking producer (for scripts, importers and synchronous agents)."""

    def __init__(
        self,
        client: SyncClient,
        keys: Keys,
        *,
        policy: Policy | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], int] = wall_clock_us,
        maxlen: int | None = None,
        signer: Signer | None = None,
    ) -> None:
        super().__init__(keys, policy=policy, max_bytes=max_bytes, clock=clock, maxlen=maxlen, signer=signer)
        self._client = client

    def emit(self, event: EventLike) -> str:
        """Validate and append one event; returns its stream id."""
        return self.emit_many([event])[0]

    def emit_many(self, events: Sequence[EventLike] | Iterable[EventLike]) -> list[str]:
        """Validate all events first, then append them in one pipelined round trip."""
        encoded = self._encode(events)
        if not encoded:
            return []
        pipe = self._client.pipeline(transaction=False)
        for stream, fields in encoded:
            pipe.xadd(stream, fields, maxlen=self.maxlen, approximate=True)
        try:
            ids = pipe.execute()
        except (redis.RedisError, RedisClusterException) as e:
            raise StoreError(f"could not append events: {e}") from e
        return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]


class AsyncProducer(_Base):
    """asyncio producer (for async agents and the HTTP ingest endpoint).

    With ``max_future_skew_ms``, an event dated further ahead of the clock is
    refused, as the projector would dead-letter it.
    """

    def __init__(
        self,
        client: AsyncClient,
        keys: Keys,
        *,
        policy: Policy | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], int] = wall_clock_us,
        maxlen: int | None = None,
        max_future_skew_ms: int | None = None,
        signer: Signer | None = None,
    ) -> None:
        super().__init__(
            keys,
            policy=policy,
            max_bytes=max_bytes,
            clock=clock,
            maxlen=maxlen,
            max_future_skew_ms=max_future_skew_ms,
            signer=signer,
        )
        self._client = client

    async def emit(self, event: EventLike) -> str:
        """Validate and append one event; returns its stream id."""
        return (await self.emit_many([event]))[0]

    async def emit_many(self, events: Sequence[EventLike] | Iterable[EventLike]) -> list[str]:
        """Validate all events first, then append them in one pipelined round trip."""
        return await self._append(self._encode(events))

    async def emit_each(self, events: Iterable[Any]) -> list[str | InvalidEvent]:
        """Append the valid ones of ``events`` (one round trip); per event, its stream id or why not."""
        now = self.clock()
        refusals: list[InvalidEvent | None] = []
        valid: list[tuple[str, dict[Any, Any]]] = []
        for raw in events:
            try:
                valid.append(self._encode_one(raw, now))
                refusals.append(None)
            except InvalidEvent as e:
                refusals.append(e)
        ids = iter(await self._append(valid))
        return [next(ids) if refused is None else refused for refused in refusals]

    async def _append(self, encoded: list[tuple[str, dict[Any, Any]]]) -> list[str]:
        if not encoded:
            return []
        pipe = self._client.pipeline(transaction=False)
        for stream, fields in encoded:
            pipe.xadd(stream, fields, maxlen=self.maxlen, approximate=True)
        try:
            ids = await pipe.execute()
        except (redis.RedisError, RedisClusterException) as e:
            raise StoreError(f"could not append events: {e}") from e
        return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]
