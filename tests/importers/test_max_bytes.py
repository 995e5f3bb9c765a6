"""``max_bytes``: an event too large for the stream is one rejection, not a failed import."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from aegis_stream.events import AuditEvent
from aegis_stream.importers import Rejected, read_events
from aegis_stream.importers.jsonl import read_jsonl
from aegis_stream.importers.sqlite import read_sqlite
from aegis_stream.policy import Policy
from aegis_stream.wire import DEFAULT_MAX_BYTES, encode
from tests.importers.conftest import NOW_US, SAMPLE_FILE, make_db, reference_row, write_lines

TOO_BIG = re.compile(r"event: encoded size (\d+) bytes exceeds the limit of (\d+)")
BLOB = "x" * 5000


def line(session: str, **extra: Any) -> dict[str, Any]:
    return {
        "session_id": session,
        "timestamp": "2026-11-30T12:00:00Z",
        "action_type": "read",
        "action_target": "t",
        "risk_level": "LOW",
        "approval": "auto",
        **extra,
    }


def size_of(record: AuditEvent | Rejected) -> int:
    assert isinstance(record, AuditEvent)
    return len(encode(record, max_bytes=10**9))


def check_too_big(record: AuditEvent | Rejected, location: str, limit: int) -> int:
    """Assert ``record`` is the size rejection at ``location``; return the size it reports."""
    assert isinstance(record, Rejected) and record.location == location
    match = TOO_BIG.fullmatch(record.reason)
    assert match is not None, record.reason
    assert int(match.group(2)) == limit
    return int(match.group(1))


def test_jsonl_oversized_line_is_rejected_and_the_rest_imported(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "a.jsonl",
        [line("s1"), line("s2"), line("s3", action_params={"blob": BLOB}), line("s4")],
    )
    unlimited = list(read_events(path, now_us=NOW_US))
    assert [type(r) for r in unlimited] == [AuditEvent] * 4  # no limit: as before
    got = list(read_events(path, now_us=NOW_US, max_bytes=1000))
    assert [r.session_id for r in got if isinstance(r, AuditEvent)] == ["s1", "s2", "s4"]
    size = check_too_big(got[2], "line 3", 1000)
    assert len(BLOB) < size < len(BLOB) + 300
    assert size == size_of(unlimited[2])
    assert list(read_jsonl(path, max_bytes=1000)) == got


def test_limit_is_inclusive(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.jsonl", [line("s1", action_params={"blob": BLOB})])
    (event,) = read_events(path, now_us=NOW_US)
    size = size_of(event)
    assert list(read_events(path, now_us=NOW_US, max_bytes=size)) == [event]
    (rejected,) = read_events(path, now_us=NOW_US, max_bytes=size - 1)
    assert rejected == Rejected("line 1", f"event: encoded size {size} bytes exceeds the limit of {size - 1}")


def test_sqlite_oversized_row(tmp_path: Path) -> None:
    path = make_db(
        tmp_path / "a.db",
        [
            reference_row(id=4, session_id="a"),
            reference_row(id=7, session_id="b", result_data=json.dumps({"blob": BLOB})),
            reference_row(id=9, session_id="c"),
        ],
    )
    got = list(read_events(path, now_us=NOW_US, max_bytes=2048))
    assert [r.session_id for r in got if isinstance(r, AuditEvent)] == ["a", "c"]
    assert check_too_big(got[1], "row id 7", 2048) > len(BLOB)
    assert list(read_sqlite(path, max_bytes=2048)) == got


def test_transcript_oversized_call(tmp_path: Path, policy: Policy) -> None:
    def tool_call(call_id: str, args: dict[str, Any]) -> dict[str, Any]:
        function = {"name": "get_user_details", "arguments": json.dumps(args)}
        return {"role": "assistant", "tool_calls": [{"id": call_id, "function": function}]}

    conv = {
        "task_id": 2,
        "trial": 0,
        "traj": [
            tool_call("c1", {"user_id": "u1"}),
            tool_call("c2", {"user_id": "u2", "note": BLOB}),
            tool_call("c3", {"user_id": "u3"}),
        ],
    }
    path = tmp_path / "runs.json"
    path.write_text(json.dumps([conv]))
    got = list(read_events(path, policy=policy, now_us=NOW_US, max_bytes=1500))
    assert [r.event_id for r in got if isinstance(r, AuditEvent)] == ["runs-2-0-c1", "runs-2-0-c3"]
    assert check_too_big(got[1], "conversation 0 call c2", 1500) > len(BLOB)


@pytest.mark.parametrize("fmt", ["jsonl", "sqlite", "transcripts"])
def test_spread_still_checks_the_size(tmp_path: Path, policy: Policy, fmt: str) -> None:
    window = 3_000_000
    names = ["s0", "s1", "big", "s2", "s3"]
    if fmt == "jsonl":
        path = write_lines(
            tmp_path / "a.jsonl",
            [line(n, action_params={"blob": BLOB} if n == "big" else {}) for n in names],
        )
        where = "line 3"
    elif fmt == "sqlite":
        rows = [
            reference_row(id=i, session_id=n, action_params=json.dumps({"blob": BLOB} if n == "big" else {}))
            for i, n in enumerate(names, start=1)
        ]
        path = make_db(tmp_path / "a.db", rows)
        where = "row id 3"
    else:
        convs = [
            {
                "task_id": n,
                "trial": 0,
                "traj": [
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "id": "k",
                                "function": {
                                    "name": "think",
                                    "arguments": json.dumps({"blob": BLOB} if n == "big" else {}),
                                },
                            }
                        ],
                    }
                ],
            }
            for n in names
        ]
        path = tmp_path / "a.json"
        path.write_text(json.dumps(convs))
        where = "conversation 2 call k"
    got = list(read_events(path, policy=policy, spread_us=window, now_us=NOW_US, max_bytes=2000))
    assert [type(r) for r in got] == [AuditEvent, AuditEvent, Rejected, AuditEvent, AuditEvent]
    check_too_big(got[2], where, 2000)
    events = [r for r in got if isinstance(r, AuditEvent)]
    # Four events over 3 s: the rejected one takes no slot.
    assert [e.ts_us for e in events] == [NOW_US - 3_000_000, NOW_US - 2_000_000, NOW_US - 1_000_000, NOW_US]


def test_bundled_sample_fits_the_default_limit() -> None:
    got = list(read_events(SAMPLE_FILE, now_us=NOW_US, max_bytes=DEFAULT_MAX_BYTES))
    assert len(got) == 1164 and all(isinstance(r, AuditEvent) for r in got)
