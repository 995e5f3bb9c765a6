"""The bundled demo sample, checked against counts taken straight from the original file."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
from collections import Counter
from typing import Any

from aegis_stream.events import AuditEvent, parse_timestamp
from aegis_stream.importers import Rejected, detect_format, read_events
from tests.importers.conftest import NOW_US, POLICY_FILE, ROOT, SAMPLE_FILE, TAU_DIR, TAU_FILE

WEEK_US = 7 * 86_400 * 1_000_000
ANCHOR_US = parse_timestamp("2026-12-01T00:00:00Z")
ORIGINAL_SHA256 = "e9e6c0297660c537f83d4fd9c476ce7a9a86ecd2784874b7bfc13be598e37bfa"


def original_calls(original: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    return [
        (conv, call["function"]["name"])
        for conv in original
        for message in conv["traj"]
        if message["role"] == "assistant"
        for call in message.get("tool_calls") or []
    ]


def sample_events() -> list[AuditEvent]:
    records = list(read_events(SAMPLE_FILE, now_us=NOW_US))
    assert not [r for r in records if isinstance(r, Rejected)]
    return [r for r in records if isinstance(r, AuditEvent)]


def test_sample_matches_the_original(original: list[dict[str, Any]]) -> None:
    calls = original_calls(original)
    events = sample_events()
    assert detect_format(SAMPLE_FILE) == "jsonl"
    assert len(events) == len(calls) == 1164
    assert Counter(e.action_type for e in events) == Counter(name for _, name in calls)
    expected_agents = Counter(f"gpt4o-airline-t{conv['trial']}" for conv, _ in calls)
    assert len(expected_agents) == 4
    assert Counter(e.agent_id for e in events) == expected_agents
    assert Counter(e.session_id for e in events) == Counter(
        f"task{conv['task_id']}-trial{conv['trial']}" for conv, _ in calls
    )
    assert len({e.event_id for e in events}) == 1164
    # Named after the source file, gpt-4o-airline.json.gz, as `aegis-stream import` names them.
    assert events[0].event_id == "gpt-4o-airline-0-0-call_oIHazX6yQrB8hUwl4cRilFKj"
    ids = []
    for conv in original:
        seen: Counter[str] = Counter()
        for message in conv["traj"]:
            for call in message.get("tool_calls") or [] if message["role"] == "assistant" else []:
                seen[call["id"]] += 1
                repeat = "" if seen[call["id"]] == 1 else f"-{seen[call['id']]}"
                ids.append(f"gpt-4o-airline-{conv['task_id']}-{conv['trial']}-{call['id']}{repeat}")
    assert [e.event_id for e in events] == ids


def test_sample_is_classified_and_anchored() -> None:
    events = sample_events()
    times = [e.ts_us for e in events]
    assert times == sorted(times)
    assert times[0] == ANCHOR_US - WEEK_US and times[-1] < ANCHOR_US
    assert {e.risk_level for e in events} <= {"LOW", "MEDIUM", "HIGH", "CRITICAL"}
    assert all(e.matched_rule for e in events)
    assert all(e.human_decision == ("approved" if e.approval == "approve" else None) for e in events)
    # One compact line per event, each well under 16 KiB.
    with gzip.open(SAMPLE_FILE, "rb") as fh:
        sizes = [len(line) for line in fh]
    assert len(sizes) == 1164 and max(sizes) < 12 * 1024


def test_sample_demo_spread() -> None:
    now = ANCHOR_US + 12_345_678
    events = [r for r in read_events(SAMPLE_FILE, spread_us=WEEK_US, now_us=now) if isinstance(r, AuditEvent)]
    assert events[0].ts_us == now - WEEK_US and events[-1].ts_us == now
    assert [e.ts_us for e in events] == sorted(e.ts_us for e in events)


def test_sample_is_reproducible() -> None:
    spec = importlib.util.spec_from_file_location(
        "build_airline_sample", ROOT / "scripts" / "build_airline_sample.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.build_sample(TAU_FILE, POLICY_FILE) == SAMPLE_FILE.read_bytes()
    with gzip.open(SAMPLE_FILE, "rb") as fh:
        json.loads(fh.readline())
    assert SAMPLE_FILE.read_bytes()[4:8] == b"\x00\x00\x00\x00"  # gzip mtime 0


def test_attribution_files_exist() -> None:
    data = ROOT / "aegis_stream" / "data"
    assert "MIT License" in (data / "TAU-BENCH-LICENSE").read_text()
    readme = (data / "README.md").read_text()
    assert "sierra-research/tau-bench" in readme and "MIT" in readme
    assert "MIT License" in (TAU_DIR / "LICENSE").read_text()
    assert (TAU_DIR / "README.md").exists()


def test_test_copy_is_the_original() -> None:
    # SHA-256 of the original gpt-4o-airline.json, as recorded in tests/data/tau-bench/README.md.
    with gzip.open(TAU_FILE, "rb") as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()
    assert digest == ORIGINAL_SHA256
    assert ORIGINAL_SHA256 in (TAU_DIR / "README.md").read_text()
