"""Every Redis key name, in one place.

Layout (``P`` is a partition number; ``{pP}`` is the cluster hash tag so all
keys of one partition live in one slot and one Lua script may touch them):

* log, not versioned (the source of truth):
  ``<prefix>:{pP}:events`` (stream), ``<prefix>:{pP}:dead`` (dead letters),
  ``<prefix>:{pP}:lease`` (the active projector's lease)
* views, versioned so a rebuild can write beside the old ones:
  ``<prefix>:v<N>:{pP}:...``
"""

from __future__ import annotations

import functools
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

GROUP = "projector"


def partition_for(agent_id: str | None, partitions: int) -> int:
    """Route an event to a partition by a stable hash of its agent id."""
    if partitions <= 1:
        return 0
    return zlib.crc32((agent_id or "").encode("utf-8")) % partitions


@functools.lru_cache(maxsize=16384)
def _combo_name(combo: tuple[str | None, ...]) -> str:
    # cached: the writer names every combination of a batch (~a dozen per event)
    return "ix:" + json.dumps(list(combo), separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names for one key prefix, views version and partition count."""

    prefix: str = "aegis"
    version: int = 1
    partitions: int = 1

    def _tag(self, p: int) -> str:
        return f"{{p{p}}}"

    def _view(self, p: int, name: str) -> str:
        return f"{self.prefix}:v{self.version}:{self._tag(p)}:{name}"

    # -- the log ---------------------------------------------------------
    def stream(self, p: int) -> str:
        """The partition's event stream."""
        return f"{self.prefix}:{self._tag(p)}:events"

    def dead(self, p: int) -> str:
        """The partition's dead-letter stream."""
        return f"{self.prefix}:{self._tag(p)}:dead"

    def lease(self, p: int) -> str:
        """The lease held by the partition's active projector."""
        return f"{self.prefix}:{self._tag(p)}:lease"

    def attempts(self, p: int) -> str:
        """Hash ``entry id -> n``: attempts to apply a suspect entry on its own that did not complete."""
        return f"{self.prefix}:{self._tag(p)}:attempts"

    def worker_health(self, consumer: str) -> str:
        """Heartbeat key of one projector process (JSON, with a TTL; see worker/health.py)."""
        return f"{self.prefix}:workers:{consumer}"

    def worker_index(self) -> str:
        """Sorted set ``consumer -> expiry ms`` of the live :meth:`worker_health` keys."""
        return f"{self.prefix}:workers"

    def views_pointer(self) -> str:
        """The views version readers and projectors use (set by a rebuild; unset: ``version``)."""
        return f"{self.prefix}:views-version"

    def at_version(self, version: int) -> Keys:
        """The same key names for another views version."""
        return replace(self, version=version)

    def following(self, pointer: bytes | str | None) -> Keys:
        """The key names for the version a :meth:`views_pointer` value names (unset: these)."""
        value = pointer.decode() if isinstance(pointer, bytes) else pointer
        return self.at_version(int(value)) if value and value.isdigit() else self

    def layout(self) -> str:
        """The partition count the store was set up with (see layout.py)."""
        return f"{self.prefix}:partitions"

    def rebuild_lock(self) -> str:
        """Held by the one ``rebuild`` running."""
        return f"{self.prefix}:rebuild-lock"

    def demo_marker(self) -> str:
        """Set once the bundled demo sample has been imported."""
        return f"{self.prefix}:demo-imported"

    # -- views -----------------------------------------------------------
    def checkpoint(self, p: int) -> str:
        """Hash: ``id`` = last applied stream id, plus pipeline counters."""
        return self._view(p, "checkpoint")

    def totals(self, p: int) -> str:
        """Hash of scalar counters (``total``, ``covered``, ...)."""
        return self._view(p, "totals")

    def counts(self, p: int, dim: str) -> str:
        """Hash ``value -> count`` for one dimension (risk, status, type, agent...)."""
        return self._view(p, f"n:{dim}")

    def first_seen(self, p: int, dim: str) -> str:
        """Hash ``value -> order key`` of the first event carrying that value."""
        return self._view(p, f"f:{dim}")

    def span(self, p: int) -> str:
        """Hash ``first_us``, ``last_us``: the earliest and latest event time applied."""
        return self._view(p, "span")

    def activity(self, p: int) -> str:
        """Sorted set of activity clusters (``s1:u1:s2:u2`` scored by start second), for CC7.2."""
        return self._view(p, "activity")

    def profile(self, p: int, agent: str) -> str:
        """Hash of one agent's profile: ``total``, ``blocked``, ``first_us``, ``last_us``, overflows."""
        return self._view(p, f"prof:{agent}")

    def profile_counts(self, p: int, kind: str, agent: str) -> str:
        """Hash ``value -> count`` of one agent's ``types`` or ``targets`` (capped)."""
        return self._view(p, f"pn:{kind}:{agent}")

    def profile_first_seen(self, p: int, kind: str, agent: str) -> str:
        """Hash ``value -> order key`` for :meth:`profile_counts`."""
        return self._view(p, f"pf:{kind}:{agent}")

    def profile_order(self, p: int, kind: str, agent: str) -> str:
        """List of :meth:`profile_counts`' values in the order they were admitted (first seen)."""
        return self._view(p, f"po:{kind}:{agent}")

    def audit_rows(self, p: int) -> str:
        """Hash ``order key -> payload``: the audit log's rows."""
        return self._view(p, "rows")

    def audit_seqs(self, p: int) -> str:
        """Hash ``order key -> n``: each row's number in the partition's stream order (from 1)."""
        return self._view(p, "seqs")

    def audit_index(self, p: int, combo: Sequence[str | None]) -> str:
        """List of order keys of the events matching one filter combination (see project/auditlog.py)."""
        return self._view(p, _combo_name(tuple(combo)))

    def dedupe(self, p: int) -> str:
        """Sorted set ``event_id -> stream ms of first occurrence`` within the de-duplication window."""
        return self._view(p, "dedupe")

    def bucket(self, p: int, size_ms: int, start_ms: int) -> str:
        """Hash of counters for one timeline bucket."""
        return self._view(p, f"tl:{size_ms}:{start_ms}")

    def all_partitions(self) -> range:
        """The partition numbers, for readers that merge them."""
        return range(self.partitions)
