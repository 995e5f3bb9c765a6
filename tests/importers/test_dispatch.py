"""The dispatcher: format detection, spreading over a window, file-level failures."""

from __future__ import annotations

import gzip
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from aegis_stream.errors import ImportFailed
from aegis_stream.events import AuditEvent
from aegis_stream.importers import Rejected, detect_format, read_events, spread_time
from aegis_stream.policy import Policy
from tests.importers.conftest import NOW_US, TAU_FILE, make_db, reference_row, write_lines

LINE: dict[str, Any] = {
    "session_id": "s",
    "timestamp": "2020-01-01T00:00:00Z",
    "action_type": "read",
    "action_target": "t",
    "risk_level": "LOW",
    "approval": "auto",
}


def test_detects_sqlite(tmp_path: Path) -> None:
    assert detect_format(make_db(tmp_path / "audit.jsonl", [reference_row()])) == "sqlite"


def test_detects_transcripts_plain_and_gzip(tmp_path: Path) -> None:
    assert detect_format(TAU_FILE) == "transcripts"
    plain = tmp_path / "conv.txt"
    plain.write_text('  [ {"messages": [{"role": "user", "content": "hi"}]} ]')
    assert detect_format(plain) == "transcripts"
    # First element bigger than the sample that is examined.
    big = tmp_path / "big.json.gz"
    big.write_bytes(gzip.compress(json.dumps([{"info": "x" * 2_000_000, "traj": []}]).encode(), mtime=0))
    assert detect_format(big) == "transcripts"


def test_detects_jsonl(tmp_path: Path) -> None:
    assert detect_format(write_lines(tmp_path / "a.json", [LINE])) == "jsonl"
    assert detect_format(write_lines(tmp_path / "a.gz", [LINE], compress=True)) == "jsonl"
    array_of_events = tmp_path / "events.json"
    array_of_events.write_text(json.dumps([LINE]))
    assert detect_format(array_of_events) == "jsonl"
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert detect_format(empty) == "jsonl"
    assert list(read_events(empty, now_us=NOW_US)) == []


def test_detects_arrays_of_events_as_jsonl(tmp_path: Path) -> None:
    # Also with a number int() refuses in the first element: detection does not convert it.
    huge = tmp_path / "huge.json"
    huge.write_text("[" + json.dumps(LINE)[:-1] + ', "chain_depth": ' + "9" * 5000 + "}]")
    assert detect_format(huge) == "jsonl"
    (got,) = read_events(huge, now_us=NOW_US)
    assert got == Rejected("line 1", "a number has more than 4300 digits")
    # Pretty-printed, and with a first element larger than the sample examined.
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps([dict(LINE, action_desc="d" * 4000) for _ in range(300)], indent=2))
    assert detect_format(pretty) == "jsonl"
    big = tmp_path / "big.json.gz"
    first = dict(LINE, action_params={"blob": "b" * 2_000_000})
    big.write_bytes(gzip.compress(json.dumps([first, LINE]).encode(), mtime=0))
    assert detect_format(big) == "jsonl"
    # Conversations in an array are still transcripts, even with a huge number in them.
    conv = tmp_path / "conv.json"
    conv.write_text('[{"task_id": 1, "trial": ' + "1" * 5000 + ', "traj": []}]')
    assert detect_format(conv) == "transcripts"


def test_detection_survives_deep_nesting(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert detect_format(deep) == "jsonl"
    (got,) = read_events(deep, now_us=NOW_US)
    assert got == Rejected("line 1", "JSON nested too deeply to be read")
    # A deep first element larger than the sample: parsed whole, still no RecursionError.
    big = tmp_path / "deep.json.gz"
    padding = json.dumps({"pad": "p" * 1_100_000})
    big.write_bytes(gzip.compress(("[[" + padding + ", " + "[" * 100_000 + "]" * 100_000 + "]]").encode()))
    assert detect_format(big) == "jsonl"


def test_detected_formats_are_used(tmp_path: Path, policy: Policy) -> None:
    db = make_db(tmp_path / "x.bin", [reference_row()])
    assert [type(r) for r in read_events(db, now_us=NOW_US)] == [AuditEvent]
    gz = write_lines(tmp_path / "y.bin", [LINE], compress=True)
    assert [type(r) for r in read_events(gz, now_us=NOW_US)] == [AuditEvent]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImportFailed) as info:
        detect_format(tmp_path / "missing")
    assert isinstance(info.value.__cause__, FileNotFoundError)
    with pytest.raises(ImportFailed):
        read_events(tmp_path / "missing", now_us=NOW_US)


def test_unknown_format_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown import format"):
        read_events(write_lines(tmp_path / "a", [LINE]), fmt="csv", now_us=NOW_US)


def test_spread_first_last_monotonic(tmp_path: Path) -> None:
    lines: list[Any] = [dict(LINE, session_id=f"s{i}") for i in range(7)]
    lines.insert(3, "not json")
    window = 1_000_000_007  # not a multiple of the gaps: exercises the integer arithmetic
    got = list(read_events(write_lines(tmp_path / "a", lines), spread_us=window, now_us=NOW_US))
    assert isinstance(got[3], Rejected) and got[3].location == "line 4"
    events = [r for r in got if isinstance(r, AuditEvent)]
    assert [e.session_id for e in events] == [f"s{i}" for i in range(7)]
    times = [e.ts_us for e in events]
    assert times[0] == NOW_US - window and times[-1] == NOW_US
    assert all(a < b for a, b in itertools.pairwise(times))
    assert times == [NOW_US - window + k * window // 6 for k in range(7)]


def test_spread_single_and_zero(tmp_path: Path) -> None:
    (only,) = read_events(write_lines(tmp_path / "a", [LINE]), spread_us=10**9, now_us=NOW_US)
    assert isinstance(only, AuditEvent) and only.ts_us == NOW_US
    same = list(read_events(write_lines(tmp_path / "b", [LINE, LINE]), spread_us=0, now_us=NOW_US))
    assert [e.ts_us for e in same if isinstance(e, AuditEvent)] == [NOW_US, NOW_US]
    with pytest.raises(ValueError, match="negative"):
        read_events(write_lines(tmp_path / "c", [LINE]), spread_us=-1, now_us=NOW_US)


def test_spread_time_helper() -> None:
    assert [spread_time(k, 4, 9, 100) for k in range(4)] == [91, 94, 97, 100]
    assert spread_time(10, 4, 9, 100) == 100  # clamped
    assert spread_time(0, 1, 9, 100) == 100


def test_spread_transcripts(policy: Policy) -> None:
    week = 7 * 86_400 * 1_000_000
    events = [r for r in read_events(TAU_FILE, policy=policy, spread_us=week, now_us=NOW_US)]
    assert len(events) == 1164
    times = [e.ts_us for e in events if isinstance(e, AuditEvent)]
    assert times[0] == NOW_US - week and times[-1] == NOW_US and times == sorted(times)
