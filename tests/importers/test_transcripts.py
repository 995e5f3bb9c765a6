"""Transcript import: the tau-bench airline file and small hand-made conversations."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from aegis_stream.errors import ImportFailed
from aegis_stream.events import AuditEvent
from aegis_stream.importers import Rejected, detect_format, id_prefix_for, read_events, transcripts
from aegis_stream.importers.transcripts import PREVIEW_CHARS
from aegis_stream.policy import Policy
from tests.importers.conftest import NOW_US, TAU_FILE

# Per-tool counts as listed in the tau-bench README shipped with the data.
README_COUNTS = {
    "get_reservation_details": 377,
    "search_direct_flight": 141,
    "get_user_details": 120,
    "update_reservation_flights": 104,
    "calculate": 96,
    "think": 92,
    "cancel_reservation": 69,
    "book_reservation": 53,
    "transfer_to_human_agents": 48,
    "search_onestop_flight": 38,
    "update_reservation_baggages": 14,
    "send_certificate": 8,
    "list_all_airports": 2,
    "update_reservation_passengers": 2,
}
MIN = 60_000_000


def tool_calls(conversations: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(conversation, call) pairs counted with plain loops over the JSON."""
    return [
        (conv, call)
        for conv in conversations
        for message in conv["traj"]
        if message["role"] == "assistant"
        for call in message.get("tool_calls") or []
    ]


def events_of(records: list[AuditEvent | Rejected]) -> list[AuditEvent]:
    assert not [r for r in records if isinstance(r, Rejected)]
    return [r for r in records if isinstance(r, AuditEvent)]


@pytest.fixture(scope="module")
def airline(policy: Policy) -> list[AuditEvent]:
    return events_of(
        list(read_events(TAU_FILE, policy=policy, agent="gpt4o-airline-t{trial}", now_us=NOW_US))
    )


def test_original_counts_match_the_readme(original: list[dict[str, Any]]) -> None:
    calls = tool_calls(original)
    assert len(original) == 200
    assert len(calls) == 1164
    assert Counter(call["function"]["name"] for _, call in calls) == README_COUNTS


def test_every_call_becomes_one_event(airline: list[AuditEvent], original: list[dict[str, Any]]) -> None:
    calls = tool_calls(original)
    assert len(airline) == len(calls)
    assert [e.action_type for e in airline] == [call["function"]["name"] for _, call in calls]
    assert [e.session_id for e in airline] == [f"task{c['task_id']}-trial{c['trial']}" for c, _ in calls]
    assert [e.action_params for e in airline] == [json.loads(c["function"]["arguments"]) for _, c in calls]
    assert Counter(e.agent_id for e in airline) == Counter(f"gpt4o-airline-t{c['trial']}" for c, _ in calls)
    assert len({e.event_id for e in airline}) == len(airline)


def expected_event_ids(conversations: list[dict[str, Any]], prefix: str) -> list[str]:
    """``<prefix>-<task>-<trial>-<call id>``, ``-2``, ``-3``... on a call id's repeats."""
    ids = []
    for conv in conversations:
        seen: Counter[str] = Counter()
        for message in conv["traj"]:
            if message["role"] != "assistant":
                continue
            for c in message.get("tool_calls") or []:
                seen[c["id"]] += 1
                repeat = f"-{seen[c['id']]}" if seen[c["id"]] > 1 else ""
                ids.append(f"{prefix}-{conv['task_id']}-{conv['trial']}-{c['id']}{repeat}")
    return ids


def test_event_ids_start_with_the_file_name(
    airline: list[AuditEvent], original: list[dict[str, Any]]
) -> None:
    ids = [e.event_id for e in airline]
    assert ids == expected_event_ids(original, "gpt-4o-airline")
    assert ids[0] == "gpt-4o-airline-0-0-call_oIHazX6yQrB8hUwl4cRilFKj"
    # tau-bench reuses a call id 73 times within a conversation.
    assert sum(1 for i in ids if i is not None and i[-2:] in ("-2", "-3", "-4")) == 73


def test_results_pair_with_the_right_reply(airline: list[AuditEvent], original: list[dict[str, Any]]) -> None:
    errors = sum(
        1
        for conv in original
        for message in conv["traj"]
        if message["role"] == "tool" and message["content"].startswith("Error")
    )
    failed = [e for e in airline if e.result_status == "failed"]
    assert len(failed) == errors
    assert all(e.result_error and e.result_error.startswith("Error") for e in failed)
    assert all(e.result_status in ("success", "failed") for e in airline)
    # A looked-up reservation's reply describes that very reservation.
    lookups = [
        e for e in airline if e.action_type == "get_reservation_details" and e.result_status == "success"
    ]
    assert lookups
    for e in lookups:
        assert e.action_target == e.action_params["reservation_id"]
        if isinstance(e.result_data, dict):
            assert e.result_data["reservation_id"] == e.action_params["reservation_id"]
    # calculate replies are numbers.
    assert all(
        isinstance(e.result_data, float) for e in airline if e.action_type == "calculate" and e.result_data
    )


def test_classification_and_human_decision(airline: list[AuditEvent]) -> None:
    by_type = {e.action_type: e for e in airline}
    assert (by_type["get_user_details"].risk_level, by_type["get_user_details"].approval) == ("LOW", "auto")
    assert (by_type["cancel_reservation"].risk_level, by_type["cancel_reservation"].approval) == (
        "HIGH",
        "approve",
    )
    for e in airline:
        assert e.matched_rule
        assert e.human_decision == ("approved" if e.approval == "approve" else None)
        assert e.result_status != "blocked"


def test_targets(airline: list[AuditEvent]) -> None:
    first = {e.action_type: e for e in reversed(airline)}
    assert first["get_user_details"].action_target == "mia_li_3668"
    assert (
        first["search_direct_flight"].action_target == first["search_direct_flight"].action_params["origin"]
    )
    assert first["book_reservation"].action_target == first["book_reservation"].action_params["user_id"]
    assert first["list_all_airports"].action_target == ""


def test_default_timing(airline: list[AuditEvent]) -> None:
    times = [e.ts_us for e in airline]
    assert times == sorted(times)
    assert times[-1] < NOW_US
    assert times[0] == NOW_US - 200 * 5 * MIN
    by_session: dict[str, list[int]] = {}
    for e in airline:
        by_session.setdefault(e.session_id, []).append(e.ts_us)
    first_session = by_session["task0-trial0"]
    assert [t - first_session[0] for t in first_session] == [
        k * 20_000_000 for k in range(len(first_session))
    ]
    assert len({(t[0] - times[0]) % (5 * MIN) for t in by_session.values()}) == 1


def write_conversations(path: Path, conversations: Any) -> Path:
    path.write_text(json.dumps(conversations))
    return path


def call(call_id: str, name: str, arguments: Any) -> dict[str, Any]:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}


def reply(call_id: str, content: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def test_small_conversation(tmp_path: Path, policy: Policy) -> None:
    messages = [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": "Looking.",
            "tool_calls": [call("c1", "get_user_details", {"user_id": "u1"})],
        },
        reply("c1", "plain words"),
        {"role": "assistant", "content": None, "tool_calls": [call("c2", "calculate", "{broken")]},
        reply("c2", "1"),
        {
            "role": "assistant",
            "tool_calls": [call("c3", "search_direct_flight", {"date": 5, "origin": "JFK"})],
        },
        reply("c3", "x" * 9000),
        {"role": "assistant", "tool_calls": [call("c4", "cancel_reservation", {"reservation_id": "R1"})]},
    ]
    path = write_conversations(tmp_path / "t.json", [{"messages": messages}])
    got = list(read_events(path, policy=policy, agent="bot-{task}-{trial}", now_us=NOW_US))
    assert [type(r).__name__ for r in got] == ["AuditEvent", "Rejected", "AuditEvent", "AuditEvent"]
    first, bad, third, fourth = got
    assert isinstance(first, AuditEvent) and isinstance(third, AuditEvent) and isinstance(fourth, AuditEvent)
    assert bad == Rejected("conversation 0 call c2", "arguments: not valid JSON")
    assert (first.session_id, first.agent_id, first.event_id) == (
        "conversation0",
        "bot--",
        "t-conversation0-c1",
    )
    assert (first.result_status, first.result_data, first.action_desc) == (
        "success",
        "plain words",
        "Looking.",
    )
    assert third.action_target == "JFK"
    assert third.result_data == {"truncated": True, "preview": "x" * PREVIEW_CHARS}
    assert len(json.dumps(third.result_data)) < 16 * 1024
    assert (fourth.result_status, fourth.result_data, fourth.human_decision) == (None, None, "approved")
    assert fourth.ts_us - first.ts_us == 3 * 20_000_000


def test_task_and_trial_in_agent_template(tmp_path: Path, policy: Policy) -> None:
    conv = {"task_id": 7, "trial": 2, "traj": [{"role": "assistant", "tool_calls": [call("a", "think", {})]}]}
    path = write_conversations(tmp_path / "t.json", [conv])
    (got,) = read_events(path, policy=policy, agent="m-{task}-t{trial}", now_us=NOW_US)
    assert isinstance(got, AuditEvent)
    assert (got.agent_id, got.session_id, got.event_id) == ("m-7-t2", "task7-trial2", "t-7-2-a")
    assert got.ts_us == NOW_US - 5 * MIN
    (default,) = read_events(path, policy=policy, now_us=NOW_US)
    assert isinstance(default, AuditEvent) and default.agent_id == "agent"


def test_event_id_prefix_is_the_file_name(tmp_path: Path, policy: Policy) -> None:
    conv = {
        "task_id": 3,
        "trial": 1,
        "traj": [
            {"role": "assistant", "tool_calls": [call("x", "think", {}), call("x", "think", {})]},
            {"role": "assistant", "tool_calls": [call("x", "think", {})]},
        ],
    }
    for name, prefix in [
        ("claude-retail.json", "claude-retail"),
        ("claude-retail.json.gz", "claude-retail"),
        ("run 2.JSON.GZ", "run 2"),
        ("runs.gz", "runs"),
        ("conversations.txt", "conversations.txt"),
        (".json", "transcript"),
    ]:
        path = tmp_path / name
        data = json.dumps([conv]).encode()
        path.write_bytes(gzip.compress(data, mtime=0) if name.lower().endswith(".gz") else data)
        got = list(read_events(path, fmt="transcripts", policy=policy, now_us=NOW_US))
        assert [r.event_id for r in got if isinstance(r, AuditEvent)] == [
            f"{prefix}-3-1-x",
            f"{prefix}-3-1-x-2",
            f"{prefix}-3-1-x-3",
        ], name
    assert id_prefix_for(tmp_path / "sub" / "gpt-4o-airline.json.gz") == "gpt-4o-airline"
    assert id_prefix_for("a.jsonl") == "a.jsonl"
    # A very long name is cut so that the ids stay under the 200-character limit.
    assert id_prefix_for("n" * 250 + ".json") == "n" * 100


def test_deep_or_huge_arguments_and_replies_are_per_call(tmp_path: Path, policy: Policy) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    messages = [
        {"role": "assistant", "tool_calls": [call("c1", "calculate", deep)]},
        reply("c1", "1"),
        {"role": "assistant", "tool_calls": [call("c2", "calculate", '{"n": ' + "7" * 5000 + "}")]},
        {"role": "assistant", "tool_calls": [call("c3", "calculate", {"n": 2**64})]},
        {"role": "assistant", "tool_calls": [call("c4", "get_user_details", {"user_id": "u1"})]},
        reply("c4", "[" * 4000 + "]" * 4000),
        {"role": "assistant", "tool_calls": [call("c5", "get_user_details", {"user_id": "u2"})]},
        reply("c5", "9" * 5000),
    ]
    path = write_conversations(tmp_path / "t.json", [{"messages": messages}])
    got = list(read_events(path, policy=policy, now_us=NOW_US))
    assert [r.location for r in got if isinstance(r, Rejected)] == [
        "conversation 0 call c1",
        "conversation 0 call c2",
        "conversation 0 call c3",
    ]
    reasons = [r.reason for r in got if isinstance(r, Rejected)]
    assert reasons[:2] == [
        "arguments: JSON nested too deeply to be read",
        "arguments: a number has more than 4300 digits",
    ]
    assert reasons[2].startswith("action_params")  # more than 64 bits
    fourth, fifth = [r for r in got if isinstance(r, AuditEvent)]
    # Replies that cannot be decoded are kept as text.
    assert (fourth.action_target, fourth.result_data) == ("u1", "[" * 4000 + "]" * 4000)
    assert (fifth.action_target, fifth.result_data) == ("u2", "9" * 5000)


def test_deep_document_fails_cleanly(tmp_path: Path, policy: Policy) -> None:
    path = tmp_path / "deep.json"
    path.write_text('[{"traj": ' + "[" * 100_000 + "]" * 100_000 + "}]")
    with pytest.raises(ImportFailed, match="nested too deeply") as info:
        list(read_events(path, fmt="transcripts", policy=policy, now_us=NOW_US))
    assert isinstance(info.value.__cause__, RecursionError)
    assert str(info.value).startswith(f"{path}: ")
    detect_format(path)  # no RecursionError either


def test_huge_integer_document_fails_cleanly(tmp_path: Path, policy: Policy) -> None:
    path = tmp_path / "huge.json"
    path.write_text('[{"task_id": ' + "1" * 5000 + ', "trial": 0, "traj": []}]')
    assert detect_format(path) == "transcripts"
    with pytest.raises(ImportFailed) as info:
        list(read_events(path, policy=policy, now_us=NOW_US))
    assert str(info.value) == f"{path}: not a usable transcripts file: a number has more than 4300 digits"


def test_busy_conversation_keeps_time_order(tmp_path: Path, policy: Policy) -> None:
    calls = [{"role": "assistant", "tool_calls": [call(f"c{i}", "think", {})]} for i in range(40)]
    path = write_conversations(tmp_path / "t.json", [{"traj": calls}, {"traj": calls[:1]}])
    got = [r for r in read_events(path, policy=policy, now_us=NOW_US) if isinstance(r, AuditEvent)]
    times = [e.ts_us for e in got]
    assert len(times) == 41 and times == sorted(times) and len(set(times)) == 41
    assert times[-1] == NOW_US - 5 * MIN


def test_bad_conversations_are_rejected(tmp_path: Path, policy: Policy) -> None:
    path = write_conversations(tmp_path / "t.json", [{"traj": []}, "nope", {"task_id": 1}])
    got = list(read_events(path, fmt="transcripts", policy=policy, now_us=NOW_US))
    assert [r.location for r in got if isinstance(r, Rejected)] == ["conversation 1", "conversation 2"]


def test_policy_is_required(tmp_path: Path) -> None:
    path = write_conversations(tmp_path / "t.json", [{"messages": []}])
    with pytest.raises(ImportFailed, match="policy"):
        read_events(path, now_us=NOW_US)


def test_not_an_array(tmp_path: Path, policy: Policy) -> None:
    path = write_conversations(tmp_path / "t.json", {"traj": []})
    with pytest.raises(ImportFailed, match="array"):
        list(read_events(path, fmt="transcripts", policy=policy, now_us=NOW_US))
    broken = tmp_path / "b.json.gz"
    broken.write_bytes(gzip.compress(b'[{"traj": [', mtime=0))
    with pytest.raises(ImportFailed) as info:
        list(read_events(broken, fmt="transcripts", policy=policy, now_us=NOW_US))
    assert isinstance(info.value.__cause__, ValueError)


def test_recursion_in_the_policy_is_one_rejection(tmp_path: Path) -> None:
    class DeepPolicy:
        def evaluate(self, *args: Any, **kwargs: Any) -> Any:
            raise RecursionError("maximum recursion depth exceeded")

    conv = {"task_id": 1, "trial": 0, "traj": [{"role": "assistant", "tool_calls": [call("a", "think", {})]}]}
    path = write_conversations(tmp_path / "t.json", [conv])
    got = list(read_events(path, policy=DeepPolicy(), now_us=NOW_US))  # type: ignore[arg-type]
    assert got == [Rejected("conversation 0 call a", "event: nested too deeply to be read")]


def assistant(*calls: Any, content: Any = None) -> dict[str, Any]:
    return {"role": "assistant", "content": content, "tool_calls": list(calls)}


def good(call_id: str) -> dict[str, Any]:
    return {"messages": [assistant(call(call_id, "think", {})), reply(call_id, "ok")]}


def import_between_good_ones(tmp_path: Path, policy: Policy, bad: Any) -> list[AuditEvent | Rejected]:
    """Import ``[good, bad, good]``; check the good conversations' events; return the bad one's records."""
    path = write_conversations(tmp_path / "t.json", [good("g0"), bad, good("g2")])
    got = list(read_events(path, policy=policy, now_us=NOW_US))
    first, last = got[0], got[-1]
    assert isinstance(first, AuditEvent) and first.event_id == "t-conversation0-g0"
    assert isinstance(last, AuditEvent) and last.event_id == "t-conversation2-g2"
    return got[1:-1]


MALFORMED_CONVERSATIONS: list[tuple[Any, str]] = [
    (
        {"messages": [assistant(call("c1", "think", {})), {"role": "assistant", "tool_calls": 5}]},
        "message 1: tool_calls: expected an array, got a number",
    ),
    (
        {"messages": [{"role": "assistant", "tool_calls": "abc"}]},
        "message 0: tool_calls: expected an array, got a string",
    ),
    (
        {"messages": [{"role": "assistant", "tool_calls": {"id": "c1"}}]},
        "message 0: tool_calls: expected an array, got an object",
    ),
    ({"messages": "hello"}, "messages: expected an array of messages, got a string"),
    ({"traj": {"role": "user"}}, "traj: expected an array of messages, got an object"),
    ({"traj": None, "messages": []}, "no traj or messages list"),
    ({"task_id": 1}, "no traj or messages list"),
    ("nope", "expected a conversation object, got a string"),
    ([{"role": "user"}], "expected a conversation object, got an array"),
    ({"messages": [{"role": "user", "content": "hi"}, 3]}, "message 1: expected an object, got a number"),
    ({"messages": [None]}, "message 0: expected an object, got null"),
    ({"messages": [{"content": "hi"}]}, "message 0: role: expected a string, got null"),
    ({"messages": [{"role": ["user"]}]}, "message 0: role: expected a string, got an array"),
    ({"messages": [{"role": "user", "content": 5}]}, "message 0: content: expected a string, got a number"),
    (
        {"messages": [assistant(call("c1", "think", {}), content={"text": "x"})]},
        "message 0: content: expected a string, got an object",
    ),
    (
        {
            "messages": [
                assistant(call("c1", "think", {})),
                {"role": "tool", "tool_call_id": "c1", "content": True},
            ]
        },
        "message 1: content: expected a string, got a boolean",
    ),
    (
        {"messages": [{"role": "user", "content": ["hi"]}]},
        "message 0: content: part 0: expected an object, got a string",
    ),
    (
        {"messages": [assistant(call("c1", "think", {}), content=[{"type": "text", "text": 7}])]},
        "message 0: content: part 0: text: expected a string, got a number",
    ),
    (
        {"messages": [assistant(call("c1", "think", {}), "x")]},
        "message 0: tool call 1: expected an object, got a string",
    ),
    (
        {"messages": [assistant({"id": 5, "function": {"name": "think", "arguments": "{}"}})]},
        "message 0: tool call 0: id: expected a string, got a number",
    ),
    (
        {
            "messages": [
                {"role": "tool", "tool_call_id": "c1", "content": "ok"},
                {"role": "tool", "tool_call_id": ["c1"]},
            ]
        },
        "message 1: tool_call_id: expected a string, got an array",
    ),
    (
        {"task_id": {"n": 1}, "trial": 0, "traj": []},
        "task_id: expected a string or an integer, got an object",
    ),
    ({"task_id": 1, "trial": True, "traj": []}, "trial: expected a string or an integer, got a boolean"),
    ({"task_id": 1, "trial": 0.5, "traj": []}, "trial: expected a string or an integer, got a number"),
]


@pytest.mark.parametrize(("bad", "reason"), MALFORMED_CONVERSATIONS)
def test_a_malformed_conversation_is_one_rejection(
    tmp_path: Path, policy: Policy, bad: Any, reason: str
) -> None:
    assert import_between_good_ones(tmp_path, policy, bad) == [Rejected("conversation 1", reason)]


def test_the_reported_transcript_keeps_its_good_conversation(tmp_path: Path, policy: Policy) -> None:
    conversations = [
        {"messages": [assistant(call("c1", "get_user_details", {"user_id": "u1"})), reply("c1", "{}")]},
        {"messages": [{"role": "assistant", "tool_calls": 5}]},
    ]
    path = write_conversations(tmp_path / "t.json", conversations)
    got = list(read_events(path, policy=policy, now_us=NOW_US))
    assert len(got) == 2
    assert isinstance(got[0], AuditEvent) and got[0].action_target == "u1"
    assert got[1] == Rejected("conversation 1", "message 0: tool_calls: expected an array, got a number")


MALFORMED_CALLS: list[tuple[dict[str, Any], str]] = [
    ({"id": "c1", "type": "function"}, "tool call: no function"),
    ({"id": "c1", "function": "think"}, "tool call: function: expected an object, got a string"),
    ({"id": "c1", "function": {"arguments": "{}"}}, "tool call: no function name"),
    ({"id": "c1", "function": {"name": "", "arguments": "{}"}}, "tool call: no function name"),
    (
        {"id": "c1", "function": {"name": 5, "arguments": "{}"}},
        "tool call: function name: expected a string, got a number",
    ),
    (
        {"id": "c1", "function": {"name": "think", "arguments": 5}},
        "arguments: expected a string of JSON, got a number",
    ),
    (
        {"id": "c1", "function": {"name": "think", "arguments": ["a"]}},
        "arguments: expected a string of JSON, got an array",
    ),
    (
        {"id": "c1", "function": {"name": "think", "arguments": "[1]"}},
        "arguments: expected a JSON object, got an array",
    ),
    (
        {"id": "c1", "function": {"name": "think", "arguments": "null"}},
        "arguments: expected a JSON object, got null",
    ),
]


@pytest.mark.parametrize(("bad_call", "reason"), MALFORMED_CALLS)
def test_a_malformed_call_is_one_rejection(
    tmp_path: Path, policy: Policy, bad_call: dict[str, Any], reason: str
) -> None:
    # The conversation's other call still imports.
    conversation = {"messages": [assistant(bad_call, call("c2", "think", {})), reply("c2", "ok")]}
    got = import_between_good_ones(tmp_path, policy, conversation)
    assert got[0] == Rejected("conversation 1 call c1", reason)
    assert len(got) == 2 and isinstance(got[1], AuditEvent) and got[1].event_id == "t-conversation1-c2"


def test_well_formed_variants_are_accepted(tmp_path: Path, policy: Policy) -> None:
    conversation = {
        "task_id": "t-9",
        "trial": 3,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url"}]},
            assistant(
                # No id, and the arguments an object rather than JSON text.
                {"function": {"name": "get_user_details", "arguments": {"user_id": "u1"}}},
                {"id": "", "function": {"name": "think"}},  # empty id, no arguments
                content=[{"type": "text", "text": "Looking"}, {"type": "text", "text": " it up."}],
            ),
            {"role": "tool", "content": "unpaired"},  # no tool_call_id
            {"role": "assistant", "content": "done", "tool_calls": None},
        ],
    }
    path = write_conversations(tmp_path / "t.json", [conversation])
    got = list(read_events(path, policy=policy, now_us=NOW_US))
    assert [type(r) for r in got] == [AuditEvent, AuditEvent]
    first, second = got
    assert isinstance(first, AuditEvent) and isinstance(second, AuditEvent)
    assert (first.event_id, first.action_params, first.action_desc) == (
        "t-t-9-3-call0",
        {"user_id": "u1"},
        "Looking it up.",
    )
    assert (second.event_id, second.action_params, second.result_status) == ("t-t-9-3-call1", {}, None)


def test_a_shape_the_checks_miss_is_still_one_rejection(
    tmp_path: Path, policy: Policy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the shape checks, pairing fails on tool_calls 5: the backstop turns that into a rejection.
    monkeypatch.setattr(transcripts, "check_conversation", lambda conversation: conversation["messages"])
    got = import_between_good_ones(tmp_path, policy, {"messages": [{"role": "assistant", "tool_calls": 5}]})
    assert got == [Rejected("conversation 1", "cannot be read: TypeError: 'int' object is not iterable")]
