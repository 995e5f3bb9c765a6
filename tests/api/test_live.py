"""``GET /api/v1/stream`` on a real uvicorn server and a real Redis: auth, events, views, drops, shutdown."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx
import pytest
import redis
import redis.asyncio as aredis
import uvicorn

from aegis_stream.api import create_app, live, sse
from aegis_stream.api.live import LiveHub, Message
from aegis_stream.keys import Keys
from aegis_stream.producer import Producer
from aegis_stream.runtime import _Server, http_url, listen_socket
from aegis_stream.settings import Settings
from tests.api.conftest import load
from tests.conftest import event_dict
from tests.test_up import wait_for_line

TOKEN = "live-t0ken"


@dataclass
class Served:
    base: str
    server: uvicorn.Server
    thread: threading.Thread
    app: Any

    def hub(self) -> LiveHub | None:
        hub: LiveHub | None = self.app.state.aegis.live
        return hub


@pytest.fixture
def served(settings: Settings) -> Iterator[Callable[..., Served]]:
    """Factory: a real API server (in a thread, on a free port) for ``settings`` plus overrides."""
    started: list[Served] = []

    def start(**overrides: Any) -> Served:
        configured = settings.with_overrides(api_token=TOKEN, block_ms=100, **overrides)
        app = create_app(configured)
        sock = listen_socket("127.0.0.1", 0)
        config = uvicorn.Config(app, lifespan="on", log_config=None, access_log=False)
        server = _Server(config)  # the server `api` and `up` run: it ends live streams on shutdown
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.01)
        one = Served(http_url(sock), server, thread, app)
        started.append(one)
        return one

    yield start
    for one in started:
        one.server.should_exit = True
        one.thread.join(timeout=10)


@dataclass
class Sse:
    event: str = ""
    data: str = ""
    comment: str = ""
    retry: str = ""

    def json(self) -> Any:
        return json.loads(self.data)


def messages(response: httpx.Response) -> Iterator[Sse]:
    """Parse a text/event-stream into messages (comments and retry hints count as messages)."""
    current = Sse()
    for line in response.iter_lines():
        if line == "":
            if current != Sse():
                yield current
            current = Sse()
        elif line.startswith(":"):
            yield Sse(comment=line[1:].strip())
        else:
            name, _, value = line.partition(":")
            setattr(current, name, value.removeprefix(" "))


def until(stream: Iterator[Sse], wanted: Callable[[Sse], bool], seconds: float = 5.0) -> Sse:
    deadline = time.monotonic() + seconds
    for message in stream:
        if wanted(message):
            return message
        assert time.monotonic() < deadline, "the wanted message did not come"
    raise AssertionError("the stream ended")


def produce(settings: Settings, *events: dict[str, Any]) -> None:
    assert settings.redis_url
    client = redis.Redis.from_url(settings.redis_url)
    try:
        Producer(client, Keys(settings.key_prefix, settings.views_version, settings.partitions)).emit_many(
            list(events)
        )
    finally:
        client.close()


def test_the_stream_needs_the_dashboard_token(served: Callable[..., Served]) -> None:
    base = served().base
    assert httpx.get(f"{base}/api/v1/stream", timeout=5).status_code == 401
    assert httpx.get(f"{base}/api/v1/stream?token=wrong", timeout=5).status_code == 401
    for kwargs in ({"params": {"token": TOKEN}}, {"headers": {"Authorization": f"Bearer {TOKEN}"}}):
        with httpx.stream("GET", f"{base}/api/v1/stream", timeout=5, **kwargs) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-store"
            stream = messages(response)
            assert next(stream).retry == str(sse.RETRY_MS)
            ready = next(stream)
            assert ready.event == "ready" and ready.json()["partitions"] == 1


def test_the_query_token_is_removed_before_the_app_sees_it() -> None:
    scope: dict[str, Any] = {"query_string": b"a=1&token=s%3Dcret&b=%20x+y&token=last"}
    from aegis_stream.api.auth import take_query_token

    assert take_query_token(scope) == "last"
    assert scope["query_string"] == b"a=1&b=%20x+y"
    assert take_query_token({"query_string": b"period=24h"}) is None
    utf8 = {"query_string": b"token=p%C3%A4ss"}
    assert take_query_token(utf8) == "pÃ¤ss"  # raw bytes as latin-1, as header values arrive


def test_a_new_event_arrives_redacted_then_the_views_change(
    served: Callable[..., Served], settings: Settings
) -> None:
    base = served().base
    with httpx.stream("GET", f"{base}/api/v1/stream", params={"token": TOKEN}, timeout=5) as response:
        stream = messages(response)
        until(stream, lambda m: m.event == "ready")
        event = event_dict(action_target="live-target", action_params={"api_key": "sk-hidden", "q": 1})
        produce(settings, event)
        found = until(stream, lambda m: m.event == "events")
        body = found.json()
        assert body["partition"] == 0 and body["count"] == 1 and body["truncated"] is False
        (row,) = body["events"]
        assert "sk-hidden" not in found.data
        assert json.loads(row["action_params"]) == {"api_key": "[REDACTED]", "q": 1}
        assert row["action_target"] == "live-target" and row["agent_id"] == "agent-a"
        assert "id" not in row and row["stream_id"]
        load(settings, [])  # a burst projector applies it
        views = until(stream, lambda m: m.event == "views")
        assert views.json()["version"] == 1 and views.json()["checkpoints"] == [row["stream_id"]]


def test_with_the_audit_log_off_events_are_counted_not_shown(
    served: Callable[..., Served], settings: Settings
) -> None:
    base = served(audit_log=False).base
    with httpx.stream("GET", f"{base}/api/v1/stream", params={"token": TOKEN}, timeout=5) as response:
        stream = messages(response)
        until(stream, lambda m: m.event == "ready")
        produce(settings, event_dict(action_target="not-shown"))
        found = until(stream, lambda m: m.event == "events")
        assert found.json()["count"] == 1 and found.json()["events"] == []
        assert "not-shown" not in found.data


def test_a_burst_is_cut_to_the_newest_entries(served: Callable[..., Served], settings: Settings) -> None:
    base = served().base
    with httpx.stream("GET", f"{base}/api/v1/stream", params={"token": TOKEN}, timeout=5) as response:
        stream = messages(response)
        until(stream, lambda m: m.event == "ready")
        n = 4 * live.READ_COUNT
        produce(settings, *(event_dict(action_target=f"t-{i}") for i in range(n)))
        newest = f"t-{n - 1}"
        bodies = []
        while not bodies or bodies[-1]["events"][-1]["action_target"] != newest:
            bodies.append(until(stream, lambda m: m.event == "events").json())
        assert all(len(b["events"]) <= live.READ_COUNT for b in bodies)
        assert any(b["truncated"] for b in bodies)
        assert sum(len(b["events"]) for b in bodies) < n  # the middle of the burst was skipped


def test_an_idle_stream_gets_heartbeats(
    served: Callable[..., Served], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sse, "HEARTBEAT_S", 0.2)
    base = served().base
    with httpx.stream("GET", f"{base}/api/v1/stream", params={"token": TOKEN}, timeout=5) as response:
        assert until(messages(response), lambda m: bool(m.comment)).comment == "ping"


def test_one_reader_for_every_client_and_none_once_they_leave(served: Callable[..., Served]) -> None:
    one = served()
    url = f"{one.base}/api/v1/stream?token={TOKEN}"
    with httpx.stream("GET", url, timeout=5) as a, httpx.stream("GET", url, timeout=5) as b:
        streams = [messages(a), messages(b)]  # held: a dropped iterator closes its connection
        for stream in streams:
            until(stream, lambda m: m.event == "ready")
        hub = one.hub()
        assert hub is not None and hub.subscribers == 2 and hub.running
    deadline = time.monotonic() + 5
    while hub.subscribers or hub.running:
        assert time.monotonic() < deadline, "the hub kept a reader with no client"
        time.sleep(0.02)


def test_shutdown_ends_open_streams_promptly(served: Callable[..., Served]) -> None:
    one = served()
    with httpx.stream("GET", f"{one.base}/api/v1/stream?token={TOKEN}", timeout=5) as response:
        stream = messages(response)
        until(stream, lambda m: m.event == "ready")
        started = time.monotonic()
        one.server.should_exit = True
        assert list(stream) == []  # the stream ends cleanly: no error, nothing more
        one.thread.join(timeout=5)
        assert not one.thread.is_alive() and time.monotonic() - started < 3


async def test_a_slow_client_is_dropped_not_the_others(async_redis: aredis.Redis, keys: Keys) -> None:
    hub = LiveHub(async_redis, keys, block_ms=100, max_bytes=65536, queue_size=2)
    slow, fast = await hub.subscribe(), await hub.subscribe()
    for i in range(3):
        hub.publish(Message("views", {"n": i}))
        assert (await fast.queue.get()) == Message("views", {"n": i})
    assert slow.dropped.is_set() and slow.queue.get_nowait() is None  # its stream ends at once
    assert not fast.dropped.is_set() and hub.subscribers == 1
    await hub.close()
    assert fast.dropped.is_set() and not hub.running


async def test_a_dropped_client_stuck_in_a_send_is_cut_off(
    async_redis: aredis.Redis, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sse, "DROP_GRACE_S", 0.05)
    hub = LiveHub(async_redis, keys, block_ms=100, max_bytes=65536, queue_size=2, linger_s=0.05)
    sub = await hub.subscribe()
    stuck = asyncio.Event()
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if len(sent) > 1:  # after the headers, the client stops reading: the send never completes
            stuck.set()
            await asyncio.Event().wait()

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    task = asyncio.create_task(sse.EventStream(hub, sub, {"partitions": 1})({}, receive, send))
    await stuck.wait()
    for i in range(3):
        hub.publish(Message("views", {"n": i}))
    await asyncio.wait_for(task, timeout=2)  # returned: the server's task is free again
    assert hub.subscribers == 0
    async with asyncio.timeout(5):  # and the reader stops once it has had no client for a while
        while hub.running:
            await asyncio.sleep(0.01)
    await hub.close()


def test_a_real_api_survives_clients_that_hang_up_at_once(settings: Settings) -> None:
    """The product as run (`aegis-stream api`): 120 streams closed at once, then a stream and SIGTERM.

    A reader stopped by cancelling its blocking read once left the client
    waiting on a reply that never came: new streams then hung on the hub's
    lock, and so did shutdown.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "AEGIS_"))}
    assert settings.redis_url
    env.update(
        REDIS_URL=settings.redis_url,
        AEGIS_KEY_PREFIX=settings.key_prefix,
        AEGIS_PARTITIONS="4",
        AEGIS_PORT="0",
        AEGIS_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "aegis_stream", "api"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = wait_for_line(proc, r"API on (http://127\.0\.0\.1:\d+)", timeout=30).group(1)
        with httpx.Client(timeout=5) as client:
            for _ in range(120):
                with client.stream("GET", f"{base}/api/v1/stream") as response:
                    assert response.status_code == 200
            with client.stream("GET", f"{base}/api/v1/stream") as response:
                until(messages(response), lambda m: m.event == "ready")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
