"""Policy hot reload (DESIGN D7): the API follows changes to its policy file.

The file's modification time and size are polled. A change is taken once
the file has stayed the same for one more poll (an editor that truncates,
then writes, is not caught half-way), and only if it parses in full; an
invalid file never takes effect (the old policy stays, and the error is
logged). A file emptied or deleted while running is not taken either: an
empty policy must be written out (``rules: []``). Parsing runs in a thread,
so requests are not held up by a large file.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import yaml

from aegis_stream.api.state import AppState
from aegis_stream.errors import PolicyError
from aegis_stream.policy import Policy, load_policy

log = logging.getLogger(__name__)

Stamp = tuple[int, int, int, int] | None


def file_stamp(path: str) -> Stamp:
    """``(inode, mtime, ctime, size)`` of ``path``, or None when it cannot be read.

    The change time catches an edit that kept the modification time (``touch -r``).
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size


def read_policy(path: str) -> Policy | None:
    """The policy in ``path``, or None when the file holds no document (blank or only comments).

    Raises :class:`PolicyError` for anything invalid.
    """
    policy = load_policy(path)
    if not policy.rules:  # only a policy without rules can come from an empty document
        try:
            if yaml.safe_load(Path(path).read_bytes()) is None:
                return None
        except (OSError, yaml.YAMLError):
            pass  # load_policy read and parsed it a moment ago; a race is not worth more
    return policy


class PolicyWatcher:
    """Reloads ``state.policy`` from ``path`` when the file changes."""

    def __init__(self, state: AppState, path: str) -> None:
        self._state = state
        self._path = path
        self._stamp = file_stamp(path)  # of the policy in force
        self._seen = self._stamp  # at the last look

    async def check(self) -> bool:
        """Reload if the file changed and has settled; True when a new policy took effect."""
        stamp = file_stamp(self._path)
        settled = stamp == self._seen
        self._seen = stamp
        if stamp == self._stamp or not settled:
            return False
        self._stamp = stamp
        try:
            policy = None if stamp is None else await asyncio.to_thread(read_policy, self._path)
        except PolicyError as e:
            log.warning("policy not reloaded, keeping the one in force: %s", e)
            return False
        if policy is None:
            log.warning("policy file %s is missing or empty; keeping the policy in force", self._path)
            return False
        self._state.policy = policy
        log.info("policy reloaded from %s: %d rules", self._path, len(policy.rules))
        return True

    async def run(self, interval_s: float) -> None:
        """Check every ``interval_s`` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            await self.check()
