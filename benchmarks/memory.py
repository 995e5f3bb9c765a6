"""Redis memory per retained event, for the bundled real tau-bench sample.

    python -m benchmarks.memory

Imports the sample (1,164 events) under a throwaway prefix of the Redis at
REDIS_URL (default 127.0.0.1:6379), projects it, and prints MEMORY USAGE of
the stream and of the views, per event. Deletes what it made.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import redis
import redis.asyncio as aredis

from aegis_stream.bundled import DEMO_SAMPLE, data_file
from aegis_stream.events import AuditEvent
from aegis_stream.importers import read_events
from aegis_stream.keys import Keys
from aegis_stream.producer import Producer
from aegis_stream.settings import Settings
from aegis_stream.worker import Worker


def main() -> None:
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"bench-mem-{uuid.uuid4().hex[:8]}"
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

        async def project() -> None:
            r = aredis.Redis.from_url(url)
            await Worker(r, Settings(redis_url=url, key_prefix=prefix, retention_ms=0)).run(burst=True)
            await r.aclose()

        asyncio.run(project())
        stream = int(client.memory_usage(keys.stream(0), samples=0) or 0)
        audit_names = {keys.audit_rows(0), keys.audit_seqs(0)}
        audit_index = keys.audit_index(0, ()).removesuffix("[]")  # the lists' common prefix
        audit = views = audit_keys = view_keys = 0
        for name in client.scan_iter(match=f"{prefix}:v1:*", count=1000):
            size = int(client.memory_usage(name, samples=0) or 0)
            if name.decode() in audit_names or name.decode().startswith(audit_index):
                audit, audit_keys = audit + size, audit_keys + 1
            else:
                views, view_keys = views + size, view_keys + 1
        n = len(events)
        print(f"{n:,} events of the real sample (7 days of timeline buckets)")
        print(f"{'what':<44} {'bytes':>10} {'bytes/event':>12}")
        print(f"{'stream (retained log)':<44} {stream:>10,} {stream / n:>12,.0f}")
        label = f"audit log (rows, numbers, {audit_keys - 2} index lists)"
        print(f"{label:<44} {audit:>10,} {audit / n:>12,.0f}")
        print(f"{'other views (' + str(view_keys) + ' keys)':<44} {views:>10,} {views / n:>12,.0f}")
    finally:
        names = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if names:
            client.delete(*names)
        client.close()


if __name__ == "__main__":
    main()
