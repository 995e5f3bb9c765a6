"""Reading values back out of view hashes (shared by the view readers)."""

from __future__ import annotations

from typing import Any

from aegis_stream.errors import StoreError
from aegis_stream.streamids import id_key

NEVER = (2**63, 0)  # sorts after every stream id


def counter(value: Any) -> int:
    """A stored counter as an int; a corrupted one is a :class:`StoreError`, not a crash."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StoreError(f"a view holds a non-integer counter ({value!r:.40}); rebuild the views") from None


def order(entry_id: str | bytes | None) -> tuple[int, int]:
    """Sort key of a first-seen stream id, text or raw reply bytes (missing or unreadable: last)."""
    if entry_id is None:
        return NEVER
    try:
        if isinstance(entry_id, bytes):  # int() reads ASCII digits in bytes: no decoding on hot paths
            ms, _, seq = entry_id.partition(b"-")
            return int(ms), int(seq or 0)
        return id_key(entry_id)
    except ValueError:
        return NEVER
