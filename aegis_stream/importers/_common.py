"""Pieces shared by every importer: the rejection record, file opening,
JSON decoding and the size check of one record, and re-timing over a window.

Nothing here reads the clock: times come from the records or from the caller.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import os
import stat
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeAlias

from aegis_stream.errors import ImportFailed, InvalidEvent
from aegis_stream.events import AuditEvent
from aegis_stream.wire import encode

SQLITE_MAGIC = b"SQLite format 3\x00"
GZIP_MAGIC = b"\x1f\x8b"
# What a broken or truncated file can raise while it is being read.
READ_ERRORS: tuple[type[Exception], ...] = (OSError, EOFError, zlib.error)

PathLike: TypeAlias = "str | os.PathLike[str]"
# Why a pipe, device or directory is refused: detection and a spread's two
# passes read the input more than once, which only a regular file allows.
NOT_REGULAR = "not a regular file (a pipe, device or directory); save the input to a file and import that"
# The reason when something past JSON parsing (the policy, redaction) hits the recursion limit.
TOO_DEEP = "event: nested too deeply to be read"


@dataclass(frozen=True, slots=True)
class Rejected:
    """One input record that could not become an event; the import goes on.

    ``location`` says where it is in the file (``"line 17"``, ``"row id 42"``,
    ``"conversation 3 call call_abc"``) and ``reason`` why it was refused.
    """

    location: str
    reason: str


Record: TypeAlias = "AuditEvent | Rejected"


def check_regular_file(path: PathLike) -> None:
    """Raise :class:`ImportFailed` unless ``path`` is (a link to) a regular file.

    Checked with ``os.stat`` before anything is opened: reading a pipe would
    consume it (and opening a FIFO without a writer would block), and the
    importers read their input more than once.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        raise ImportFailed(f"{os.fspath(path)}: cannot read: {e.strerror or e}") from e
    if not stat.S_ISREG(mode):
        raise ImportFailed(f"{os.fspath(path)}: {NOT_REGULAR}")


def read_head(path: PathLike, size: int = 16) -> bytes:
    """Return the first ``size`` raw bytes of ``path``.

    Raises :class:`ImportFailed` if it is unreadable or not a regular file
    (:func:`check_regular_file`); every importer reads the head first.
    """
    check_regular_file(path)
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except OSError as e:
        raise ImportFailed(f"{os.fspath(path)}: cannot read: {e.strerror or e}") from e


@contextmanager
def open_binary(path: PathLike) -> Iterator[io.BufferedIOBase]:
    """Open ``path`` for binary reading, transparently decompressing gzip content.

    Compression is recognised by the gzip magic bytes, not by the file name.
    Opening errors become :class:`ImportFailed`.
    """
    compressed = read_head(path, 2) == GZIP_MAGIC
    try:
        fh: io.BufferedIOBase = gzip.open(path, "rb") if compressed else open(path, "rb")  # noqa: SIM115
    except OSError as e:
        raise ImportFailed(f"{os.fspath(path)}: cannot open: {e}") from e
    with fh:
        yield fh


def json_value(text: str, where: str | None) -> Any:
    """``json.loads(text)`` for one record; ``where`` (if any) opens the reasons.

    A syntax error propagates as :class:`json.JSONDecodeError`, for the caller
    to word. What ``json.loads`` refuses without a syntax error becomes
    :class:`InvalidEvent`: a number with more digits than Python converts
    (``sys.get_int_max_str_digits()``, a ``ValueError``) and nesting deeper
    than the interpreter's recursion limit (a ``RecursionError``).
    """
    prefix = f"{where}: " if where else ""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except ValueError:
        raise InvalidEvent(f"{prefix}{too_many_digits()}") from None
    except RecursionError:
        raise InvalidEvent(f"{prefix}JSON nested too deeply to be read") from None


def too_many_digits() -> str:
    """Why ``json`` refused a number: longer than Python's int conversion limit."""
    return f"a number has more than {sys.get_int_max_str_digits()} digits"


def check_size(event: AuditEvent, max_bytes: int | None) -> AuditEvent:
    """Return ``event`` if its wire encoding fits in ``max_bytes`` (no limit when None).

    Raises :class:`InvalidEvent` as :func:`aegis_stream.wire.encode` does
    (``"event: encoded size N bytes exceeds the limit of M"``), and also when
    the event cannot be encoded at all (e.g. an integer msgpack cannot carry).
    """
    if max_bytes is not None:
        encode(event, max_bytes)
    return event


def fill_agent(raw: MutableMapping[str, Any], agent: str | None) -> None:
    """Set ``agent_id`` to ``agent`` where the record has none (missing, null or empty)."""
    if agent and not raw.get("agent_id"):
        raw["agent_id"] = agent


def spread_time(index: int, count: int, spread_us: int, now_us: int) -> int:
    """The time of event ``index`` (0-based) of ``count`` spread over the window.

    Exact integer arithmetic: ``now_us - spread_us + index * spread_us // (count - 1)``,
    so the first event is at the window start and the last at ``now_us``;
    a single event is placed at ``now_us``. ``index`` is clamped to ``count - 1``.
    """
    if count <= 1:
        return now_us
    index = min(index, count - 1)
    return now_us - spread_us + index * spread_us // (count - 1)


def respace(source: Callable[[], Iterable[Record]], *, spread_us: int, now_us: int) -> Iterator[Record]:
    """Re-time the events of ``source()`` evenly over ``[now_us - spread_us, now_us]``.

    ``source`` is called twice: once to count the events, once to stream them.
    The first call happens immediately, so file-level errors surface here;
    rejections pass through unchanged (they are only yielded by the second pass).
    """
    if spread_us < 0:
        raise ValueError("spread_us must not be negative")
    first = source()
    return _respaced(first, source, spread_us, now_us)


def _respaced(
    first: Iterable[Record], source: Callable[[], Iterable[Record]], spread_us: int, now_us: int
) -> Iterator[Record]:
    count = sum(1 for record in first if isinstance(record, AuditEvent))
    seen = 0
    for record in source():
        if not isinstance(record, AuditEvent):
            yield record
            continue
        # spread_time clamps, in case the file grew between the passes.
        yield dataclasses.replace(record, ts_us=spread_time(seen, count, spread_us, now_us))
        seen += 1


def source_id_prefix(path: PathLike) -> str:
    """A stable event-id prefix from a file name: ``aegis_audit.db`` gives ``aegis_audit``.

    Rows that carry the reference's row id get ``<prefix>-<id>`` as their
    ``event_id``, so importing the same file twice counts its rows once.
    """
    name = os.path.basename(os.fspath(path))
    if name.lower().endswith(".gz"):
        name = name[:-3]
    stem, dot, _ext = name.rpartition(".")
    return (stem if dot and stem else name)[:100] or "import"
