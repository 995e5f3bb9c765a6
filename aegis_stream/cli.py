"""The ``aegis-stream`` command line: up, worker, api, import, status."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import sys
from collections.abc import Coroutine, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, TextIO, TypeVar

import redis
from redis.exceptions import RedisClusterException

from aegis_stream import __version__, logs
from aegis_stream.bundled import resolve_policy
from aegis_stream.clock import wall_clock_ms
from aegis_stream.errors import AegisError, ConfigError, PolicyError
from aegis_stream.keys import Keys
from aegis_stream.layout import check_partitions
from aegis_stream.rebuild import RebuildRefused, RebuildResult, rebuild
from aegis_stream.runtime import (
    ListenError,
    import_events,
    listen_socket,
    run_api,
    run_up,
    run_worker,
    store,
)
from aegis_stream.settings import Settings
from aegis_stream.store import async_client
from aegis_stream.views import PartitionStatus, ViewReader
from aegis_stream.worker import health

MAX_WINDOW_US = 3650 * 86_400_000_000  # 10 years: a spread never reaches before 1970
T = TypeVar("T")
_UNITS_US = {"s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000}


def parse_window(text: str) -> int:
    """``90s``, ``15m``, ``24h`` or ``7d`` as microseconds."""
    match = re.fullmatch(r"\s*(\d{1,12})\s*([smhd])\s*", text)
    if not match or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"expected a duration such as 90s, 15m, 24h or 7d, got {text!r}")
    window = int(match.group(1)) * _UNITS_US[match.group(2)]
    if window > MAX_WINDOW_US:
        raise argparse.ArgumentTypeError(f"duration too long (at most 3650d), got {text!r}")
    return window


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and documentation)."""
    parser = argparse.ArgumentParser(
        prog="aegis-stream",
        description="Governance dashboard API for AI agents, as an event-sourced streaming aggregator.",
        epilog="Configuration comes from environment variables (see README); REDIS_URL unset "
        "means the embedded engine in AEGIS_DATA_DIR.",
    )
    parser.add_argument("--version", action="version", version=f"aegis-stream {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="start the engine, the projector and the API in one process")
    up.add_argument("--demo", action="store_true", help="import the bundled real airline-agent sample first")
    for p in (up, sub.add_parser("api", help="serve the dashboard API")):
        p.add_argument("--host", help="bind address (default 127.0.0.1, AEGIS_HOST)")
        p.add_argument("--port", type=_port, help="port (default 8000, AEGIS_PORT)")
        p.add_argument("--policy", help="policy YAML file, or 'airline' for the bundled one (AEGIS_POLICY)")

    worker = sub.add_parser("worker", help="run a projector worker")
    mode = worker.add_mutually_exclusive_group()
    mode.add_argument("--burst", action="store_true", help="drain the stream, then exit")
    mode.add_argument(
        "--check",
        action="store_true",
        help="exit 0 if a worker on this host (or AEGIS_CONSUMER) is healthy, else 1 (for probes)",
    )

    imp = sub.add_parser("import", help="append the events of a file (JSONL, reference SQLite, transcripts)")
    imp.add_argument("file")
    imp.add_argument("--format", choices=("jsonl", "sqlite", "transcripts"), help="default: detected")
    imp.add_argument(
        "--policy", help="policy that classifies events without a decision ('airline' = bundled)"
    )
    imp.add_argument("--agent", help="agent id for events without one; transcripts accept {trial} and {task}")
    imp.add_argument(
        "--spread",
        type=parse_window,
        metavar="WINDOW",
        help="re-time events evenly over the WINDOW ending now (e.g. 7d)",
    )

    rebuild = sub.add_parser(
        "rebuild", help="replay the retained log into a new views version and switch to it"
    )
    rebuild.add_argument("--version", type=int, dest="target", metavar="N", help="default: current + 1")

    status = sub.add_parser("status", help="stream length, pending, lag and dead letters per partition")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def _print_status(rows: list[PartitionStatus], out: TextIO) -> None:
    def age(ms: int | None) -> str:
        if ms is None:
            return "-"
        if ms < 1000:
            return f"{ms}ms"
        if ms < 60_000:
            return f"{ms / 1000:.1f}s"
        minutes, seconds = divmod(ms // 1000, 60)
        if minutes < 60:
            return f"{minutes}m{seconds:02d}s"
        hours, minutes = divmod(minutes, 60)
        return f"{hours}h{minutes:02d}m"

    header = (
        "partition",
        "length",
        "pending",
        "lag",
        "oldest pending",
        "applied",
        "dead",
        "late",
        "duplicates",
        "checkpoint",
        "last applied",
    )
    table = [header]
    for s in rows:
        last = (
            datetime.fromtimestamp(s.last_applied_ms / 1000, UTC).isoformat(timespec="seconds")
            if s.last_applied_ms
            else "-"
        )
        table.append(
            (
                str(s.partition),
                str(s.length),
                str(s.pending),
                "-" if s.lag is None else str(s.lag),
                age(s.oldest_pending_age_ms),
                str(s.applied_events),
                str(s.dead_letters),
                str(s.late_events),
                str(s.duplicates),
                s.checkpoint or "-",
                last,
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip(), file=out)


async def _status(settings: Settings, as_json: bool) -> int:
    assert settings.redis_url is not None
    client = async_client(settings.redis_url, cluster=settings.cluster)
    try:
        keys = Keys(settings.key_prefix, settings.views_version, settings.partitions)
        await check_partitions(client, keys, record=False)  # status only looks
        rows = await ViewReader(client, keys).pipeline_status()
    finally:
        await client.aclose()
    if as_json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
    else:
        print(f"store: {logs.redact(settings.redis_url)}")
        _print_status(rows, sys.stdout)
    return 0


HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _run_async(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run``, then SIGTERM handling back (closing a loop resets it to the default)."""
    try:
        return asyncio.run(coro)
    finally:
        for sig in HANDLED_SIGNALS:
            signal.signal(sig, _interrupt)


async def _rebuild(settings: Settings, target: int | None) -> RebuildResult:
    assert settings.redis_url is not None
    client = async_client(settings.redis_url, cluster=settings.cluster)
    try:
        return await rebuild(client, settings, clock_ms=wall_clock_ms, target=target)
    finally:
        await client.aclose()


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "import":
        policy = resolve_policy(args.policy or settings.policy_path)
        with store(settings) as ready:
            imported, rejected = _run_async(
                import_events(
                    ready, args.file, fmt=args.format, policy=policy, agent=args.agent, spread_us=args.spread
                )
            )
        print(f"imported {imported} events, rejected {rejected}")
        return 1 if rejected else 0
    if args.command == "status":
        # status only looks: it never starts (or stops) an embedded engine
        with store(settings, start=False) as ready:
            return _run_async(_status(ready, args.json))
    if args.command in ("up", "api"):
        # bind before anything else: a busy port fails at once, before an engine starts
        with (
            listen_socket(settings.host, settings.port) as sock,
            store(settings, ephemeral=args.command == "up" and args.demo) as ready,
        ):
            if args.command == "api":
                _run_async(run_api(ready, sock))
                return 0
            if args.demo and not settings.redis_url:
                print(f"aegis-stream: demo engine in {ready.data_dir} (removed on exit)", flush=True)
            _run_async(run_up(ready, sock, demo=args.demo))
        return 0
    if args.command == "rebuild":
        with store(settings) as ready:
            result = _run_async(_rebuild(ready, args.target))
        print(
            f"rebuilt views version {result.version} from {result.entries} retained entries "
            f"({result.events} events); readers switched from version {result.previous_version}"
        )
        return 0
    if args.command == "worker" and args.check:  # a probe: one line, 0 or 1; it never starts an engine
        with store(settings, start=False) as ready:
            found = _run_async(health.check(ready, host=socket.gethostname(), clock=wall_clock_ms))
        print(
            found.message if found.healthy else f"aegis-stream: worker unhealthy: {found.message}",
            file=sys.stdout if found.healthy else sys.stderr,
        )
        return 0 if found.healthy else 1
    with store(settings) as ready:
        if args.command == "worker":
            applied = _run_async(run_worker(ready, burst=args.burst))
            print(f"worker stopped after applying {applied} events")
    return 0


def run(argv: Sequence[str] | None = None, env: dict[str, str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the exit status.

    SIGTERM and SIGHUP are handled like Ctrl-C from the start, so an embedded
    engine is always stopped and temporary directories removed, whenever they arrive.
    """
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env(env)
        overrides = {k: getattr(args, k, None) for k in ("host", "port")}
        settings = settings.with_overrides(**overrides, policy_path=getattr(args, "policy", None))
    except ConfigError as e:
        print(f"aegis-stream: configuration error: {e}", file=sys.stderr)
        return 2
    if args.command in ("up", "api", "import") and (getattr(args, "policy", None) or settings.policy_path):
        try:  # a bad policy file is a configuration error, found before anything starts
            resolve_policy(getattr(args, "policy", None) or settings.policy_path)
        except PolicyError as e:
            print(f"aegis-stream: configuration error: --policy or AEGIS_POLICY: {e}", file=sys.stderr)
            return 2
    logs.configure(settings.log_level, settings.log_format)
    previous = {sig: signal.signal(sig, _interrupt) for sig in HANDLED_SIGNALS}
    try:
        return _dispatch(args, settings)
    except (ListenError, RebuildRefused) as e:
        print(f"aegis-stream: {e}", file=sys.stderr)
        return 2
    except ConfigError as e:
        print(f"aegis-stream: configuration error: {e}", file=sys.stderr)
        return 2
    except AegisError as e:
        print(f"aegis-stream: {e}", file=sys.stderr)
        return 1
    except (redis.RedisError, RedisClusterException) as e:
        print(f"aegis-stream: store error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        for sig, handler in previous.items():
            if handler is not None:
                signal.signal(sig, handler)


def main() -> None:
    """Console entry point."""
    try:
        sys.exit(run())
    except BrokenPipeError:  # e.g. `aegis-stream status | head -1`: the reader went away
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
