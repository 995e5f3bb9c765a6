"""Policy hot reload (DESIGN D7): the API follows changes to its policy file.

The file's modification time and size are polled; a change is parsed in
full before it replaces the policy in force, so a half-written or invalid
file never takes effect (the old policy stays, and the error is logged).
"""

from __future__ import annotations

import asyncio
import logging
import os

from aegis_stream.api.state import AppState
from aegis_stream.errors import PolicyError
from aegis_stream.policy import load_policy

log = logging.getLogger(__name__)

Stamp = tuple[int, int] | None


def file_stamp(path: str) -> Stamp:
    """``(mtime_ns, size)`` of ``path``, or None when it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class PolicyWatcher:
    """Reloads ``state.policy`` from ``path`` when the file changes."""

    def __init__(self, state: AppState, path: str) -> None:
        self._state = state
        self._path = path
        self._stamp = file_stamp(path)

    def check(self) -> bool:
        """Reload if the file changed since the last look; True when a new policy took effect."""
        stamp = file_stamp(self._path)
        if stamp == self._stamp or stamp is None:
            return False
        self._stamp = stamp
        try:
            policy = load_policy(self._path)
        except PolicyError as e:
            log.warning("policy not reloaded, keeping the one in force: %s", e)
            return False
        self._state.policy = policy
        log.info("policy reloaded from %s: %d rules", self._path, len(policy.rules))
        return True

    async def run(self, interval_s: float) -> None:
        """Check every ``interval_s`` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            self.check()
