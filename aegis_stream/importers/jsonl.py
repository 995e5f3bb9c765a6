"""Import JSON Lines: one event object per line, plain or gzip-compressed.

Accepts both the event shape of :func:`aegis_stream.events.parse_event` and the
rows the reference writes with ``export_jsonl`` (which carry the SQLite ``id``
and keep ``action_params``/``result_data`` as JSON text).
"""

from __future__ import annotations

import io
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
    source_id_prefix,
)

if TYPE_CHECKING:
    from aegis_stream.policy import Policy

MAX_LINE_BYTES = 1024 * 1024  # a longer line (not counting its newline) is refused unread
SKIP_BYTES = 64 * 1024  # the rest of a refused line is skipped this much at a time
BOM = b"\xef\xbb\xbf"
TOO_LONG = f"longer than {MAX_LINE_BYTES} bytes"
ARRAY_FILE = (
    "the file holds a JSON array, not JSON Lines: "
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
    ignored; line numbers in rejections are 1-based. A line longer than
    :data:`MAX_LINE_BYTES` is rejected without being held in memory. A file
    whose first line is a JSON array (or opens one) gets a single rejection
    saying so, and the rest of it is not read. A missing
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
    prefix = source_id_prefix(path)
    try:
        with open_binary(path) as fh:
            for number, line, whole in bounded_lines(fh):
                where = f"line {number}"
                if not whole:
                    if first and line.lstrip().startswith(b"["):
                        yield Rejected(where, ARRAY_FILE)
                        return  # the whole file is one array: its other lines say nothing more
                    first = False
                    yield Rejected(where, TOO_LONG)
                    continue
                if not line.strip():
                    continue
                record = _record(
                    line,
                    where,
                    first=first,
                    policy=policy,
                    agent=agent,
                    max_bytes=max_bytes,
                    id_prefix=prefix,
                )
                first = False
                yield record
                if isinstance(record, Rejected) and record.reason == ARRAY_FILE:
                    return
    except READ_ERRORS as e:
        raise ImportFailed(f"{os.fspath(path)}: read failed: {e}") from e


def bounded_lines(fh: io.BufferedIOBase, limit: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes, bool]]:
    """``(number, line, whole)`` for each line of ``fh``, holding at most about ``limit`` bytes.

    Numbers are 1-based and a UTF-8 byte order mark opening the file is
    dropped. A line of at most ``limit`` bytes (not counting its newline) comes
    whole, with its newline, and ``whole`` true. A longer one is never held:
    only its first bytes (more than ``limit``) come, with ``whole`` false, and
    the rest of it is skipped :data:`SKIP_BYTES` at a time.
    """
    number = 0
    while True:
        number += 1
        request = limit + 1 + (len(BOM) if number == 1 else 0)
        line = fh.readline(request)
        if not line:
            return
        ended = line.endswith(b"\n")
        complete = ended or len(line) < request  # else cut at the request: longer still
        if number == 1 and line.startswith(BOM):
            line = line[len(BOM) :]
        if complete and len(line) - ended <= limit:
            yield number, line, True
            continue
        yield number, line, False
        while not ended:
            chunk = fh.readline(SKIP_BYTES)
            ended = not chunk or chunk.endswith(b"\n")


def _record(
    line: bytes,
    where: str,
    *,
    first: bool,
    policy: Policy | None,
    agent: str | None,
    max_bytes: int | None,
    id_prefix: str | None = None,
) -> Record:
    """One whole, non-blank line as an event, or its rejection.

    On the file's first non-blank line, a JSON array (or what starts like one
    and is not valid JSON) is reported as an array file given as JSONL.
    """
    try:
        return check_size(parse_line(line, policy=policy, agent=agent, id_prefix=id_prefix), max_bytes)
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


def parse_line(
    line: bytes | str, *, policy: Policy | None = None, agent: str | None = None, id_prefix: str | None = None
) -> AuditEvent:
    """Turn one JSON line into an :class:`~aegis_stream.events.AuditEvent`.

    Raises :class:`InvalidEvent` with the reason when the line is not a valid event.
    """
    try:
        text = line.decode("utf-8") if isinstance(line, bytes) else line
    except UnicodeDecodeError:
        raise InvalidEvent("not valid UTF-8") from None
    try:
        raw = json_value(text, None)
    except json.JSONDecodeError as e:
        reason = f"not valid JSON ({e.msg} at column {e.colno})"
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
        # params and result data are JSON text. The row id makes a stable event id.
        row_id = raw.pop("id")
        if id_prefix and not raw.get("event_id") and isinstance(row_id, int | str) and str(row_id):
            raw["event_id"] = f"{id_prefix}-{row_id}"
        _json_text(raw, "result_data")
    _json_text(raw, "action_params")  # a string is never valid params
    fill_agent(raw, agent)
    classify(raw, policy)
    return parse_event(raw)
