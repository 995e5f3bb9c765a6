"""JSON Lines import: event lines, reference export rows, rejections, policy fill, gzip."""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from aegis_stream.errors import ImportFailed
from aegis_stream.events import REDACTED, AuditEvent, parse_timestamp
from aegis_stream.importers import Rejected, read_events
from aegis_stream.importers.jsonl import read_jsonl
from aegis_stream.policy import Decision, Policy
from tests.importers.conftest import NOW_US, make_db, reference_row, write_lines


def event(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "session_id": "s-1",
        "timestamp": "2026-11-30T12:00:00+00:00",
        "action_type": "get_user_details",
        "action_target": "mia_li_3668",
        "action_params": {"user_id": "mia_li_3668"},
        "risk_level": "LOW",
        "approval": "auto",
        "matched_rule": "lookups",
        "result_status": "success",
        "agent_id": "agent-a",
    }
    base.update(overrides)
    return base


def records(path: Path, **kwargs: Any) -> list[AuditEvent | Rejected]:
    return list(read_events(path, now_us=NOW_US, **kwargs))


def test_good_lines_and_blank_lines(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.jsonl", [event(), "", "   ", event(session_id="s-2", chain_depth=2)])
    got = records(path)
    assert [type(r) for r in got] == [AuditEvent, AuditEvent]
    first, second = got
    assert isinstance(first, AuditEvent) and isinstance(second, AuditEvent)
    assert first.session_id == "s-1"
    assert first.ts_us == parse_timestamp("2026-11-30T12:00:00Z")
    assert first.action_params == {"user_id": "mia_li_3668"}
    assert first.matched_rule == "lookups"
    assert second.session_id == "s-2" and second.chain_depth == 2


def test_reference_export_row_with_id(tmp_path: Path) -> None:
    row = {"id": 42, **reference_row(result_data=json.dumps({"rows": [1, 2]}), chain_depth=None)}
    path = write_lines(tmp_path / "export.jsonl", [row])
    (got,) = records(path)
    assert isinstance(got, AuditEvent)
    assert got.action_params == {"query": "x"}
    assert got.result_data == {"rows": [1, 2]}
    assert got.chain_depth == 0
    assert got.timestamp == "2026-11-30T12:00:00.250000+00:00"


def test_bad_lines_are_rejected_with_line_numbers(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "bad.jsonl",
        [
            event(session_id="ok-1"),  # line 1
            "{not json",  # line 2
            "",  # line 3 (blank, skipped)
            event(action_target=17),  # line 4: wrong type
            event(risk_level="EXTREME"),  # line 5: unknown risk
            "[1, 2]",  # line 6: not an object
            event(timestamp="yesterday"),  # line 7
            event(surprise=True),  # line 8: unknown field
            {"id": 3, **reference_row(action_params="{oops")},  # line 9: params not JSON
            event(session_id="ok-2"),  # line 10
        ],
    )
    got = records(path)
    assert [r.session_id for r in got if isinstance(r, AuditEvent)] == ["ok-1", "ok-2"]
    rejected = [r for r in got if isinstance(r, Rejected)]
    assert [r.location for r in rejected] == [
        "line 2",
        "line 4",
        "line 5",
        "line 6",
        "line 7",
        "line 8",
        "line 9",
    ]
    reasons = {r.location: r.reason for r in rejected}
    assert "not valid JSON" in reasons["line 2"]
    assert reasons["line 4"].startswith("action_target")
    assert reasons["line 5"].startswith("risk_level") and "EXTREME" in reasons["line 5"]
    assert "object" in reasons["line 6"]
    assert reasons["line 7"].startswith("timestamp")
    assert "surprise" in reasons["line 8"]
    assert reasons["line 9"].startswith("action_params")


def test_invalid_utf8_line_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "latin.jsonl"
    path.write_bytes(json.dumps(event()).encode() + b"\n\xff\xfe{}\n")
    got = records(path)
    assert isinstance(got[0], AuditEvent)
    assert got[1] == Rejected("line 2", "line: not valid UTF-8")


def test_secret_params_are_redacted(tmp_path: Path) -> None:
    params = {"user": "bob", "password": "hunter2", "auth": {"api_key": "k", "list": [{"Token": "t"}]}}
    path = write_lines(tmp_path / "s.jsonl", [event(action_params=params)])
    (got,) = records(path)
    assert isinstance(got, AuditEvent)
    assert got.action_params == {
        "user": "bob",
        "password": REDACTED,
        "auth": {"api_key": REDACTED, "list": [{"Token": REDACTED}]},
    }


def test_missing_risk_without_policy_is_rejected(tmp_path: Path) -> None:
    line = event()
    del line["risk_level"]
    path = write_lines(tmp_path / "r.jsonl", [line])
    (got,) = records(path)
    assert isinstance(got, Rejected)
    assert got.location == "line 1" and got.reason.startswith("risk_level")


class SpyPolicy:
    """Delegates to the real policy and remembers the ``now`` it was given."""

    def __init__(self, inner: Policy) -> None:
        self.inner = inner
        self.seen: list[datetime] = []

    def evaluate(self, *args: Any, now: datetime, **kwargs: Any) -> Decision:
        self.seen.append(now)
        return self.inner.evaluate(*args, now=now, **kwargs)


def test_missing_classification_filled_by_policy(tmp_path: Path, policy: Policy) -> None:
    unrated = event(
        action_type="cancel_reservation", action_target="ZFA04Y", timestamp="2026-11-29T08:30:00Z"
    )
    for name in ("risk_level", "approval", "matched_rule"):
        del unrated[name]
    half = event(action_type="book_reservation", risk_level="LOW", approval=None, matched_rule=None)
    spy = SpyPolicy(policy)
    got = records(write_lines(tmp_path / "p.jsonl", [unrated, half]), policy=spy)
    first, second = got
    assert isinstance(first, AuditEvent) and isinstance(second, AuditEvent)
    assert (first.risk_level, first.approval, first.matched_rule) == ("HIGH", "approve", "cancellation")
    # Only the missing fields are filled: the given risk level stays.
    assert (second.risk_level, second.approval, second.matched_rule) == ("LOW", "approve", "booking")
    assert spy.seen[0] == datetime.fromisoformat("2026-11-29T08:30:00+00:00")
    assert spy.seen[0].utcoffset() is not None


def test_agent_fills_only_missing_agent_ids(tmp_path: Path) -> None:
    lines = [event(agent_id="keep"), event(agent_id=""), event(agent_id=None)]
    del lines[2]["agent_id"]
    got = records(write_lines(tmp_path / "g.jsonl", lines), agent="imported")
    assert [r.agent_id for r in got if isinstance(r, AuditEvent)] == ["keep", "imported", "imported"]


def test_gzip_input(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "z.jsonl.gz", [event(), "garbage", event()], compress=True)
    got = records(path)
    assert [type(r).__name__ for r in got] == ["AuditEvent", "Rejected", "AuditEvent"]
    assert isinstance(got[1], Rejected) and got[1].location == "line 2"


def test_truncated_gzip_fails_while_reading(tmp_path: Path) -> None:
    data = gzip.compress(("\n".join(json.dumps(event(session_id=f"s{i}")) for i in range(500))).encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImportFailed) as info:
        list(read_jsonl(path))
    assert info.value.__cause__ is not None


def test_missing_file_fails(tmp_path: Path) -> None:
    with pytest.raises(ImportFailed) as info:
        list(read_events(tmp_path / "nope.jsonl", fmt="jsonl", now_us=NOW_US))
    assert isinstance(info.value.__cause__, OSError)


def test_sqlite_declared_as_jsonl_fails(tmp_path: Path) -> None:
    db = make_db(tmp_path / "a.db", [reference_row()])
    with pytest.raises(ImportFailed, match="SQLite"):
        list(read_events(db, fmt="jsonl", now_us=NOW_US))
