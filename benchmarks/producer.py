"""Producer throughput (Producer.emit / emit_many) beside raw XADD of the same payloads, one process.

    python -m benchmarks.producer [--events 50000] [--single 5000]

For batches of 1, 100 and 1,000 events, the blocking ``Producer`` validates,
encodes and appends them (``emit`` for one, ``emit_many`` otherwise: one
pipelined round trip per call). The baseline is the same events, encoded
beforehand, appended by the same process with plain ``XADD`` (batches of 1)
or one pipeline of ``XADD`` per batch: what Redis and the client library
cost without any validation or encoding. Two data sets: the routes
benchmark's small synthetic events and the bundled real tau-bench sample
(repeated; nested params and tool replies). Batches of 1 use ``--single``
events, the others ``--events``.

Uses REDIS_URL (default redis://127.0.0.1:6379/0) under throwaway key
prefixes that are deleted afterwards.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping, Sequence
from typing import Any

import redis

from aegis_stream.keys import Keys, partition_for
from aegis_stream.producer import Producer, prepare
from aegis_stream.wire import DEFAULT_MAX_BYTES, ENTRY_FIELD, encode
from benchmarks._common import delete_prefix, new_prefix, redis_url
from benchmarks._machine import describe
from benchmarks._report import Section
from benchmarks.projector import real_events
from benchmarks.routes import events as synthetic_events

BATCHES = (1, 100, 1000)
Event = Mapping[str, Any]


def encoded(events: Sequence[Event], keys: Keys) -> list[tuple[str, bytes]]:
    """(stream, payload) of each event, as the producer would append it."""
    now_us = time.time_ns() // 1000
    out = []
    for raw in events:
        event = prepare(raw, now_us=now_us)
        out.append(
            (keys.stream(partition_for(event.agent_id, keys.partitions)), encode(event, DEFAULT_MAX_BYTES))
        )
    return out


def producer_seconds(client: redis.Redis, keys: Keys, events: Sequence[Event], batch: int) -> float:
    """Seconds for ``Producer`` to append ``events`` in calls of ``batch`` (``emit`` for 1)."""
    producer = Producer(client, keys)
    start = time.perf_counter()
    if batch == 1:
        for event in events:
            producer.emit(event)
    else:
        for i in range(0, len(events), batch):
            producer.emit_many(events[i : i + batch])
    return time.perf_counter() - start


def raw_seconds(client: redis.Redis, entries: Sequence[tuple[str, bytes]], batch: int) -> float:
    """Seconds to XADD already encoded ``entries``: one by one for 1, else one pipeline per batch."""
    start = time.perf_counter()
    if batch == 1:
        for stream, payload in entries:
            client.xadd(stream, {ENTRY_FIELD: payload})
    else:
        for i in range(0, len(entries), batch):
            pipe = client.pipeline(transaction=False)
            for stream, payload in entries[i : i + batch]:
                pipe.xadd(stream, {ENTRY_FIELD: payload})
            pipe.execute()
    return time.perf_counter() - start


def measure(url: str, events: Sequence[Event], single: int) -> list[tuple[int, int, float, float]]:
    """Per batch size: (batch, events, producer events/s, raw XADD events/s)."""
    prefix = new_prefix("producer")
    ours, raw = Keys(prefix), Keys(f"{prefix}-raw")
    client = redis.Redis.from_url(url)
    try:
        client.ping()  # connect before timing
        entries = encoded(events, raw)
        rows = []
        for batch in BATCHES:
            n = min(single, len(events)) if batch == 1 else len(events)
            raw_s = raw_seconds(client, entries[:n], batch)
            ours_s = producer_seconds(client, ours, events[:n], batch)
            rows.append((batch, n, n / ours_s, n / raw_s))
            delete_prefix(url, prefix)  # keep the streams (and the server's memory) small
        return rows
    finally:
        client.close()
        delete_prefix(url, prefix)


def section(url: str, n: int, single: int) -> Section:
    """The report's producer table, for both data sets."""
    now_s = int(time.time())
    out = Section(
        "producer throughput (events/s)",
        ["data set", "batch", "events", "producer ev/s", "raw XADD ev/s", "producer/raw"],
        notes=[
            "Producer.emit for batches of 1, emit_many (one pipelined round trip) otherwise;",
            "raw: the same payloads encoded beforehand, plain XADD or one XADD pipeline per batch,",
            "same process, blocking redis-py client.",
        ],
    )
    for name, data in (
        ("synthetic small", list(synthetic_events(n, now_s * 1000))),
        ("real tau-bench sample", real_events(n, now_s)),
    ):
        for batch, count, ours, raw in measure(url, data, single):
            out.add(name, batch, count, round(ours), round(raw), ours / raw)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=50_000, help="events for batches of 100 and 1000")
    parser.add_argument("--single", type=int, default=5_000, help="events for batches of 1")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    url = redis_url()
    print(describe(url))
    print(section(url, args.events, args.single).render(args.markdown))


if __name__ == "__main__":
    main()
