"""Import JSON Lines: one event object per line, plain or gzip-compressed.

Accepts both the event shape of :func:`aegis_stream.events.parse_event` and the
rows the reference writes with ``export_jsonl`` (which carry the SQLite ``id``
and keep ``action_params``/``result_data`` as JSON text).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from aegis_stream.classify import classify
from aegis_stream.errors import ImportFailed, InvalidEvent
from aegis_stream.events import AuditEvent, parse_event
from aegis_stream.importers._common import (
    READ_ERRORS,
    SQLITE_MAGIC,
    PathLike,
    Record,
    Rejected,
    fill_agent,
    open_binary,
    read_head,
)

if TYPE_CHECKING:
    from aegis_stream.policy import Policy

MAX_LINE_BYTES = 1024 * 1024


def read_jsonl(path: PathLike, *, policy: Policy | None = None, agent: str | None = None) -> Iterator[Record]:
    """Stream the events of a JSON Lines file, one :class:`Rejected` per bad line.

    Blank lines are skipped; line numbers in rejections are 1-based. A missing
    ``risk_level``/``approval`` is filled by ``policy`` (at the event's own
    time), and ``agent`` fills a missing ``agent_id``. Raises
    :class:`ImportFailed` at once when the file cannot be opened or is a
    SQLite database, and later if reading breaks half-way (e.g. truncated gzip).
    """
    if read_head(path).startswith(SQLITE_MAGIC):
        raise ImportFailed(f"{os.fspath(path)}: is a SQLite database, not a JSON Lines file")
    return _lines(path, policy, agent)


def _lines(path: PathLike, policy: Policy | None, agent: str | None) -> Iterator[Record]:
    try:
        with open_binary(path) as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                where = f"line {number}"
                if len(line) > MAX_LINE_BYTES:
                    yield Rejected(where, f"line: longer than {MAX_LINE_BYTES} bytes")
                    continue
                try:
                    yield parse_line(line, policy=policy, agent=agent)
                except InvalidEvent as e:
                    yield Rejected(where, e.reason)
    except READ_ERRORS as e:
        raise ImportFailed(f"{os.fspath(path)}: read failed: {e}") from e


def _json_text(raw: dict[str, Any], name: str) -> None:
    """Decode a field the reference stores as JSON text, in place."""
    value = raw.get(name)
    if not isinstance(value, str):
        return
    try:
        raw[name] = json.loads(value)
    except ValueError:
        raise InvalidEvent(f"{name}: not valid JSON text") from None


def parse_line(line: bytes | str, *, policy: Policy | None = None, agent: str | None = None) -> AuditEvent:
    """Turn one JSON line into an :class:`~aegis_stream.events.AuditEvent`.

    Raises :class:`InvalidEvent` with the reason when the line is not a valid event.
    """
    try:
        text = line.decode("utf-8") if isinstance(line, bytes) else line
    except UnicodeDecodeError:
        raise InvalidEvent("line: not valid UTF-8") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise InvalidEvent(f"line: not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(raw, dict):
        raise InvalidEvent(f"event: expected an object, got {type(raw).__name__}")
    if "id" in raw:
        # A reference export_jsonl row: the id is the SQLite row id, and both
        # params and result data are JSON text.
        del raw["id"]
        _json_text(raw, "result_data")
    _json_text(raw, "action_params")  # a string is never valid params
    fill_agent(raw, agent)
    classify(raw, policy)
    return parse_event(raw)
