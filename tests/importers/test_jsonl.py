"""JSON Lines import: event lines, reference export rows, rejections, policy fill, gzip."""

from __future__ import annotations

import gzip
import io
import json
import random
import tracemalloc
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from aegis_stream.errors import ImportFailed
from aegis_stream.events import REDACTED, AuditEvent, parse_timestamp
from aegis_stream.importers import Rejected, read_events
from aegis_stream.importers.jsonl import bounded_lines, read_jsonl
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
    assert got[1] == Rejected("line 2", "not valid UTF-8")


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


def test_huge_number_and_deep_nesting_are_rejected_per_line(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "hostile.jsonl",
        [
            event(session_id="ok-1"),  # line 1
            '{"session_id": ' + "1" * 5000 + "}",  # line 2: int() refuses more than 4300 digits
            "[" * 100_000 + "]" * 100_000,  # line 3
            '{"a": ' * 100_000 + "1" + "}" * 100_000,  # line 4
            event(action_params={"n": 2**64}),  # line 5: beyond 64 bits
            {"id": 9, **reference_row(action_params="[" * 100_000 + "]" * 100_000)},  # line 6
            {"id": 10, **reference_row(result_data="[" + "5" * 4301 + "]")},  # line 7
            event(session_id="ok-2"),  # line 8
        ],
    )
    got = records(path)
    assert [r.session_id for r in got if isinstance(r, AuditEvent)] == ["ok-1", "ok-2"]
    rejected = {r.location: r.reason for r in got if isinstance(r, Rejected)}
    assert list(rejected) == ["line 2", "line 3", "line 4", "line 5", "line 6", "line 7"]
    assert rejected["line 2"] == "a number has more than 4300 digits"
    assert rejected["line 3"] == "JSON nested too deeply to be read"
    assert rejected["line 4"] == "JSON nested too deeply to be read"
    assert rejected["line 5"].startswith("action_params")  # worded by event validation
    assert rejected["line 6"] == "action_params: JSON nested too deeply to be read"
    assert rejected["line 7"] == "result_data: a number has more than 4300 digits"


def test_wide_integers_are_rejected_with_or_without_a_size_limit(tmp_path: Path) -> None:
    lines = [event(action_params={"n": 2**64}), event(result_data=[-(2**63) - 1]), event(session_id="ok")]
    path = write_lines(tmp_path / "wide.jsonl", lines)
    for limit in (None, 64 * 1024):
        got = records(path, max_bytes=limit)
        assert [type(r) for r in got] == [Rejected, Rejected, AuditEvent], limit
        assert [r.location for r in got if isinstance(r, Rejected)] == ["line 1", "line 2"]
    # Just inside the 64-bit range both ways.
    edge = write_lines(tmp_path / "edge.jsonl", [event(action_params={"hi": 2**64 - 1, "lo": -(2**63)})])
    (ok,) = records(edge, max_bytes=64 * 1024)
    assert isinstance(ok, AuditEvent) and ok.action_params == {"hi": 2**64 - 1, "lo": -(2**63)}


def test_leading_utf8_bom_is_ignored(tmp_path: Path) -> None:
    plain = write_lines(tmp_path / "plain.jsonl", [event(), event(session_id="s-2")])
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    expected = records(plain)
    assert all(isinstance(r, AuditEvent) for r in expected)
    assert records(bom) == expected
    zipped = tmp_path / "bom.jsonl.gz"
    zipped.write_bytes(gzip.compress(bom.read_bytes(), mtime=0))
    assert records(zipped) == expected
    # Only a BOM opening the file is a BOM; elsewhere it stays an error.
    later = tmp_path / "later.jsonl"
    later.write_bytes(plain.read_bytes() + b"\xef\xbb\xbf" + json.dumps(event()).encode() + b"\n")
    got = records(later)
    assert [type(r) for r in got] == [AuditEvent, AuditEvent, Rejected]
    third = got[2]
    assert isinstance(third, Rejected) and third.location == "line 3" and "BOM" in third.reason


ARRAY_HINT = "the file holds a JSON array"
# The exact reasons, written out: none repeats the location ("line N") it follows.
ARRAY_FILE_REASON = (
    "the file holds a JSON array, not JSON Lines: "
    "JSONL needs one event object per line, not an array of events"
)
TOO_LONG_REASON = "longer than 1048576 bytes"


def test_json_array_file_is_explained(tmp_path: Path) -> None:
    one_line = tmp_path / "array.jsonl"
    one_line.write_text(json.dumps([event(), event()]))
    (got,) = records(one_line)
    assert isinstance(got, Rejected) and got.location == "line 1"
    assert ARRAY_HINT in got.reason and "one event object per line" in got.reason

    # Pretty-printed: line 1 is "[" alone, after a BOM and a blank line.
    pretty = tmp_path / "pretty.json"
    pretty.write_bytes(b"\xef\xbb\xbf\n" + json.dumps([event()], indent=2).encode())
    # Reported once: the rest of the file is not read.
    assert records(pretty) == [Rejected("line 2", ARRAY_FILE_REASON)]

    # Too long for one line: the hint still wins over the length.
    big = tmp_path / "big.jsonl"
    big.write_text(json.dumps([event(action_desc="x" * 4000) for _ in range(400)]))
    assert big.stat().st_size > 1024 * 1024
    (got_big,) = records(big)
    assert isinstance(got_big, Rejected) and ARRAY_HINT in got_big.reason


def test_array_on_a_later_line_is_not_called_an_array_file(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "mixed.jsonl", [event(), "[1, 2]", "[{broken"])
    got = records(path)
    assert [type(r) for r in got] == [AuditEvent, Rejected, Rejected]
    second, third = got[1], got[2]
    assert isinstance(second, Rejected) and isinstance(third, Rejected)
    assert second.reason.startswith("event: expected an object") and ARRAY_HINT not in second.reason
    assert third.reason.startswith("not valid JSON (")


class DeepPolicy:
    """A policy that hits the recursion limit, as walking a deeply nested value can."""

    def evaluate(self, *args: Any, **kwargs: Any) -> Decision:
        raise RecursionError("maximum recursion depth exceeded")


def test_recursion_past_parsing_is_one_rejection(tmp_path: Path, policy: Policy) -> None:
    unrated = event()
    del unrated["risk_level"]
    path = write_lines(tmp_path / "r.jsonl", [unrated, event(session_id="rated")])
    got = records(path, policy=DeepPolicy())
    assert got[0] == Rejected("line 1", "event: nested too deeply to be read")
    assert isinstance(got[1], AuditEvent) and got[1].session_id == "rated"


def test_line_reasons_do_not_repeat_the_location(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(
        b"\n".join(
            [
                json.dumps(event()).encode(),  # line 1
                b"{not json",  # line 2
                b"\xff{}",  # line 3
                b'{"a": ' + b"9" * 5000 + b"}",  # line 4
                b"[" * 100_000 + b"]" * 100_000,  # line 5
                b" " * (1024 * 1024 + 1),  # line 6
                b"[1]",  # line 7
            ]
        )
        + b"\n"
    )
    got = records(path)
    assert isinstance(got[0], AuditEvent)
    assert got[1:] == [
        Rejected("line 2", "not valid JSON (Expecting property name enclosed in double quotes at column 2)"),
        Rejected("line 3", "not valid UTF-8"),
        Rejected("line 4", "a number has more than 4300 digits"),
        Rejected("line 5", "JSON nested too deeply to be read"),
        Rejected("line 6", "longer than 1048576 bytes"),
        Rejected(
            "line 7", "event: expected an object, got a JSON array (JSONL needs one event object per line)"
        ),
    ]


def test_pretty_printed_array_file_is_one_rejection(tmp_path: Path) -> None:
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps([event(), event(session_id="s-2"), event(session_id="s-3")], indent=2))
    assert len(pretty.read_text().splitlines()) == 44  # 14 lines per event, and the brackets
    assert records(pretty) == [Rejected("line 1", ARRAY_FILE_REASON)]
    # Also when spread, and gzip-compressed after a BOM and blank lines.
    assert list(read_events(pretty, spread_us=10**9, now_us=NOW_US)) == [
        Rejected("line 1", ARRAY_FILE_REASON)
    ]
    zipped = tmp_path / "pretty.json.gz"
    zipped.write_bytes(gzip.compress(b"\xef\xbb\xbf\n\n" + pretty.read_bytes(), mtime=0))
    assert records(zipped) == [Rejected("line 3", ARRAY_FILE_REASON)]


def test_nothing_is_read_after_an_array_first_line(tmp_path: Path) -> None:
    one_line = write_lines(tmp_path / "array.jsonl", [json.dumps([event()]), event(), "{not json"])
    assert records(one_line) == [Rejected("line 1", ARRAY_FILE_REASON)]
    broken = write_lines(tmp_path / "broken.jsonl", ["[{broken", event(), event()])
    assert records(broken) == [Rejected("line 1", ARRAY_FILE_REASON)]
    big = tmp_path / "big.jsonl"  # the first line is longer than the limit
    big.write_text("[" + " " * (2 * 1024 * 1024) + "\n" + json.dumps(event()) + "\n")
    assert records(big) == [Rejected("line 1", ARRAY_FILE_REASON)]


def test_line_length_limit_boundary(tmp_path: Path) -> None:
    text = json.dumps(event())
    fits = text[:-1] + " " * (1024 * 1024 - len(text)) + "}"  # exactly 1 MiB, plus its newline
    over = text[:-1] + " " * (1024 * 1024 + 1 - len(text)) + "}"
    assert (len(fits), len(over)) == (1048576, 1048577)
    path = write_lines(tmp_path / "edge.jsonl", [fits, over, fits])
    got = records(path)
    assert [type(r) for r in got] == [AuditEvent, Rejected, AuditEvent]
    assert got[1] == Rejected("line 2", TOO_LONG_REASON)
    # The last line of the file, without a newline; and the first, after a BOM.
    last = tmp_path / "last.jsonl"
    last.write_bytes(b"\xef\xbb\xbf" + fits.encode() + b"\n" + over.encode())
    got_last = records(last)
    assert isinstance(got_last[0], AuditEvent) and got_last[1:] == [Rejected("line 2", TOO_LONG_REASON)]
    # A line of nothing but spaces is over-long too, not blank: it is not read to find out.
    spaces = write_lines(tmp_path / "spaces.jsonl", [" " * (1024 * 1024 + 1), fits])
    got_spaces = records(spaces)
    assert got_spaces[0] == Rejected("line 1", TOO_LONG_REASON) and isinstance(got_spaces[1], AuditEvent)
    first_over = tmp_path / "first.jsonl"
    first_over.write_bytes(over.encode() + b"\n" + fits.encode())
    got_first = records(first_over)
    assert got_first[0] == Rejected("line 1", TOO_LONG_REASON) and isinstance(got_first[1], AuditEvent)


def test_an_over_long_line_is_skipped_in_bounded_memory(tmp_path: Path) -> None:
    line_bytes = 8 * 1024 * 1024
    long_line = json.dumps(event(action_desc="d" * line_bytes))
    data = json.dumps(event()) + "\n" + long_line + "\n" + json.dumps(event(session_id="after")) + "\n"
    plain = tmp_path / "long.jsonl"
    plain.write_text(data)
    zipped = tmp_path / "long.jsonl.gz"  # a small file that inflates to a huge line, like a gzip bomb
    zipped.write_bytes(gzip.compress(data.encode(), compresslevel=1, mtime=0))
    del data, long_line
    for path in (plain, zipped):
        tracemalloc.start()
        try:
            got = records(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert [type(r) for r in got] == [AuditEvent, Rejected, AuditEvent], path
        assert got[1] == Rejected("line 2", TOO_LONG_REASON)
        assert isinstance(got[2], AuditEvent) and got[2].session_id == "after"
        assert peak < 5 * 1024 * 1024, (path, peak)  # the line itself is 8 MiB


def test_bounded_lines() -> None:
    data = b"abc\nabcd\nabcde\n\nabcdefghijklmnop\nxy"
    assert list(bounded_lines(io.BytesIO(data), limit=4)) == [
        (1, b"abc\n", True),
        (2, b"abcd\n", True),
        (3, b"abcde", False),  # only the first limit + 1 bytes
        (4, b"\n", True),
        (5, b"abcde", False),
        (6, b"xy", True),
    ]
    # A BOM opening the file is dropped and does not count.
    assert list(bounded_lines(io.BytesIO(b"\xef\xbb\xbfabcd\nab"), limit=4)) == [
        (1, b"abcd\n", True),
        (2, b"ab", True),
    ]
    assert list(bounded_lines(io.BytesIO(b"abcdefg\nab\nabcde"), limit=4)) == [
        (1, b"abcdefg\n", False),
        (2, b"ab\n", True),
        (3, b"abcde", False),
    ]
    assert list(bounded_lines(io.BytesIO(b""), limit=4)) == []


def test_a_gzip_cut_within_its_first_64_kib_is_still_recognised_and_read_up_to_the_cut(
    tmp_path: Path,
) -> None:
    noise = random.Random(3)  # varied text, so that the cut lands within the first 64 KiB of content
    sessions = [f"{noise.getrandbits(128):032x}" for _ in range(2000)]
    data = gzip.compress("".join(json.dumps(event(session_id=s)) + "\n" for s in sessions).encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[:3000])
    assert len(zlib.decompressobj(31).decompress(data[:3000])) < 64 * 1024
    got = []
    with pytest.raises(ImportFailed):
        for item in read_events(path, now_us=NOW_US):  # no --format: detected from the head
            got.append(item)
    assert got and all(isinstance(r, AuditEvent) for r in got)
    assert [r.session_id for r in got if isinstance(r, AuditEvent)] == sessions[: len(got)]
