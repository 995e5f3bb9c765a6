"""SQLite import of the reference's ``audit_log`` table, built here with plain sqlite3."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aegis_stream.errors import ImportFailed
from aegis_stream.events import REDACTED, AuditEvent, parse_timestamp
from aegis_stream.importers import Rejected, read_events
from aegis_stream.importers.sqlite import read_sqlite
from aegis_stream.policy import Policy
from tests.importers.conftest import FULL_SCHEMA, NOW_US, reference_row

DbFactory = Callable[..., Path]


def read(path: Path, **kwargs: Any) -> list[AuditEvent | Rejected]:
    return list(read_events(path, now_us=NOW_US, **kwargs))


def test_full_schema_maps_every_column(db_factory: DbFactory) -> None:
    rows = [
        reference_row(
            id=7,
            session_id="sess-b",
            timestamp="2026-11-30T12:00:05+00:00",
            action_type="send_certificate",
            action_target="mei_brown_7075",
            action_params=json.dumps({"user_id": "mei_brown_7075", "amount": 200, "secret": "s"}),
            action_desc="goodwill",
            risk_level="HIGH",
            approval="approve",
            matched_rule="certificate",
            human_decision="denied",
            result_status="denied",
            result_data=None,
            result_error="user declined",
            agent_id="agent-b",
            parent_agent_id="planner",
            chain_id="chain-9",
            chain_depth=3,
        ),
        reference_row(id=3, session_id="sess-a"),
    ]
    got = read(db_factory(rows))
    assert all(isinstance(r, AuditEvent) for r in got)
    first, second = got
    assert isinstance(first, AuditEvent) and isinstance(second, AuditEvent)
    # Read in id order, not insertion order.
    assert [first.session_id, second.session_id] == ["sess-a", "sess-b"]
    assert first.action_params == {"query": "x"}
    assert first.result_data == {"rows": 3}
    assert first.ts_us == parse_timestamp("2026-11-30T12:00:00.250000+00:00")
    assert (first.risk_level, first.approval, first.result_status) == ("LOW", "auto", "success")
    assert second.ts_us == parse_timestamp("2026-11-30T12:00:05Z")
    assert second.action_params == {"user_id": "mei_brown_7075", "amount": 200, "secret": REDACTED}
    assert second.action_desc == "goodwill"
    assert (second.risk_level, second.approval, second.matched_rule) == ("HIGH", "approve", "certificate")
    assert (second.human_decision, second.result_status, second.result_error) == (
        "denied",
        "denied",
        "user declined",
    )
    assert second.result_data is None
    assert (second.agent_id, second.parent_agent_id, second.chain_id, second.chain_depth) == (
        "agent-b",
        "planner",
        "chain-9",
        3,
    )


def test_older_schema_without_agent_columns(db_factory: DbFactory) -> None:
    path = db_factory([reference_row(), reference_row(session_id="s2")], old_schema=True)
    columns = [r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(audit_log)")]
    assert len(columns) == 14 and "agent_id" not in columns
    got = read(path)
    assert len(got) == 2
    for record in got:
        assert isinstance(record, AuditEvent)
        assert (record.agent_id, record.parent_agent_id, record.chain_id, record.chain_depth) == (
            None,
            None,
            None,
            0,
        )
    filled = read(path, agent="legacy-agent")
    assert [r.agent_id for r in filled if isinstance(r, AuditEvent)] == ["legacy-agent", "legacy-agent"]


def test_agent_fills_only_missing(db_factory: DbFactory) -> None:
    path = db_factory([reference_row(agent_id="a"), reference_row(agent_id=None)])
    got = read(path, agent="filled")
    assert [r.agent_id for r in got if isinstance(r, AuditEvent)] == ["a", "filled"]


def test_null_columns(db_factory: DbFactory) -> None:
    path = db_factory([reference_row(chain_depth=None, action_params=None, result_data=None)])
    (got,) = read(path)
    assert isinstance(got, AuditEvent)
    assert (got.chain_depth, got.action_params, got.result_data) == (0, {}, None)


def test_bad_rows_are_rejected_and_import_goes_on(db_factory: DbFactory) -> None:
    path = db_factory(
        [
            reference_row(id=1),
            reference_row(id=2, action_params="{broken"),
            reference_row(id=3, result_data="not json"),
            reference_row(id=4, risk_level="SEVERE"),
            reference_row(id=5, timestamp="not a time"),
            reference_row(id=6, approval="maybe"),
            reference_row(id=7, session_id="last"),
        ]
    )
    got = read(path)
    assert [r.session_id for r in got if isinstance(r, AuditEvent)] == ["abc123def456", "last"]
    rejected = {r.location: r.reason for r in got if isinstance(r, Rejected)}
    assert list(rejected) == ["row id 2", "row id 3", "row id 4", "row id 5", "row id 6"]
    assert rejected["row id 2"].startswith("action_params")
    assert rejected["row id 3"].startswith("result_data")
    assert rejected["row id 4"].startswith("risk_level")
    assert rejected["row id 5"].startswith("timestamp")
    assert rejected["row id 6"].startswith("approval")


def test_unrated_rows_use_the_policy(db_factory: DbFactory, policy: Policy) -> None:
    path = db_factory([reference_row(action_type="cancel_reservation", risk_level="", approval="")])
    (without,) = read(path)
    assert isinstance(without, Rejected) and without.location == "row id 1"
    (classified,) = read(path, policy=policy)
    assert isinstance(classified, AuditEvent)
    assert (classified.risk_level, classified.approval) == ("HIGH", "approve")
    assert classified.matched_rule == "reads"  # the stored rule is kept


def test_database_is_not_modified(db_factory: DbFactory) -> None:
    path = db_factory([reference_row() for _ in range(50)])
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    assert len(read(path, spread_us=60_000_000)) == 50
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert not Path(f"{path}-journal").exists()


def test_spread_over_sqlite(db_factory: DbFactory) -> None:
    path = db_factory([reference_row(id=i, session_id=f"s{i}") for i in range(1, 11)])
    got = [r for r in read(path, spread_us=9_000_000) if isinstance(r, AuditEvent)]
    assert [r.session_id for r in got] == [f"s{i}" for i in range(1, 11)]
    assert [r.ts_us for r in got] == [NOW_US - 9_000_000 + k * 1_000_000 for k in range(10)]


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "fake.db"
    path.write_text("hello")
    with pytest.raises(ImportFailed, match="not a SQLite database"):
        read_sqlite(path)


def test_database_without_audit_table(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(ImportFailed, match="audit_log"):
        read(path, fmt="sqlite")


def test_corrupt_database_fails_with_cause(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.db"
    path.write_bytes(b"SQLite format 3\x00" + b"\x07" * 4000)
    with pytest.raises(ImportFailed) as info:
        read(path)
    assert isinstance(info.value.__cause__, sqlite3.Error)


def test_missing_database(tmp_path: Path) -> None:
    with pytest.raises(ImportFailed):
        read(tmp_path / "absent.db", fmt="sqlite")


def test_wal_database_with_a_live_writer(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    writer = sqlite3.connect(path)
    try:
        writer.execute("PRAGMA journal_mode=WAL")
        writer.executescript(FULL_SCHEMA)
        row = reference_row(session_id="in-wal")
        writer.execute(
            f"INSERT INTO audit_log ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
            list(row.values()),
        )
        writer.commit()
        (got,) = read(path)
        assert isinstance(got, AuditEvent) and got.session_id == "in-wal"
    finally:
        writer.close()


def test_hostile_json_text_is_rejected_per_row(db_factory: DbFactory) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    path = db_factory(
        [
            reference_row(id=1, session_id="first"),
            reference_row(id=2, action_params='{"a": ' * 100_000 + "1" + "}" * 100_000),
            reference_row(id=3, result_data=deep),
            reference_row(id=4, action_params='{"n": ' + "1" * 4301 + "}"),
            reference_row(id=5, result_data="-" + "2" * 5000),
            reference_row(id=6, action_params=json.dumps({"n": 2**64})),
            reference_row(id=7, session_id="last"),
        ]
    )
    got = read(path)
    assert [r.session_id for r in got if isinstance(r, AuditEvent)] == ["first", "last"]
    rejected = {r.location: r.reason for r in got if isinstance(r, Rejected)}
    assert rejected == {
        "row id 2": "action_params: JSON nested too deeply to be read",
        "row id 3": "result_data: JSON nested too deeply to be read",
        "row id 4": "action_params: a number has more than 4300 digits",
        "row id 5": "result_data: a number has more than 4300 digits",
        "row id 6": rejected["row id 6"],
    }
    assert rejected["row id 6"].startswith("action_params")  # beyond 64 bits
