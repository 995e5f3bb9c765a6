"""Wire format: round trips, size limit, and hostile payloads."""

from __future__ import annotations

import random
from dataclasses import replace

import msgpack
import pytest

from aegis_stream.bundled import DEMO_SAMPLE, data_file
from aegis_stream.errors import InvalidEvent
from aegis_stream.events import AuditEvent, parse_event
from aegis_stream.importers import read_events
from aegis_stream.project.batch import aggregate
from aegis_stream.signing import SignedReader, Signer
from aegis_stream.wire import decode, decode_entry, decode_stored, encode, entry_fields
from tests.conftest import HEAD_CHANGES, event_dict


def test_round_trip_keeps_every_field() -> None:
    event = parse_event(
        event_dict(
            action_params={"q": "select", "nested": [1, 2.5, None, True]},
            action_desc="look up ünïcode ✓",
            human_decision="approved",
            result_data={"rows": 3},
            result_error=None,
            parent_agent_id="boss",
            chain_id="c-9",
            chain_depth=2,
            event_id="e-1",
        )
    )
    assert decode(encode(event)) == event


def test_minimal_event_is_small() -> None:
    event = parse_event(event_dict())
    payload = encode(event)
    assert decode(payload) == event
    assert len(payload) < 120  # short keys, defaults omitted


def test_size_limit_on_both_sides() -> None:
    event = parse_event(event_dict(result_data={"blob": "x" * 5000}))
    with pytest.raises(InvalidEvent, match="exceeds the limit of 1000"):
        encode(event, max_bytes=1000)
    payload = encode(event)
    with pytest.raises(InvalidEvent, match="exceeds the limit of 1000"):
        decode(payload, max_bytes=1000)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xc1", "wire: not a msgpack document"),
        (msgpack.packb([1, 2]), "wire: expected a map, got list"),
        (msgpack.packb({"v": 99, "t": 0}), "wire: unsupported schema version 99"),
        (msgpack.packb({"t": 0}), "wire: unsupported schema version None"),
        (
            msgpack.packb({"v": 1, "t": -5}),
            "timestamp: wire value must be epoch microseconds from 1970 to 9999",
        ),
        (
            msgpack.packb({"v": 1, "t": "x"}),
            "timestamp: wire value must be epoch microseconds from 1970 to 9999",
        ),
        (
            msgpack.packb({"v": 1, "t": 0, "s": "s", "at": "a", "tg": "t", "r": "LOW", "a": "auto", "zz": 1}),
            "wire: unknown key 'zz'",
        ),
        (
            msgpack.packb({"v": 1, "t": 0, "s": "s", "at": "a", "tg": "t", "r": "LOW"}),
            "approval: required field is missing",
        ),
        (msgpack.packb({1: 2}), "wire: not a msgpack document"),
        (
            msgpack.packb({"v": 1, "t": 0, "p": {"x": msgpack.ExtType(5, b"raw")}}),
            "wire: msgpack extension type 5 is not a JSON value",
        ),
    ],
)
def test_decode_rejects(payload: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        decode(payload)
    assert err.value.reason.startswith(reason)


def test_decode_entry_needs_the_e_field() -> None:
    with pytest.raises(InvalidEvent, match="no 'e' field"):
        decode_entry({b"other": b"1"})


def test_decode_redacts_what_a_raw_xadd_smuggled_in() -> None:
    payload = msgpack.packb(
        {"v": 1, "t": 0, "s": "s", "at": "a", "tg": "t", "r": "low", "a": "auto", "p": {"token": "secret"}}
    )
    event = decode(payload)
    assert event.action_params == {"token": "[REDACTED]"}
    assert event.risk_level == "LOW"


def test_decode_rejects_a_timestamp_after_9999() -> None:
    payload = msgpack.packb(
        {"v": 1, "t": 253_402_300_800_000_000, "s": "s", "at": "a", "tg": "t", "r": "LOW", "a": "auto"}
    )
    with pytest.raises(InvalidEvent, match="from 1970 to 9999"):
        decode(payload)


def _full_path(body: dict[str, object]) -> object:
    """What the general validator makes of a body (the event, or the reason it refuses)."""
    from aegis_stream.events import build_event
    from aegis_stream.wire import _LONG

    try:
        raw = {_LONG[k]: v for k, v in body.items() if k not in ("v", "t")}
        return build_event(raw, body["t"])  # type: ignore[arg-type]
    except (InvalidEvent, KeyError) as e:
        return type(e)


def _nested(levels: int) -> dict[str, object]:
    """A dict whose innermost container sits ``levels`` levels below the top."""
    value: dict[str, object] = {"leaf": 1}
    for _ in range(levels):
        value = {"k": value}
    return value


def test_the_fast_path_accepts_only_what_the_validator_accepts_and_agrees() -> None:
    from aegis_stream.wire import _fast_event

    rng = random.Random(11)
    base = {"v": 1, "t": 1_796_040_000_000_000, "s": "s", "at": "read", "tg": "x", "r": "LOW", "a": "auto"}
    variants: list[object] = [
        None,
        "",
        "x",
        "y" * 5000,
        0,
        -1,
        2**64,
        1.5,
        float("nan"),
        True,
        [],
        {},
        {"k": 1},
        {"password": "p"},
        {"k": {"nested": 1}},
        {"k": [1]},
        {"k": float("inf")},
        {"k": 2**70},
        {1: 2},
        {"k": [{"api_key": "s"}]},
        {"k": [{"fine": [1, 2.5, None, "x"]}]},
        {"k": [{"fine": [float("nan")]}]},
        [{"token": 1}],
        [[[b"x"]]],
        _nested(31),
        _nested(32),
        _nested(33),
        "LOW",
        "low",
        "auto",
        "AUTO",
        b"bytes",
    ]
    keys = [
        "s",
        "at",
        "tg",
        "r",
        "a",
        "p",
        "d",
        "m",
        "h",
        "rs",
        "rd",
        "re",
        "ag",
        "pa",
        "c",
        "cd",
        "id",
        "zz",
        "t",
        "v",
    ]
    accepted = 0
    for _ in range(4000):
        body = dict(base)
        for key in rng.sample(keys, rng.randint(0, 4)):
            value = rng.choice(variants)
            if value is None:
                body.pop(key, None)
            else:
                body[key] = value
        fast = _fast_event(body)
        if fast is not None:
            accepted += 1
            assert fast == _full_path(body), body
    assert accepted > 100  # the fast path is exercised, not just refused


# ---- entries a producer signed ---------------------------------------------------------------

KEY = "s" * 32


def _signed_fields(payload: bytes, key: str = KEY) -> dict[bytes, bytes]:
    return entry_fields(payload, Signer(key))


def test_a_signed_entry_is_read_for_its_projected_fields_and_kept_as_written() -> None:
    event = parse_event(
        event_dict(
            action_params={"q": "select", "rows": [1, 2]},
            result_data={"reply": {"nested": ["a", 1.5]}},
            matched_rule="r1",
            result_status="success",
            human_decision="ok",
            result_error="none",
            parent_agent_id="boss",
            chain_id="c",
            chain_depth=3,
            event_id="e-7",
        )
    )
    payload = encode(event)
    head, kept = decode_stored(_signed_fields(payload), signed=SignedReader(Signer(KEY)))
    assert kept is payload
    assert head == replace(event, action_params={}, result_data=None)


def test_an_entry_without_a_valid_tag_is_validated_in_full() -> None:
    # a raw XADD with a secret param, tagged with another key: redacted as any unsigned entry
    payload = msgpack.packb(
        {"v": 1, "t": 0, "s": "s", "at": "a", "tg": "t", "r": "LOW", "a": "auto", "p": {"token": "x"}}
    )
    reader = SignedReader(Signer(KEY))
    for fields in (_signed_fields(payload, "o" * 32), {b"e": payload}, {b"e": payload, b"s": b"short"}):
        event, kept = decode_stored(fields, signed=reader)
        assert event.action_params == {"token": "[REDACTED]"}
        assert kept != payload and b"x" not in msgpack.unpackb(kept)["p"]["token"].encode()


_GOOD_HEAD = {"v": 1, "t": 0, "s": "s", "at": "a", "tg": "t", "r": "LOW", "a": "auto"}


@pytest.mark.parametrize(
    "payload",
    [
        msgpack.packb([1, 2]),  # not a map
        msgpack.packb(_GOOD_HEAD)[:-3],  # cut short
        msgpack.packb(_GOOD_HEAD) + b"\x01",  # something after it
        *(msgpack.packb({**_GOOD_HEAD, **change}) for change in HEAD_CHANGES),
        msgpack.packb({k: v for k, v in _GOOD_HEAD.items() if k != "s"}),  # no session
    ],
)
def test_a_tag_vouches_for_no_field_the_views_count(payload: bytes) -> None:
    """Tagged or not, a payload is held to the same rules apart from the walk of params and replies."""
    reader = SignedReader(Signer(KEY))
    try:
        expected: object = decode_stored({b"e": payload})
    except InvalidEvent as e:
        expected = e.reason
    try:
        got: object = decode_stored(_signed_fields(payload), signed=reader)
    except InvalidEvent as e:
        got = e.reason
    assert got == expected
    # and the reader is not thrown off for the entries after it
    good = encode(parse_event(event_dict(action_type="next")))
    head, _ = decode_stored(_signed_fields(good), signed=reader)
    assert head.action_type == "next"


def test_entries_whose_tag_does_not_verify_are_counted() -> None:
    reader = SignedReader(Signer(KEY))
    payload = encode(parse_event(event_dict()))
    decode_stored(_signed_fields(payload), signed=reader)
    decode_stored({b"e": payload}, signed=reader)  # no tag: not counted
    decode_stored(_signed_fields(payload, "o" * 32), signed=reader)
    decode_stored({b"e": payload, b"s": b"junk"}, signed=reader)
    assert reader.unverified == 2


def test_the_head_of_every_real_event_projects_as_the_whole_event() -> None:
    events = [e for e in read_events(data_file(DEMO_SAMPLE), now_us=1_800_000_000_000_000)]
    assert len(events) == 1164
    reader = SignedReader(Signer(KEY))
    heads, fulls = [], []
    for i, event in enumerate(events):
        assert isinstance(event, AuditEvent)
        payload = encode(event)
        heads.append((f"{i + 1}-0", decode_stored(_signed_fields(payload), signed=reader)[0]))
        fulls.append((f"{i + 1}-0", decode_stored({b"e": payload})[0]))
    assert sum(1 for _, e in fulls if e.result_data) > 500  # the sample does carry tool replies
    a, b = aggregate(heads), aggregate(fulls)
    for view in ("totals", "dims", "first_seen", "buckets", "profile_counters", "profile_maps", "span"):
        assert getattr(a, view) == getattr(b, view), view
    assert a.clusters == b.clusters and a.profile_spans == b.profile_spans


def test_a_vouched_for_row_is_read_without_its_params_and_replies() -> None:
    from aegis_stream.wire import UNREADABLE, decode_vouched

    body = {**_GOOD_HEAD, "ag": "agent", "p": {"x": float("nan")}, "rd": {"reply": 1}}
    event = decode_vouched(msgpack.packb(body), "action_params: non-finite number")
    assert event is not None
    assert (event.agent_id, event.action_type, event.risk_level) == ("agent", "a", "LOW")
    assert event.action_params == {UNREADABLE: "action_params: non-finite number"}
    assert event.result_data is None
    assert decode_vouched(msgpack.packb({**_GOOD_HEAD, "at": 7}), "why") is None  # head invalid too
