"""Redis memory per retained event, for the bundled real tau-bench sample.

    python -m benchmarks.memory [--markdown]

Imports the sample (1,164 events) under a throwaway prefix of the Redis at
REDIS_URL (default 127.0.0.1:6379), projects it, and prints MEMORY USAGE of
the stream and of the views, per event. Deletes what it made.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import redis
import redis.asyncio as aredis

from aegis_stream.bundled import DEMO_SAMPLE, data_file
from aegis_stream.events import AuditEvent
from aegis_stream.importers import read_events
from aegis_stream.keys import Keys
from aegis_stream.producer import Producer
from aegis_stream.settings import Settings
from aegis_stream.signing import Signer
from aegis_stream.wire import encode, entry_fields
from aegis_stream.worker import Worker
from benchmarks._common import delete_prefix, new_prefix, redis_url
from benchmarks._report import Section


def measure(url: str) -> tuple[int, list[tuple[str, int]]]:
    """Events of the sample, and (what, bytes) for the stream, the audit log and the other views."""
    prefix = new_prefix("mem")
    keys = Keys(prefix)
    client = redis.Redis.from_url(url)
    try:
        now_us = time.time_ns() // 1000
        events = [
            e
            for e in read_events(data_file(DEMO_SAMPLE), now_us=now_us, spread_us=7 * 86_400_000_000)
            if isinstance(e, AuditEvent)
        ]
        Producer(client, keys).emit_many(events)
        signed_stream = f"{prefix}:signed-stream"  # the same entries, as a producer with a key writes them
        signer = Signer("memory-benchmark-signing-key-0000")
        pipe = client.pipeline(transaction=False)
        for event in events:
            pipe.xadd(signed_stream, entry_fields(encode(event), signer))
        pipe.execute()

        async def project() -> None:
            r = aredis.Redis.from_url(url)
            await Worker(r, Settings(redis_url=url, key_prefix=prefix, retention_ms=0)).run(burst=True)
            await r.aclose()

        asyncio.run(project())
        stream = int(client.memory_usage(keys.stream(0), samples=0) or 0)
        signed = int(client.memory_usage(signed_stream, samples=0) or 0)
        audit_names = {keys.audit_rows(0), keys.audit_seqs(0)}
        audit_index = keys.audit_index(0, ()).removesuffix("[]")  # the lists' common prefix
        audit = views = audit_keys = view_keys = 0
        for name in client.scan_iter(match=f"{prefix}:v1:*", count=1000):
            size = int(client.memory_usage(name, samples=0) or 0)
            if name.decode() in audit_names or name.decode().startswith(audit_index):
                audit, audit_keys = audit + size, audit_keys + 1
            else:
                views, view_keys = views + size, view_keys + 1
        return len(events), [
            ("stream (retained log)", stream),
            ("stream, signed entries (AEGIS_SIGNING_KEY)", signed),
            (f"audit log (rows, numbers, {audit_keys - 2} index lists)", audit),
            (f"other views ({view_keys} keys)", views),
        ]
    finally:
        client.close()
        delete_prefix(url, prefix)


def section(url: str) -> Section:
    """The report's memory table."""
    n, rows = measure(url)
    out = Section(
        "Redis memory per retained event (bundled real sample)",
        ["what", "bytes", "bytes/event"],
        notes=[f"{n:,} events of the real sample (7 days of timeline buckets), MEMORY USAGE of each key."],
    )
    for what, size in rows:
        out.add(what, size, round(size / n))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    print(section(redis_url()).render(args.markdown))


if __name__ == "__main__":
    main()
