"""The apply script's arguments, built from a prepared batch (pure)."""

from __future__ import annotations

from aegis_stream.apply.ops import build_ops
from aegis_stream.events import parse_event
from aegis_stream.keys import Keys
from aegis_stream.project import aggregate
from aegis_stream.project.prepare import PreparedBatch, fold
from aegis_stream.wire import encode
from tests.conftest import event_dict

NOW_MS = 1_796_040_000_000


def test_build_ops_indexes_keys_once() -> None:
    keys = Keys("k")
    delta = aggregate([("1-0", parse_event(event_dict())), ("1-1", parse_event(event_dict()))])
    view_keys, ops = build_ops(keys, 0, PreparedBatch(delta), NOW_MS, dedupe_floor_ms=None, trim_minid="")
    assert len(view_keys) == len(set(view_keys))
    assert view_keys[0] == "k:v1:{p0}:totals"
    assert all("{p0}" in k for k in view_keys)
    assert ops["c"] == [2, 0, 0, 0]
    assert ops["h"][:3] == [1, "total", 2]


def test_audit_rows_go_inline_or_not_and_index_lists_name_rows_by_position() -> None:
    ids = ["5-0", "5-1", "6-0"]
    events = [parse_event(event_dict(risk_level=r)) for r in ("HIGH", "LOW", "HIGH")]
    payloads = {i: encode(e) for i, e in zip(ids, events, strict=True)}
    batch = fold(list(zip(ids, events, strict=True)), [], known_ids={}, dedupe_window_ms=0, payloads=payloads)
    keys = Keys("k")
    view_keys, ops = build_ops(keys, 0, batch, NOW_MS, dedupe_floor_ms=None, trim_minid="", ack_ids=ids)
    assert ops["k"] == ids
    order_keys = ["5000000", "5000001", "6000000"]
    assert ops["r"][1:] == order_keys and view_keys[ops["r"][0] - 1] == keys.audit_seqs(0)
    assert ops["w"][1:] == [payloads[i] for i in ids] and view_keys[ops["w"][0] - 1] == keys.audit_rows(0)
    lists: dict[str, list[str]] = {}
    at = 0
    while at < len(ops["l"]):
        key, n = view_keys[ops["l"][at] - 1], ops["l"][at + 1]
        lists[key] = [order_keys[row] for row in ops["l"][at + 2 : at + 2 + n]]
        at += 2 + n
    assert lists[keys.audit_index(0, (None, None, None, None))] == order_keys
    assert lists[keys.audit_index(0, ("HIGH", None, None, None))] == ["5000000", "6000000"]
    assert lists[keys.audit_index(0, ("LOW", None, None, None))] == ["5000001"]
    _, not_inline = build_ops(
        keys, 0, batch, NOW_MS, dedupe_floor_ms=None, trim_minid="", ack_ids=ids, inline_rows=False
    )
    assert not_inline["w"] == [] and not_inline["r"] == ops["r"]
