"""Sharing the embedded engine between processes: the last user out stops it.

Every process that uses the engine of a data directory holds a connection to
it while it does (an :class:`Attachment`); when one is done, it stops the
engine only if no other connection remains.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import redis

from aegis_stream.engine import EmbeddedEngine, dir_lock, find_or_start_locked, pid_alive


def _wait_gone(pid: int, timeout: float) -> bool:
    """Poll until ``pid`` has exited (or is a zombie); False on timeout."""
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _other_clients(url: str) -> int:
    """How many connections other than this one the server has."""
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        return int(client.info("clients")["connected_clients"]) - 1
    finally:
        client.close()


RECHECKS = 4  # looks at the client count, 100 ms apart


class Attachment:
    """This process's use of an embedded engine: a held connection that counts as a user.

    The connection is opened while the directory lock is held, so between
    finding the engine and using it, no other process releasing it
    can mistake this process for gone.
    """

    def __init__(self, data_dir: Path, url: str, owned: EmbeddedEngine | None) -> None:
        self.data_dir = data_dir
        self.url = url
        self.owned = owned
        self._hold: redis.Redis | None = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._hold.ping()

    def release(self) -> bool:
        """Stop using the engine; stop it if this was the last user. True when stopped."""
        hold, self._hold = self._hold, None
        if hold is None:
            return False
        with dir_lock(self.data_dir):
            hold.close()
            return _release_locked(self.data_dir, self.url, self.owned)


def attach_engine(data_dir: str | os.PathLike[str]) -> Attachment:
    """Reuse or start the engine in ``data_dir`` and count this process as a user until released."""
    directory = Path(data_dir).absolute()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with dir_lock(directory):
        url, owned = find_or_start_locked(directory)
        try:
            return Attachment(directory, url, owned)
        except BaseException:
            if owned is not None:
                owned.stop_locked()
            raise


def _release_locked(directory: Path, url: str, owned: EmbeddedEngine | None, timeout: float = 10.0) -> bool:
    """Last one out: stop the engine unless another connection remains (lock held)."""
    others = 0
    for attempt in range(RECHECKS):
        try:
            others = _other_clients(url)
        except (redis.RedisError, OSError):
            others = 0
        if not others:
            break
        # A process killed with -9 a moment ago may still be listed until the server
        # notices its closed socket: look again briefly before leaving the engine up.
        if attempt + 1 < RECHECKS:
            time.sleep(0.1)
    if others:
        if owned is not None:
            owned.detach()
        return False
    if owned is not None and owned.running:
        owned.stop_locked(timeout)
    else:
        pid = _state_pid(directory)
        EmbeddedEngine._shutdown(url, timeout)
        if pid:  # the server is still writing its snapshot: do not let a new one start beside it
            _wait_gone(pid, timeout)
        (directory / "engine.json").unlink(missing_ok=True)
    return True


def _state_pid(directory: Path) -> int:
    try:
        return int(json.loads((directory / "engine.json").read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0
