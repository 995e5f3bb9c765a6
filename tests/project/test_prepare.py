"""Batch preparation: dead letters, future skew, de-duplication (pure, table-driven)."""

from __future__ import annotations

from typing import Any

import pytest

from aegis_stream.events import parse_event
from aegis_stream.project.prepare import decode_entries, fold
from aegis_stream.wire import ENTRY_FIELD, encode
from tests.conftest import event_dict

NOW_MS = 1_796_040_000_000  # 2026-11-30T12:00:00Z
MIN = 60_000


def entry(entry_id: str, **overrides: Any) -> tuple[str, dict[bytes, bytes]]:
    return entry_id, {ENTRY_FIELD: encode(parse_event(event_dict(**overrides)))}


@pytest.mark.parametrize(
    ("timestamp", "dead"),
    [
        ("2026-11-30T12:00:00Z", False),
        ("2026-11-30T12:05:00Z", False),  # exactly the allowed skew
        ("2026-11-30T12:05:00.001Z", True),
        ("2027-01-01T00:00:00Z", True),
        ("2020-01-01T00:00:00Z", False),  # old events are late, not dead
    ],
)
def test_future_skew(timestamp: str, dead: bool) -> None:
    # appended at NOW_MS: the skew is measured from the entry's stream id
    decoded = decode_entries(
        [entry(f"{NOW_MS}-0", timestamp=timestamp)], max_bytes=65536, max_future_skew_ms=5 * MIN
    )
    events, letters = decoded.events, decoded.dead
    assert (len(letters), len(events)) == ((1, 0) if dead else (0, 1))
    if dead:
        assert letters[0].reason == (
            f"timestamp: {parse_event(event_dict(timestamp=timestamp)).timestamp} is more than 300000 ms "
            "after the event was appended"
        )


def test_undecodable_and_deleted_entries() -> None:
    decoded = decode_entries(
        [(f"{NOW_MS}-0", {ENTRY_FIELD: b"\xc1"}), (f"{NOW_MS}-1", None), entry(f"{NOW_MS}-2")],
        max_bytes=65536,
        max_future_skew_ms=MIN,
    )
    events, letters = decoded.events, decoded.dead
    assert [i for i, _ in events] == [f"{NOW_MS}-2"]
    assert [(d.entry_id, d.reason, d.payload) for d in letters] == [
        (f"{NOW_MS}-0", "wire: not a msgpack document", b"\xc1")
    ]


def decoded(*pairs: tuple[str, str | None]) -> list[tuple[str, Any]]:
    return [(i, parse_event(event_dict(event_id=eid))) for i, eid in pairs]


@pytest.mark.parametrize(
    ("pairs", "known", "window", "counted", "duplicates", "seen"),
    [
        # a retry inside one batch
        ([("1000-0", "a"), ("1500-0", "a"), ("1600-0", "b")], {}, 10_000, 2, 1, {"a": 1000, "b": 1600}),
        # exactly at the window's edge: still a duplicate; one ms past it: counted again
        ([("1000-0", "a"), ("11000-0", "a"), ("21001-0", "a")], {}, 10_000, 2, 1, {"a": 21001}),
        # seen in an earlier batch
        ([("5000-0", "a")], {"a": 1000}, 10_000, 0, 1, {}),
        ([("50000-0", "a")], {"a": 1000}, 10_000, 1, 0, {"a": 50000}),
        # events without an id are never de-duplicated
        ([("1-0", None), ("1-1", None)], {}, 10_000, 2, 0, {}),
        # a window of 0 switches de-duplication off
        ([("1000-0", "a"), ("1001-0", "a")], {"a": 999}, 0, 2, 0, {}),
    ],
)
def test_dedupe(
    pairs: list[tuple[str, str | None]],
    known: dict[str, int],
    window: int,
    counted: int,
    duplicates: int,
    seen: dict[str, int],
) -> None:
    batch = fold(decoded(*pairs), [], known_ids=known, dedupe_window_ms=window)
    assert batch.delta.events == counted
    assert batch.duplicates == duplicates
    assert batch.seen_ids == seen


def test_a_raw_entry_without_payload_keeps_its_fields_in_the_dead_letter() -> None:
    import msgpack

    decoded = decode_entries([(f"{NOW_MS}-0", {b"garbage": b"1"})], max_bytes=65536, max_future_skew_ms=MIN)
    [letter] = decoded.dead
    assert letter.reason == "wire: stream entry has no 'e' field"
    assert msgpack.unpackb(letter.payload, raw=True) == {b"garbage": b"1"}


def test_a_decoding_bug_dead_letters_its_entry_and_the_rest_go_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from aegis_stream.project import prepare

    real = prepare.decode_stored

    def flaky(fields: dict[bytes, bytes], *args: Any) -> Any:
        if b"boom" in fields[ENTRY_FIELD]:
            raise TypeError("a bug")
        return real(fields, *args)

    monkeypatch.setattr(prepare, "decode_stored", flaky)
    entries = [entry(f"{NOW_MS}-0"), entry(f"{NOW_MS}-1", action_type="boom"), entry(f"{NOW_MS}-2")]
    decoded = decode_entries(entries, max_bytes=65536, max_future_skew_ms=MIN)
    assert [i for i, _ in decoded.events] == [f"{NOW_MS}-0", f"{NOW_MS}-2"]
    [letter] = decoded.dead
    assert (letter.entry_id, letter.reason) == (f"{NOW_MS}-1", "decoding failed: TypeError")
    assert letter.payload == entries[1][1][ENTRY_FIELD]


def test_a_projection_bug_dead_letters_its_event_with_the_payload(monkeypatch: pytest.MonkeyPatch) -> None:
    from aegis_stream.project.batch import BatchDelta

    real = BatchDelta.add

    def flaky(self: BatchDelta, entry_id: str, event: Any) -> None:
        if event.action_type == "boom":
            raise AttributeError("a bug")
        real(self, entry_id, event)

    monkeypatch.setattr(BatchDelta, "add", flaky)
    entries = [entry(f"{NOW_MS}-0"), entry(f"{NOW_MS}-1", action_type="boom")]
    decoded = decode_entries(entries, max_bytes=65536, max_future_skew_ms=MIN)
    for audit in (True, False):
        batch = fold(
            decoded.events, [], known_ids={}, dedupe_window_ms=0, payloads=decoded.payloads, audit=audit
        )
        assert batch.delta.events == 1
        [letter] = batch.dead
        assert letter.reason == "projection failed: AttributeError"
        assert letter.payload == entries[1][1][ENTRY_FIELD]
        assert len(batch.audit.rows) == (1 if audit else 0)
