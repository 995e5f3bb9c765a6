"""Stream ids and reply values: the small parsing every Redis-facing module needs."""

from __future__ import annotations

from typing import Any


def text(value: Any) -> str:
    """A reply value (bytes from redis-py, or already a str) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def id_key(entry_id: str) -> tuple[int, int]:
    """Sortable form of a stream id ``ms-seq``; ValueError if it is not one."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def entry_ms(entry_id: str) -> int:
    """The millisecond part of a stream id: when the entry was appended."""
    return int(entry_id.partition("-")[0])
