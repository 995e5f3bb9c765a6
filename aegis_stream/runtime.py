"""Running the processes: engine resolution, the worker, the API, and ``up`` (all three)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import uvicorn

from aegis_stream.api import create_app
from aegis_stream.api.sse import end_streams
from aegis_stream.bundled import DEMO_SAMPLE, data_file
from aegis_stream.clock import wall_clock_us
from aegis_stream.engine import EmbeddedEngine, running_engine_url
from aegis_stream.engine_users import attach_engine
from aegis_stream.errors import ConfigError, ImportFailed, StoreError
from aegis_stream.importers import Rejected, read_events
from aegis_stream.keys import Keys
from aegis_stream.layout import check_partitions
from aegis_stream.policy import Policy
from aegis_stream.producer import AsyncProducer
from aegis_stream.settings import Settings
from aegis_stream.signing import signer_for
from aegis_stream.store import TRANSIENT_ERRORS, async_client
from aegis_stream.worker import Worker
from aegis_stream.worker.tuning import tune_for_batches

log = logging.getLogger(__name__)
DEMO_SPREAD_US = 7 * 24 * 3600 * 1_000_000
MARKER_TTL_S = 15


@contextlib.contextmanager
def store(settings: Settings, *, ephemeral: bool = False, start: bool = True) -> Iterator[Settings]:
    """Settings with a usable ``redis_url``: the configured server, or the embedded engine.

    The embedded engine in ``AEGIS_DATA_DIR`` is reused when one runs, else
    started (unless ``start`` is false); the last process using it stops it.
    With ``ephemeral``, the engine lives in a temporary directory removed on exit.
    """
    if settings.redis_url:
        yield settings
        return
    if ephemeral:
        with tempfile.TemporaryDirectory(prefix="aegis-demo-") as tmp, EmbeddedEngine(tmp) as engine:
            assert engine.url is not None
            yield settings.with_overrides(redis_url=engine.url, data_dir=tmp)
        return
    if not start:
        url = running_engine_url(settings.data_dir)
        if url is None:
            raise StoreError(
                f"no embedded engine is running in {settings.data_dir}; "
                "start one with 'aegis-stream up', or set REDIS_URL"
            )
        yield settings.with_overrides(redis_url=url)
        return
    try:
        attachment = attach_engine(settings.data_dir)
    except OSError as e:
        raise StoreError(f"cannot use AEGIS_DATA_DIR {settings.data_dir}: {e.strerror or e}") from e
    try:
        yield settings.with_overrides(redis_url=attachment.url)
    finally:
        attachment.release()


class ListenError(ConfigError):
    """The API's address cannot be bound (busy port, bad host)."""


def listen_socket(host: str, port: int) -> socket.socket:
    """Bind the API's listening socket up front, so a busy port fails fast and clearly."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on accepted sockets whose protocol says
    # TCP, and without it every keep-alive response after the first waits ~40 ms (delayed ACK)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise ListenError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
    sock.set_inheritable(True)
    return sock


def http_url(sock: socket.socket, path: str = "") -> str:
    """The URL a bound socket serves, with IPv6 hosts in brackets."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{path}"


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: ``up`` stops the API and the worker together.

    Its shutdown first ends the live streams, which uvicorn would otherwise
    wait for (it only closes idle connections).
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """End the app's live streams, then shut down as uvicorn does."""
        end_streams(self.config.app)
        await super().shutdown(sockets)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _on_signals(loop: asyncio.AbstractEventLoop, stop: Callable[[], None]) -> None:
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop)


async def import_events(
    settings: Settings,
    path: str | Path,
    *,
    fmt: str | None = None,
    policy: Policy | None = None,
    agent: str | None = None,
    spread_us: int | None = None,
    now_us: int | None = None,
    errors: TextIO | None = None,
    batch: int = 1000,
) -> tuple[int, int]:
    """Append the events of a file; returns (imported, rejected). Rejections go to ``errors``."""
    assert settings.redis_url is not None
    errors = errors or sys.stderr
    client = async_client(settings.redis_url, cluster=settings.cluster)
    keys = Keys(settings.key_prefix, settings.views_version, settings.partitions)
    producer = AsyncProducer(
        client,
        keys,
        max_bytes=settings.max_event_bytes,
        max_future_skew_ms=settings.max_future_skew_ms,
        signer=signer_for(settings.signing_key),
    )
    imported = rejected = 0
    pending: list[Any] = []
    numbers: list[int] = []  # each pending event's place among the file's records

    def refuse(where: str, reason: str) -> None:
        nonlocal rejected
        rejected += 1
        if rejected <= 20:
            print(f"{path}: {where}: {reason}", file=errors)

    async def flush() -> None:
        nonlocal imported
        try:
            outcomes = await producer.emit_each(pending)
        except StoreError as e:  # say how far it got: the user decides how to resume
            raise StoreError(
                f"{e} ({imported} events were appended before it, from the records before "
                f"record {numbers[0]}; records {numbers[0]} to {numbers[-1]} may be partly appended)"
            ) from e
        # one by one: an event the projector would dead-letter (dated too far ahead) is refused here
        for number, outcome in zip(numbers, outcomes, strict=True):
            if isinstance(outcome, str):
                imported += 1
            else:
                refuse(f"record {number}", outcome.reason)
        pending.clear()
        numbers.clear()

    try:
        await check_partitions(client, keys)
        now = now_us if now_us is not None else wall_clock_us()
        items = read_events(
            path,
            fmt=fmt,
            policy=policy,
            agent=agent,
            spread_us=spread_us,
            now_us=now,
            max_bytes=settings.max_event_bytes,
        )
        try:
            for number, item in enumerate(items, start=1):
                if isinstance(item, Rejected):
                    refuse(item.location, item.reason)
                    continue
                pending.append(item)
                numbers.append(number)
                if len(pending) >= batch:
                    await flush()
        except ImportFailed as e:
            if not (imported or pending or rejected):
                raise  # nothing could be read at all: the file is refused as a whole
            # the file broke off half-way (a truncated gzip): keep what was read before
            rejected += 1
            print(f"{e} (after {imported + len(pending)} events; those are kept)", file=errors)
        if pending:
            await flush()
    finally:
        await client.aclose()
    if rejected > 20:
        print(f"{path}: ... and {rejected - 20} more rejected records", file=errors)
    return imported, rejected


async def run_worker(settings: Settings, *, burst: bool = False) -> int:
    """Run the projector until SIGINT/SIGTERM (or until drained, in burst mode)."""
    assert settings.redis_url is not None
    tune_for_batches()
    client = async_client(settings.redis_url, block_ms=settings.block_ms, cluster=settings.cluster)
    worker = Worker(client, settings)
    _on_signals(asyncio.get_running_loop(), worker.stop)
    try:
        return await worker.run(burst=burst)
    finally:
        await client.aclose()


def _server(settings: Settings) -> _Server:
    app = create_app(settings)  # it loads the policy file itself, and follows its changes
    # No logging config of uvicorn's own: its loggers go through the handler logs.configure set up.
    # Its access log is off: the request-id middleware logs one line per request, with the id.
    config = uvicorn.Config(
        app, log_level=settings.log_level.lower(), lifespan="on", log_config=None, access_log=False
    )
    return _Server(config)


async def _check_layout(settings: Settings) -> None:
    """Refuse a partition count the store disagrees with before serving (a store down now is not)."""
    assert settings.redis_url is not None
    client = async_client(settings.redis_url, cluster=settings.cluster)
    try:
        keys = Keys(settings.key_prefix, settings.views_version, settings.partitions)
        with contextlib.suppress(*TRANSIENT_ERRORS):
            await check_partitions(client, keys)
    finally:
        await client.aclose()


async def run_api(settings: Settings, sock: socket.socket, *, announce: TextIO | None = None) -> None:
    """Serve the API on the bound ``sock`` until SIGINT/SIGTERM/SIGHUP."""
    await _check_layout(settings)
    server = _server(settings)

    def stop() -> None:
        server.should_exit = True

    _on_signals(asyncio.get_running_loop(), stop)
    print(f"aegis-stream: API on {http_url(sock)}", file=announce or sys.stdout, flush=True)
    await server.serve(sockets=[sock])


async def run_up(
    settings: Settings, sock: socket.socket, *, demo: bool, announce: TextIO | None = None
) -> None:
    """The projector and the API (on the bound ``sock``) in one process; Ctrl-C stops both cleanly."""
    assert settings.redis_url is not None
    announce = announce or sys.stdout
    await _check_layout(settings)
    if demo:
        if not settings.policy_path:
            settings = settings.with_overrides(policy_path="airline")
        await _import_demo(settings, announce)
    assert settings.redis_url is not None
    client = async_client(settings.redis_url, block_ms=settings.block_ms, cluster=settings.cluster)
    tune_for_batches()
    worker = Worker(client, settings)
    server = _server(settings)

    def stop() -> None:
        worker.stop()
        server.should_exit = True

    _on_signals(asyncio.get_running_loop(), stop)
    worker_task = asyncio.create_task(worker.run())
    try:
        print(
            f"aegis-stream: dashboard API on {http_url(sock, '/api/v1/dashboard/overview')}",
            file=announce,
            flush=True,
        )
        print(f"aegis-stream: web dashboard on {http_url(sock, '/')}", file=announce, flush=True)
        print("aegis-stream: press Ctrl-C to stop", file=announce, flush=True)
        await server.serve(sockets=[sock])
    finally:
        worker.stop()
        try:
            await worker_task
        finally:
            await client.aclose()


async def _keep_marker(client: Any, marker: str) -> None:
    while True:
        await asyncio.sleep(MARKER_TTL_S / 3)
        await client.expire(marker, MARKER_TTL_S)


async def _import_demo(settings: Settings, announce: TextIO) -> None:
    assert settings.redis_url is not None
    keys = Keys(settings.key_prefix, settings.views_version, settings.partitions)
    client = async_client(settings.redis_url, cluster=settings.cluster)
    marker = keys.demo_marker()
    try:
        if await client.get(marker) == b"done":
            print("aegis-stream: demo sample already imported, not importing it again", file=announce)
            return
        # "importing" expires unless renewed, so an import killed outright blocks nobody for long
        if not await client.set(marker, "importing", nx=True, ex=MARKER_TTL_S):
            print("aegis-stream: another process is importing the demo sample", file=announce)
            return
        renew = asyncio.create_task(_keep_marker(client, marker))
        try:
            imported, _ = await import_events(settings, data_file(DEMO_SAMPLE), spread_us=DEMO_SPREAD_US)
        except BaseException:
            await client.delete(marker)
            raise
        finally:
            renew.cancel()
        await client.set(marker, "done")
    finally:
        await client.aclose()
    print(
        f"aegis-stream: imported {imported} real tool calls of the tau-bench airline agent (last 7 days)",
        file=announce,
        flush=True,
    )
