"""What several benchmarks share: the server URL, throwaway prefixes, ASGI calls, service processes."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import redis
from starlette.types import ASGIApp, Message

from aegis_stream.settings import ENV_VARS


def redis_url() -> str:
    """``REDIS_URL``, default the local server's database 0."""
    return os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def new_prefix(kind: str) -> str:
    """A throwaway key prefix no other run shares."""
    return f"bench-{kind}-{uuid.uuid4().hex[:8]}"


def delete_prefix(url: str, prefix: str) -> None:
    """Delete every key starting with ``prefix`` (SCAN, never FLUSH)."""
    client = redis.Redis.from_url(url)
    try:
        names = list(client.scan_iter(match=f"{prefix}*", count=5000))
        for i in range(0, len(names), 1000):
            client.delete(*names[i : i + 1000])
    finally:
        client.close()


def pct(samples: list[float], q: float) -> float:
    """The ``q`` quantile of ``samples`` (seconds), in milliseconds."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def asgi_get(app: ASGIApp, path: str) -> tuple[int, bytes, float]:
    """One GET straight through the ASGI interface: status, body and seconds."""
    route, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": route,
        "raw_path": route.encode(),
        "query_string": query.encode(),
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("bench", 80),
        "root_path": "",
        "state": {},
    }
    status: list[int] = []
    body: list[bytes] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    start = time.perf_counter()
    await app(scope, receive, send)
    elapsed = time.perf_counter() - start
    return (status[0] if status else 0), b"".join(body), elapsed


def service_env(url: str, prefix: str, **extra: str) -> dict[str, str]:
    """The environment of a service process: this one's without any AEGIS_* setting, so defaults apply."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env.update({"REDIS_URL": url, "AEGIS_KEY_PREFIX": prefix, "AEGIS_LOG_LEVEL": "WARNING", **extra})
    return env


def spawn(args: list[str], env: dict[str, str], *, read: bool = False) -> subprocess.Popen[str]:
    """``python -m aegis_stream ARGS`` (the ``aegis-stream`` command) in its own process.

    Its stderr is this process's (warnings show with the progress); its stdout
    is discarded unless ``read``.
    """
    return subprocess.Popen(
        [sys.executable, "-m", "aegis_stream", *args],
        env=env,
        stdout=subprocess.PIPE if read else subprocess.DEVNULL,
        text=True,
    )


def start_api(
    url: str, prefix: str, policy: str = "airline", timeout_s: float = 30.0
) -> tuple[subprocess.Popen[str], int]:
    """``aegis-stream api`` (uvicorn, one process) on a free 127.0.0.1 port: the process and its port."""
    proc = spawn(
        ["api", "--host", "127.0.0.1", "--port", "0", "--policy", policy], service_env(url, prefix), read=True
    )
    lines: queue.Queue[str] = queue.Queue()
    out = proc.stdout
    assert out is not None

    def forward() -> None:  # keeps reading, so the server never blocks on a full pipe
        for line in out:
            lines.put(line)

    threading.Thread(target=forward, daemon=True).start()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            if proc.poll() is not None:
                break
            continue
        found = re.search(r"http://127\.0\.0\.1:(\d+)", line)  # "aegis-stream: API on URL", then it listens
        if found:
            port = int(found.group(1))
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    return proc, port
                except OSError:
                    time.sleep(0.05)
            break
    stop(proc)
    raise RuntimeError(f"the API did not start within {timeout_s:.0f} s (exit status {proc.returncode})")


def stop(proc: subprocess.Popen[str], timeout_s: float = 15.0) -> int:
    """SIGTERM (a clean stop), then SIGKILL past ``timeout_s``; the exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
