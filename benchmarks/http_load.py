"""Dashboard routes over HTTP through uvicorn, with concurrent clients, and overview requests/s.

    python -m benchmarks.http_load [--events 10000] [--requests 200] [--clients 10]
                                   [--overview-clients 50] [--overview-seconds 5]

Loads the routes benchmark's synthetic events under a throwaway prefix of the
Redis at REDIS_URL (default 127.0.0.1:6379), starts ``aegis-stream api`` (one
uvicorn process, its defaults) on a free 127.0.0.1 port and drives it from
this process with a minimal asyncio HTTP/1.1 client: ``--clients``
keep-alive connections, each sending its next request when the previous
one is answered. Latency is measured by the client, so it includes waiting
behind the other clients' requests. The client's own CPU time is reported:
near 100 % of a core, the client (not the server) is the bottleneck. When
``wrk`` is on PATH it also measures overview requests/s, as a cross-check.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field

from benchmarks._common import delete_prefix, new_prefix, pct, redis_url, start_api, stop
from benchmarks._machine import describe
from benchmarks._report import Section
from benchmarks.routes import POLICY, ROUTES, D, load_ours

HOST = "127.0.0.1"
CLIENT = "python asyncio, raw HTTP/1.1 keep-alive"


class Connection:
    """One keep-alive HTTP/1.1 connection that sends GETs and reads Content-Length bodies."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int) -> None:
        self._reader, self._writer, self._host = reader, writer, f"{HOST}:{port}".encode()

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(HOST, port)
        return cls(reader, writer, port)

    async def get(self, path: str) -> tuple[int, bytes]:
        """Status and body of ``GET path``."""
        self._writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + self._host + b"\r\n\r\n")
        await self._writer.drain()
        head = await self._reader.readuntil(b"\r\n\r\n")
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise RuntimeError(f"{path}: a response without Content-Length")
        return int(head[9:12]), await self._reader.readexactly(length)

    async def close(self) -> None:
        self._writer.close()
        await self._writer.wait_closed()


@dataclass
class Load:
    """What one load run measured."""

    latencies: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    cpu_s: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall_s if self.wall_s else 0.0

    @property
    def client_cpu(self) -> float:
        """The client's CPU time over wall time (1.0 = one core busy)."""
        return self.cpu_s / self.wall_s if self.wall_s else 0.0


async def load(port: int, path: str, clients: int, requests: int, budget_s: float) -> Load:
    """``requests`` GETs of ``path`` from ``clients`` connections, none started after ``budget_s``."""
    conns = [await Connection.open(port) for _ in range(clients)]
    for conn in conns:  # warm up each connection (and the route)
        await conn.get(path)
    out = Load()
    remaining = requests
    deadline = time.perf_counter() + budget_s

    async def client(conn: Connection) -> None:
        nonlocal remaining
        while remaining > 0 and time.perf_counter() < deadline:
            remaining -= 1
            start = time.perf_counter()
            status, _ = await conn.get(path)
            out.latencies.append(time.perf_counter() - start)
            if status != 200:
                raise RuntimeError(f"{path} answered {status}")

    cpu, start = time.process_time(), time.perf_counter()
    try:
        await asyncio.gather(*(client(c) for c in conns))
    finally:
        out.wall_s, out.cpu_s = time.perf_counter() - start, time.process_time() - cpu
        for conn in conns:
            await conn.close()
    return out


def wrk(port: int, path: str, clients: int, seconds: float) -> tuple[float, float, float] | None:
    """(requests/s, p50 ms, p99 ms) from ``wrk -t1``, or None when wrk is not installed."""
    if shutil.which("wrk") is None:
        return None
    args = ["wrk", "-t1", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--latency"]
    out = subprocess.run([*args, f"http://{HOST}:{port}{path}"], capture_output=True, text=True, check=True)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}

    def latency(q: str) -> float:
        match = re.search(rf"^\s*{q}%\s+([\d.]+)(us|ms|s)\s*$", out.stdout, re.M)
        return float(match.group(1)) * scale[match.group(2)] if match else float("nan")

    rate = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    return (float(rate.group(1)) if rate else float("nan")), latency("50"), latency("99")


async def keepalive_ms(port: int, path: str = "/api/v1/badge/score") -> float:
    """Median ms of sequential GETs of a trivial route on one connection, after the first.

    Far above a millisecond (about 40) means each response after the first
    on a connection waits for the client's delayed ACK: the server's socket
    lacks TCP_NODELAY (Nagle's algorithm holds the body behind the headers).
    """
    conn = await Connection.open(port)
    try:
        await conn.get(path)
        times = []
        for _ in range(5):
            start = time.perf_counter()
            await conn.get(path)
            times.append(time.perf_counter() - start)
    finally:
        await conn.close()
    return pct(times, 0.5)


@dataclass
class Served:
    """Every route's latencies over HTTP, and overview under many clients."""

    routes: dict[str, Load]
    overview: Load
    wrk: tuple[float, float, float] | None
    keepalive_ms: float

    def warning(self) -> str | None:
        """What to say when keep-alive responses were delayed (see :func:`keepalive_ms`)."""
        if self.keepalive_ms < 20:
            return None
        return (
            f"WARNING: a trivial request on a kept-alive connection took {self.keepalive_ms:.0f} ms: "
            "the server's responses wait for delayed ACKs (its socket lacks TCP_NODELAY), "
            "which dominates these HTTP numbers."
        )


def measure(
    url: str, prefix: str, requests: int, clients: int, overview_clients: int, overview_s: float
) -> Served:
    """Start the API on the events under ``prefix``, time every route, then overview's requests/s."""
    proc, port = start_api(url, prefix, policy=str(POLICY))
    try:

        async def run() -> tuple[dict[str, Load], Load, float]:
            keepalive = await keepalive_ms(port)
            routes = {path: await load(port, path, clients, requests, budget_s=60) for path in ROUTES}
            overview = await load(port, ROUTES[0], overview_clients, 10**9, budget_s=overview_s)
            return routes, overview, keepalive

        routes, overview, keepalive = asyncio.run(run())
        return Served(routes, overview, wrk(port, ROUTES[0], overview_clients, overview_s), keepalive)
    finally:
        stop(proc)


def overview_section(results: dict[int, Served], clients: int) -> Section:
    """requests/s of overview under ``clients`` concurrent clients, per log size."""
    out = Section(
        f"overview under {clients} concurrent HTTP clients",
        ["client", "events", "requests", "req/s", "p50 ms", "p99 ms", "client CPU %"],
        notes=["aegis-stream api: one uvicorn process, default settings; client CPU % of one core."],
    )
    warning = next((s.warning() for s in results.values() if s.warning()), None)
    if warning:
        out.notes.append(warning)
    for n, served in results.items():
        o = served.overview
        out.add(
            "python asyncio",
            n,
            len(o.latencies),
            o.rate,
            pct(o.latencies, 0.5),
            pct(o.latencies, 0.99),
            100 * o.client_cpu,
            digits=1,
        )
        if served.wrk:
            out.add("wrk -t1", n, None, *served.wrk, None, digits=1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200, help="per route")
    parser.add_argument("--clients", type=int, default=10, help="concurrent clients per route")
    parser.add_argument("--overview-clients", type=int, default=50)
    parser.add_argument("--overview-seconds", type=float, default=5.0)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    url, prefix = redis_url(), new_prefix("http")
    try:
        load_ours(url, prefix, args.events, time.time_ns() // 1_000_000)
        served = measure(
            url, prefix, args.requests, args.clients, args.overview_clients, args.overview_seconds
        )
    finally:
        delete_prefix(url, prefix)
    print(describe(url) + f"; client: {CLIENT}")
    routes = Section(
        f"dashboard routes over HTTP, {args.clients} concurrent clients, {args.events:,} events (ms)",
        ["route", "requests", "p50", "p99", "req/s"],
    )
    for path in ROUTES:
        got = served.routes[path]
        routes.add(
            path.removeprefix(D),
            len(got.latencies),
            pct(got.latencies, 0.5),
            pct(got.latencies, 0.99),
            got.rate,
        )
    print(routes.render(args.markdown))
    print()
    print(overview_section({args.events: served}, args.overview_clients).render(args.markdown))


if __name__ == "__main__":
    main()
