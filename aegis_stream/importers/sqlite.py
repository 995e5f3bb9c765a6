"""Import the reference's SQLite audit database (``aegis_audit.db``, table ``audit_log``).

The database is opened read-only through a ``file:...?mode=ro`` URI and read
in ``id`` order with a streaming cursor, so memory stays bounded. Databases
created before the agent/chain columns existed import too.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aegis_stream.classify import classify
from aegis_stream.errors import ImportFailed, InvalidEvent
from aegis_stream.events import AuditEvent, parse_event
from aegis_stream.importers._common import (
    SQLITE_MAGIC,
    TOO_DEEP,
    PathLike,
    Record,
    Rejected,
    check_regular_file,
    check_size,
    fill_agent,
    json_value,
    read_head,
    source_id_prefix,
)

if TYPE_CHECKING:
    from aegis_stream.policy import Policy

TABLE = "audit_log"
# The reference's columns in table order; the last four came later (ALTER TABLE).
COLUMNS: tuple[str, ...] = (
    "id",
    "session_id",
    "timestamp",
    "action_type",
    "action_target",
    "action_params",
    "action_desc",
    "risk_level",
    "approval",
    "matched_rule",
    "human_decision",
    "result_status",
    "result_data",
    "result_error",
    "agent_id",
    "parent_agent_id",
    "chain_id",
    "chain_depth",
)
REQUIRED_COLUMNS = frozenset(
    ("id", "session_id", "timestamp", "action_type", "action_target", "risk_level", "approval")
)


def connect_readonly(path: PathLike) -> sqlite3.Connection:
    """Open ``path`` read-only (``mode=ro`` URI); :class:`ImportFailed` if impossible.

    Only a regular file is opened (:func:`check_regular_file`).
    """
    check_regular_file(path)
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    try:
        return sqlite3.connect(uri, uri=True)
    except sqlite3.Error as e:
        raise ImportFailed(f"{os.fspath(path)}: cannot open the database: {e}") from e


def table_columns(path: PathLike) -> tuple[str, ...]:
    """The known ``audit_log`` columns present in the database, in reference order.

    Raises :class:`ImportFailed` if the file is not a SQLite database or has no
    usable ``audit_log`` table.
    """
    if not read_head(path).startswith(SQLITE_MAGIC):
        raise ImportFailed(f"{os.fspath(path)}: not a SQLite database")
    try:
        with closing(connect_readonly(path)) as conn:
            info = conn.execute(f"PRAGMA table_info({TABLE})").fetchall()
    except sqlite3.Error as e:
        raise ImportFailed(f"{os.fspath(path)}: cannot read the database: {e}") from e
    present = {str(row[1]) for row in info}
    if not present:
        raise ImportFailed(f"{os.fspath(path)}: no {TABLE} table")
    missing = sorted(REQUIRED_COLUMNS - present)
    if missing:
        raise ImportFailed(f"{os.fspath(path)}: {TABLE} lacks the column(s) {', '.join(missing)}")
    return tuple(name for name in COLUMNS if name in present)


def read_sqlite(
    path: PathLike,
    *,
    policy: Policy | None = None,
    agent: str | None = None,
    max_bytes: int | None = None,
) -> Iterator[Record]:
    """Stream the rows of ``audit_log`` in id order as events or :class:`Rejected`.

    Columns map 1:1 to event fields; ``action_params`` and ``result_data`` are
    decoded from JSON text, a NULL ``chain_depth`` is 0, and ``agent`` fills
    a missing ``agent_id``. File-level problems raise :class:`ImportFailed`
    immediately; a row that fails validation, or whose wire encoding is larger
    than ``max_bytes`` (when given), yields ``Rejected("row id N", ...)``.
    """
    columns = table_columns(path)
    return _rows(path, columns, policy, agent, max_bytes)


def _rows(
    path: PathLike,
    columns: tuple[str, ...],
    policy: Policy | None,
    agent: str | None,
    max_bytes: int | None,
) -> Iterator[Record]:
    query = f"SELECT {', '.join(columns)} FROM {TABLE} ORDER BY id"  # noqa: S608 (fixed names)
    prefix = source_id_prefix(path)
    try:
        with closing(connect_readonly(path)) as conn:
            for row in conn.execute(query):
                raw = dict(zip(columns, row, strict=True))
                row_id = raw.pop("id")
                where = f"row id {row_id}"
                raw["event_id"] = f"{prefix}-{row_id}"  # stable: a re-import counts once
                record: Record
                try:
                    record = check_size(row_to_event(raw, policy=policy, agent=agent), max_bytes)
                except InvalidEvent as e:
                    record = Rejected(where, e.reason)
                except RecursionError:  # parsing is guarded; this is for whatever walks the values
                    record = Rejected(where, TOO_DEEP)
                yield record
    except sqlite3.Error as e:
        raise ImportFailed(f"{os.fspath(path)}: read failed: {e}") from e


def _decode(raw: dict[str, Any], name: str, empty: Any) -> None:
    value = raw.get(name)
    if value is None:
        raw[name] = empty
        return
    if not isinstance(value, str):
        raise InvalidEvent(f"{name}: expected JSON text, got {type(value).__name__}")
    try:
        raw[name] = json_value(value, name)
    except json.JSONDecodeError:
        raise InvalidEvent(f"{name}: not valid JSON text") from None


def row_to_event(
    raw: dict[str, Any], *, policy: Policy | None = None, agent: str | None = None
) -> AuditEvent:
    """Validate one ``audit_log`` row (without its id) into an event.

    Raises :class:`InvalidEvent` with the reason when the row is unusable.
    """
    _decode(raw, "action_params", {})
    _decode(raw, "result_data", None)
    if raw.get("chain_depth") is None:
        raw["chain_depth"] = 0
    fill_agent(raw, agent)
    classify(raw, policy)
    return parse_event(raw)
