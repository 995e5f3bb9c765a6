"""Every benchmark in one command, on the Redis at REDIS_URL, printed as one report.

    python -m benchmarks [--quick] [--markdown] [--sizes 10000,100000,1000000]
                         [--no-reference] [--ref-budget 30] [--sections producer,routes,...]

Sections, in order: producer throughput beside raw XADD; projector throughput
per process beside raw XREADGROUP+XACK; freshness (emit -> counted by
overview, a real worker process, 1k and 5k events/s); the latency of every
dashboard route in process (ASGI) and over HTTP through uvicorn, beside the
reference (agent-aegis 1.0.0, SQLite) on the same events; overview
requests/s under 50 concurrent HTTP clients; Redis memory per retained
event of the bundled real sample. The machine line comes first.

The report goes to stdout, one section as soon as it is measured; progress
goes to stderr. A full run takes several minutes (most of it loading a
million events, twice, and the reference's slow routes); ``--quick`` runs
everything at tiny sizes in well under a minute, to check that the
benchmarks work (its numbers mean little). Everything runs under throwaway
key prefixes, deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass, replace

from benchmarks import freshness, http_load, memory, producer, projector
from benchmarks._common import delete_prefix, new_prefix, pct, redis_url
from benchmarks._machine import describe
from benchmarks._report import Section
from benchmarks.routes import ROUTES, D, asgi_latencies, bench_reference, load_ours

SECTIONS = ("producer", "projector", "freshness", "routes", "memory")
STARTED = time.perf_counter()


@dataclass(frozen=True)
class Plan:
    """Sizes and counts of one run."""

    producer_events: int = 50_000
    producer_single: int = 5_000
    projector_events: int = 100_000
    fresh_rates: tuple[int, ...] = (1000, 5000)
    fresh_seconds: float = 10.0
    sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)
    asgi_requests: int = 1000  # p99 of 1,000 calls is the 10th slowest, not the 2nd of 200
    http_requests: int = 200
    http_clients: int = 10
    overview_clients: int = 50
    overview_seconds: float = 5.0
    ref_requests: int = 20
    ref_budget_s: float = 30.0


QUICK = Plan(
    producer_events=2_000,
    producer_single=300,
    projector_events=2_000,
    fresh_rates=(200, 500),
    fresh_seconds=1.0,
    sizes=(1_000, 2_000),
    asgi_requests=5,
    http_requests=20,
    overview_seconds=1.0,
    ref_requests=3,
    ref_budget_s=5.0,
)


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def ms(samples: list[float] | None, q: float) -> float | None:
    return pct(samples, q) if samples else None


def short(n: int) -> str:
    """10k, 100k, 1M."""
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else f"{n:,}"


def times(ratio: float) -> str:
    """A ratio with two significant digits or more: 0.31, 4.7, 83."""
    return f"{ratio:.2f}" if ratio < 1 else f"{ratio:.1f}" if ratio < 10 else f"{ratio:,.0f}"


def pair(samples: list[float] | None) -> str:
    return f"{pct(samples, 0.5):.2f} / {pct(samples, 0.99):.2f}" if samples else "-"


Latencies = dict[int, dict[str, list[float] | None]]


def wide(table: Section, sizes: tuple[int, ...], asgi: Latencies, http: Latencies, ref: Latencies) -> Section:
    """The routes table with one row per route and the sizes side by side (for the README)."""
    out = Section(
        table.title,
        [
            "route",
            *(f"ASGI p50 / p99, {short(n)}" for n in sizes),
            *(f"HTTP p50 / p99, {short(n)}" for n in sizes),
            *(f"ref p50 (ref/ours), {short(n)}" for n in sizes),
        ],
        notes=table.notes,
    )
    for path in ROUTES:
        refs = []
        for n in sizes:
            mine, theirs = asgi[n].get(path), ref.get(n, {}).get(path)
            ratio = f" ({times(pct(theirs, 0.5) / pct(mine, 0.5))}x)" if mine and theirs else ""
            refs.append(f"{pct(theirs, 0.5):.2f}{ratio}" if theirs else "-")
        asgi_cells = [pair(asgi[n].get(path)) for n in sizes]
        out.add(path.removeprefix(D), *asgi_cells, *(pair(http[n].get(path)) for n in sizes), *refs)
    return out


def routes_sections(url: str, plan: Plan, reference: bool, markdown: bool = False) -> list[Section]:
    """Every route in process and over HTTP at each size, the reference beside; overview requests/s."""
    now_ms = time.time_ns() // 1_000_000
    asgi: Latencies = {}
    served: dict[int, http_load.Served] = {}
    ref: Latencies = {}
    for n in plan.sizes:
        prefix = new_prefix("routes")
        try:
            progress(f"routes: loading and projecting {n:,} events")
            settings = load_ours(url, prefix, n, now_ms)
            progress(f"routes: {n:,} events, in process (ASGI)")
            asgi[n] = asyncio.run(asgi_latencies(settings, plan.asgi_requests))
            progress(f"routes: {n:,} events, over HTTP (uvicorn)")
            served[n] = http_load.measure(
                url,
                prefix,
                plan.http_requests,
                plan.http_clients,
                plan.overview_clients,
                plan.overview_seconds,
            )
        finally:
            delete_prefix(url, prefix)
        if reference:
            progress(f"routes: {n:,} events, the reference (up to {plan.ref_budget_s:g} s per route)")
            ref[n] = bench_reference(n, now_ms, plan.ref_requests, plan.ref_budget_s)
    table = Section(
        "dashboard routes (ms)",
        ["route", "events", "ASGI p50", "ASGI p99", "HTTP p50", "HTTP p99", "ref p50", "ref p99", "ref/ours"],
        notes=[
            f"ASGI: in process, sequential, {plan.asgi_requests} requests per route;",
            f"HTTP: `aegis-stream api` (one uvicorn process) driven by {plan.http_clients} concurrent",
            f"clients ({http_load.CLIENT}), {plan.http_requests} requests per route;",
            f"ref: agent-aegis 1.0.0 (SQLite) in process, sequential, up to {plan.ref_requests} requests",
            f"within {plan.ref_budget_s:g} s per route and size, '-' if not even one;",
            "ref/ours: ref p50 over ASGI p50.",
        ],
    )
    for path in ROUTES:
        for n in plan.sizes:
            mine, theirs = asgi[n].get(path), ref.get(n, {}).get(path)
            http = served[n].routes[path].latencies or None
            ratio = times(pct(theirs, 0.5) / pct(mine, 0.5)) if mine and theirs else None
            cells = (ms(mine, 0.5), ms(mine, 0.99), ms(http, 0.5), ms(http, 0.99), ms(theirs, 0.5))
            table.add(path.removeprefix(D), n, *cells, ms(theirs, 0.99), ratio)
    small, large = asgi[plan.sizes[0]], asgi[plan.sizes[-1]]
    growth = []
    for path in ROUTES:
        first, last = small.get(path), large.get(path)
        if first and last:
            growth.append(f"{path.removeprefix(D)} {pct(last, 0.99) / pct(first, 0.99):.2f}x")
    if len(plan.sizes) > 1:
        first_n, last_n = plan.sizes[0], plan.sizes[-1]
        table.notes.append(
            f"ASGI p99 at {last_n:,} events over p99 at {first_n:,}: " + ", ".join(growth) + "."
        )
    warning = next((s.warning() for s in served.values() if s.warning()), None)
    if warning:
        table.notes.append(warning)
    if markdown:
        over_http = {n: {p: got.latencies or None for p, got in s.routes.items()} for n, s in served.items()}
        table = wide(table, plan.sizes, asgi, over_http, ref)
    return [table, http_load.overview_section(served, plan.overview_clients)]


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run under a minute")
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    parser.add_argument("--sizes", help="log sizes for the routes, comma-separated (default 10k,100k,1M)")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference's routes")
    parser.add_argument("--ref-budget", type=float, help="seconds per reference route and size (default 30)")
    parser.add_argument("--sections", default=",".join(SECTIONS), help="which sections to run")
    args = parser.parse_args()
    plan = QUICK if args.quick else Plan()
    if args.sizes:
        plan = replace(plan, sizes=tuple(int(s) for s in args.sizes.split(",")))
    if args.ref_budget is not None:
        plan = replace(plan, ref_budget_s=args.ref_budget)
    chosen = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown sections {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    url = redis_url()
    mode = "quick (smoke run: tiny sizes, numbers not meaningful)" if args.quick else "full"
    print(describe(url) + f"; run: {mode}", flush=True)

    def show(section: Section) -> None:
        print("\n" + section.render(args.markdown), flush=True)

    if "producer" in chosen:
        progress("producer")
        show(producer.section(url, plan.producer_events, plan.producer_single))
    if "projector" in chosen:
        progress("projector")
        show(projector.section(url, plan.projector_events, batch=1000))
    if "freshness" in chosen:
        rates = ", ".join(f"{r:,}" for r in plan.fresh_rates)
        progress(f"freshness at {rates} events/s, {plan.fresh_seconds:g} s each")
        show(freshness.section(url, list(plan.fresh_rates), plan.fresh_seconds))
    if "routes" in chosen:
        for section in routes_sections(url, plan, not args.no_reference, args.markdown):
            show(section)
    if "memory" in chosen:
        progress("memory")
        show(memory.section(url))
    progress("done")


if __name__ == "__main__":
    main()
