"""Factories for importer tests: reference-shaped SQLite databases, JSONL files, the policy."""

from __future__ import annotations

import gzip
import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from aegis_stream.policy import Policy, load_policy

ROOT = Path(__file__).resolve().parents[2]
TAU_DIR = ROOT / "tests" / "data" / "tau-bench"
TAU_FILE = TAU_DIR / "gpt-4o-airline.json.gz"
POLICY_FILE = ROOT / "aegis_stream" / "data" / "airline-policy.yaml"
SAMPLE_FILE = ROOT / "aegis_stream" / "data" / "airline-sample.jsonl.gz"
NOW_US = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp()) * 1_000_000

# The audit_log table exactly as section 1.1 of the reference document describes it.
FULL_SCHEMA = """
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    action_type TEXT NOT NULL,
    action_target TEXT NOT NULL,
    action_params TEXT,
    action_desc TEXT,
    risk_level TEXT NOT NULL,
    approval TEXT NOT NULL,
    matched_rule TEXT,
    human_decision TEXT,
    result_status TEXT,
    result_data TEXT,
    result_error TEXT,
    agent_id TEXT,
    parent_agent_id TEXT,
    chain_id TEXT,
    chain_depth INTEGER DEFAULT 0
);
CREATE INDEX idx_session ON audit_log(session_id);
CREATE INDEX idx_timestamp ON audit_log(timestamp);
CREATE INDEX idx_agent ON audit_log(agent_id);
CREATE INDEX idx_action_type ON audit_log(action_type);
CREATE TABLE governance_tenure (first_activated TEXT, total_actions INT, threats_blocked INT);
"""
# An older database: the same table before agent/chain columns were added.
OLD_SCHEMA = """
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    action_type TEXT NOT NULL,
    action_target TEXT NOT NULL,
    action_params TEXT,
    action_desc TEXT,
    risk_level TEXT NOT NULL,
    approval TEXT NOT NULL,
    matched_rule TEXT,
    human_decision TEXT,
    result_status TEXT,
    result_data TEXT,
    result_error TEXT
);
"""


def reference_row(**overrides: Any) -> dict[str, Any]:
    """A row as the reference's ``log()`` writes it (JSON text columns), minus the id."""
    row: dict[str, Any] = {
        "session_id": "abc123def456",
        "timestamp": "2026-11-30T12:00:00.250000+00:00",
        "action_type": "read",
        "action_target": "crm",
        "action_params": json.dumps({"query": "x"}),
        "action_desc": None,
        "risk_level": "LOW",
        "approval": "auto",
        "matched_rule": "reads",
        "human_decision": None,
        "result_status": "success",
        "result_data": json.dumps({"rows": 3}),
        "result_error": None,
        "agent_id": "agent-a",
        "parent_agent_id": None,
        "chain_id": None,
        "chain_depth": 0,
    }
    row.update(overrides)
    return row


def make_db(path: Path, rows: Iterable[Mapping[str, Any]], *, old_schema: bool = False) -> Path:
    """Create a reference-shaped ``aegis_audit.db`` at ``path`` holding ``rows``.

    A row may carry ``id`` to force its row id. With ``old_schema`` the last
    four columns do not exist and are dropped from the rows.
    """
    conn = sqlite3.connect(path)
    try:
        conn.executescript(OLD_SCHEMA if old_schema else FULL_SCHEMA)
        for row in rows:
            values = dict(row)
            if old_schema:
                for name in ("agent_id", "parent_agent_id", "chain_id", "chain_depth"):
                    values.pop(name, None)
            names = ", ".join(values)
            marks = ", ".join("?" for _ in values)
            conn.execute(f"INSERT INTO audit_log ({names}) VALUES ({marks})", list(values.values()))
        conn.commit()
    finally:
        conn.close()
    return path


def write_lines(path: Path, lines: Iterable[str | Mapping[str, Any]], *, compress: bool = False) -> Path:
    """Write JSONL: mappings are dumped, strings written verbatim (for broken lines)."""
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    return path


def load_original() -> list[dict[str, Any]]:
    """The tau-bench airline conversations, read with plain json + gzip."""
    with gzip.open(TAU_FILE, "rt", encoding="utf-8") as fh:
        data: list[dict[str, Any]] = json.load(fh)
    return data


@pytest.fixture(scope="session")
def policy() -> Policy:
    """The airline policy shipped with the package."""
    return load_policy(POLICY_FILE)


@pytest.fixture(scope="session")
def original() -> list[dict[str, Any]]:
    """The original tau-bench conversations (parsed once per session)."""
    return load_original()


@pytest.fixture
def db_factory(tmp_path: Path) -> Callable[..., Path]:
    """``db_factory(rows, old_schema=False, name="aegis_audit.db")`` -> path of a new database."""

    def build(
        rows: Iterable[Mapping[str, Any]], *, old_schema: bool = False, name: str = "aegis_audit.db"
    ) -> Path:
        return make_db(tmp_path / name, rows, old_schema=old_schema)

    return build
