"""Importers: turn audit files into validated events, one record at a time.

Three formats are understood, recognised by content:

* ``sqlite`` -- the reference's ``aegis_audit.db`` (table ``audit_log``);
* ``transcripts`` -- a JSON array of agent conversations (tau-bench shape);
* ``jsonl`` -- one event object per line (also the reference's ``export_jsonl``).

JSON inputs may be gzip-compressed. :func:`read_events` yields
:class:`~aegis_stream.events.AuditEvent` objects and, for records that cannot
be used (including, with ``max_bytes``, events too large for the stream),
:class:`Rejected` entries; only a file that is unreadable as a whole raises
:class:`~aegis_stream.errors.ImportFailed`. Nothing here reads the clock.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from aegis_stream.errors import ImportFailed
from aegis_stream.importers._common import (
    READ_ERRORS,
    SQLITE_MAGIC,
    PathLike,
    Record,
    Rejected,
    check_regular_file,
    open_binary,
    read_head,
    respace,
    spread_time,
)
from aegis_stream.importers.jsonl import read_jsonl
from aegis_stream.importers.sqlite import read_sqlite
from aegis_stream.importers.transcripts import NEEDS_POLICY, convert, id_prefix_for, load_conversations

if TYPE_CHECKING:
    from aegis_stream.policy import Policy

__all__ = [
    "FORMATS",
    "Record",
    "Rejected",
    "convert",
    "detect_format",
    "id_prefix_for",
    "load_conversations",
    "read_events",
    "read_jsonl",
    "read_sqlite",
    "spread_time",
]

FORMATS: tuple[str, ...] = ("jsonl", "sqlite", "transcripts")
DETECT_BYTES = 1024 * 1024


def detect_format(path: PathLike) -> str:
    """Guess the format of ``path`` from its content: ``"jsonl"``, ``"sqlite"`` or ``"transcripts"``.

    A SQLite header means ``sqlite``; a JSON array whose first element is an
    object with ``traj`` or ``messages`` means ``transcripts``; anything else
    (an array of event objects too) is ``jsonl``, whose importer then says
    what is wrong. Gzip content is decompressed first. Only the first MiB is
    examined, unless the array's first element is larger. Raises
    :class:`ImportFailed` if the file cannot be read or is not a regular file.
    """
    if read_head(path).startswith(SQLITE_MAGIC):
        return "sqlite"
    head = _read_head_of(path)
    if head.startswith(SQLITE_MAGIC):
        raise ImportFailed(f"{os.fspath(path)}: a compressed SQLite database: decompress it first")
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if not text.startswith("["):
        return "jsonl"
    try:
        first = _DETECT_DECODER.raw_decode(text[1:].lstrip())[0]
    except (ValueError, RecursionError):
        if len(head) < DETECT_BYTES:
            return "jsonl"  # the whole file was read: not JSON
        first = _first_element(path)  # a first element larger than the sample
    if isinstance(first, dict) and ("traj" in first or "messages" in first):
        return "transcripts"
    return "jsonl"


def _read_head_of(path: PathLike) -> bytes:
    """Up to :data:`DETECT_BYTES` of the (decompressed) content; what could be read of a truncated file."""
    chunks: list[bytes] = []
    size = 0
    try:
        with open_binary(path) as fh:
            while size < DETECT_BYTES:
                # small reads: a truncated gzip raises on the read that meets the cut,
                # and what that read had decompressed is lost with it
                chunk = fh.read(min(4096, DETECT_BYTES - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
    except READ_ERRORS as e:
        if not chunks:
            raise ImportFailed(f"{os.fspath(path)}: read failed: {e}") from e
    return b"".join(chunks)


def _any_int(_digits: str) -> int:
    return 0  # detection needs no number, and int() refuses very long ones


# Reads the first element without converting integers.
_DETECT_DECODER = json.JSONDecoder(parse_int=_any_int)


def _first_element(path: PathLike) -> object:
    """The first element of a JSON array file (parsing it whole), or None if it is not one."""
    try:
        data = load_conversations(path)
    except ImportFailed:
        return None
    return data[0] if data else None


def read_events(
    path: PathLike,
    *,
    fmt: str | None = None,
    policy: Policy | None = None,
    agent: str | None = None,
    spread_us: int | None = None,
    now_us: int,
    max_bytes: int | None = None,
) -> Iterator[Record]:
    """Read ``path`` as events (and :class:`Rejected` records), in file order.

    ``fmt`` is detected when not given. ``policy`` classifies records without
    a risk level (required for transcripts). ``agent`` fills missing agent ids
    (for transcripts it is a template with ``{trial}``/``{task}``). With
    ``spread_us`` the events are re-timed evenly over
    ``[now_us - spread_us, now_us]`` keeping their order; the file is then
    read twice. ``now_us`` is the caller's current time in UTC epoch
    microseconds. With ``max_bytes``, an event whose wire encoding
    (:func:`aegis_stream.wire.encode`) is larger becomes a :class:`Rejected`
    record, so that it cannot fail a whole batch later; the check is made
    before any re-timing. Transcript event ids start with the file's name
    (:func:`id_prefix_for`). File-level problems raise :class:`ImportFailed`
    when this is called (or, for a file broken half-way, while iterating);
    anything but a regular file (a pipe, a device, a directory) is refused
    before it is read, since detection and a spread read the input again.
    """
    check_regular_file(path)
    if fmt is None:
        fmt = detect_format(path)
    if fmt not in FORMATS:
        raise ValueError(f"unknown import format {fmt!r}; expected one of {', '.join(FORMATS)}")

    if fmt == "transcripts":
        # Parsed once: both passes of a spread walk the same in-memory conversations.
        if policy is None:
            raise ImportFailed(NEEDS_POLICY)
        conversations, classifier, prefix = load_conversations(path), policy, id_prefix_for(path)

        def source() -> Iterable[Record]:
            return convert(
                conversations,
                policy=classifier,
                agent=agent,
                now_us=now_us,
                id_prefix=prefix,
                max_bytes=max_bytes,
            )

    elif fmt == "sqlite":

        def source() -> Iterable[Record]:
            return read_sqlite(path, policy=policy, agent=agent, max_bytes=max_bytes)

    else:

        def source() -> Iterable[Record]:
            return read_jsonl(path, policy=policy, agent=agent, max_bytes=max_bytes)

    if spread_us is None:
        return iter(source())
    return respace(source, spread_us=spread_us, now_us=now_us)
