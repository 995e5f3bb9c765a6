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
    TOO_DEEP,
    PathLike,
    Record,
    Rejected,
    check_size,
    fill_agent,
    json_value,
    open_binary,
    read_head,
)

if TYPE_CHECKING:
    from aegis_stream.policy import Policy

MAX_LINE_BYTES = 1024 * 1024
BOM = b"\xef\xbb\xbf"
ARRAY_FILE = (
    "line: the file holds a JSON array, not JSON Lines: "
    "JSONL needs one event object per line, not an array of events"
)


class _ArrayLine(InvalidEvent):
    """The line is a JSON array, or starts like one and is not valid JSON."""


def read_jsonl(
    path: PathLike,
    *,
    policy: Policy | None = None,
    agent: str | None = None,
    max_bytes: int | None = None,
) -> Iterator[Record]:
    """Stream the events of a JSON Lines file, one :class:`Rejected` per bad line.

    Blank lines are skipped and a UTF-8 byte order mark opening the file is
    ignored; line numbers in rejections are 1-based. A missing
    ``risk_level``/``approval`` is filled by ``policy`` (at the event's own
    time), and ``agent`` fills a missing ``agent_id``. With ``max_bytes``, an
    event whose wire encoding is larger is rejected. Raises
    :class:`ImportFailed` at once when the file cannot be opened or is a
    SQLite database, and later if reading breaks half-way (e.g. truncated gzip).
    """
    if read_head(path).startswith(SQLITE_MAGIC):
        raise ImportFailed(f"{os.fspath(path)}: is a SQLite database, not a JSON Lines file")
    return _lines(path, policy, agent, max_bytes)


def _lines(
    path: PathLike, policy: Policy | None, agent: str | None, max_bytes: int | None
) -> Iterator[Record]:
    first = True  # no non-blank line seen yet
    try:
        with open_binary(path) as fh:
            for number, line in enumerate(fh, start=1):
                if number == 1 and line.startswith(BOM):
                    line = line[len(BOM) :]  # noqa: PLW2901
                if not line.strip():
                    continue
                record = _record(
                    line, f"line {number}", first=first, policy=policy, agent=agent, max_bytes=max_bytes
                )
                first = False
                yield record
    except READ_ERRORS as e:
        raise ImportFailed(f"{os.fspath(path)}: read failed: {e}") from e


def _record(
    line: bytes,
    where: str,
    *,
    first: bool,
    policy: Policy | None,
    agent: str | None,
    max_bytes: int | None,
) -> Record:
    """One non-blank line as an event, or its rejection.

    On the file's first non-blank line, a JSON array (or what starts like one
    and is not valid JSON) is reported as an array file given as JSONL.
    """
    if len(line) > MAX_LINE_BYTES:
        if first and line.lstrip().startswith(b"["):
            return Rejected(where, ARRAY_FILE)
        return Rejected(where, f"line: longer than {MAX_LINE_BYTES} bytes")
    try:
        return check_size(parse_line(line, policy=policy, agent=agent), max_bytes)
    except _ArrayLine as e:
        return Rejected(where, ARRAY_FILE if first else e.reason)
    except InvalidEvent as e:
        return Rejected(where, e.reason)
    except RecursionError:  # parsing is guarded; this is for whatever walks the values
        return Rejected(where, TOO_DEEP)


def _json_text(raw: dict[str, Any], name: str) -> None:
    """Decode a field the reference stores as JSON text, in place."""
    value = raw.get(name)
    if not isinstance(value, str):
        return
    try:
        raw[name] = json_value(value, name)
    except json.JSONDecodeError:
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
        raw = json_value(text, "line")
    except json.JSONDecodeError as e:
        reason = f"line: not valid JSON ({e.msg} at column {e.colno})"
        if text.lstrip().startswith("["):
            raise _ArrayLine(reason) from None
        raise InvalidEvent(reason) from None
    if isinstance(raw, list):
        raise _ArrayLine(
            "event: expected an object, got a JSON array (JSONL needs one event object per line)"
        )
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
