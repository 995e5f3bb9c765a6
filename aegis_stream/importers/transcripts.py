"""Import agent transcripts (tau-bench shape): every tool call becomes one audit event.

The file is a JSON array of conversations. A tau-bench conversation has
``task_id``, ``trial``, ``reward``, ``info`` and ``traj`` (OpenAI chat
messages); a bare ``{"messages": [...]}`` conversation is accepted too. Each
assistant ``tool_calls`` entry is classified by the policy and paired with the
``role: tool`` reply that carries its ``tool_call_id``.

Event ids are ``<prefix>-<task_id>-<trial>-<call key>``, the prefix being the
input file's name without ``.json``/``.gz`` (see :func:`id_prefix_for`), so
that re-imports of the same file can be de-duplicated.
"""

from __future__ import annotations

import json
import math
import os
from collections import deque
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

from aegis_stream.errors import ImportFailed, InvalidEvent, PolicyError
from aegis_stream.events import MAX_TEXT, AuditEvent, build_event, utc_datetime
from aegis_stream.importers._common import (
    READ_ERRORS,
    TOO_DEEP,
    PathLike,
    Record,
    Rejected,
    check_size,
    json_value,
    open_binary,
    too_many_digits,
)

if TYPE_CHECKING:
    from aegis_stream.policy import Policy

DEFAULT_AGENT = "agent"
DEFAULT_ID_PREFIX = "transcript"
MAX_ID_PREFIX = 100  # event ids are at most 200 characters
CONVERSATION_GAP_US = 5 * 60 * 1_000_000
CALL_GAP_US = 20 * 1_000_000
MAX_REPLY_CHARS = 8_000  # longer replies are kept as a preview only
PREVIEW_CHARS = 2_000
MAX_DESC_CHARS = 1_000
NEEDS_POLICY = "transcripts carry no risk levels: importing them needs a policy (--policy)"


def load_conversations(path: PathLike) -> list[Any]:
    """Read the whole JSON array (plain or gzip); :class:`ImportFailed` if it is not one."""
    try:
        with open_binary(path) as fh:
            data = json.load(fh)
    except READ_ERRORS as e:
        raise ImportFailed(f"{os.fspath(path)}: read failed: {e}") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ImportFailed(f"{os.fspath(path)}: not a JSON transcripts file: {e}") from e
    except ValueError as e:  # int() refuses a number longer than sys.get_int_max_str_digits()
        raise ImportFailed(f"{os.fspath(path)}: not a usable transcripts file: {too_many_digits()}") from e
    except RecursionError as e:
        raise ImportFailed(
            f"{os.fspath(path)}: not a usable transcripts file: JSON nested too deeply to be read"
        ) from e
    if not isinstance(data, list):
        raise ImportFailed(f"{os.fspath(path)}: transcripts must be a JSON array of conversations")
    return data


def id_prefix_for(path: PathLike) -> str:
    """The event-id prefix for a transcripts file: its name without ``.gz`` and ``.json``.

    ``runs/gpt-4o-airline.json.gz`` gives ``gpt-4o-airline``. The prefix is cut
    to :data:`MAX_ID_PREFIX` characters; an empty one is ``transcript``.
    """
    name = os.path.basename(os.fspath(path))
    for suffix in (".gz", ".json"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name[:MAX_ID_PREFIX] or DEFAULT_ID_PREFIX


def convert(
    conversations: list[Any],
    *,
    policy: Policy,
    agent: str | None = None,
    now_us: int,
    id_prefix: str = DEFAULT_ID_PREFIX,
    max_bytes: int | None = None,
    conversation_gap_us: int = CONVERSATION_GAP_US,
    call_gap_us: int = CALL_GAP_US,
) -> Iterator[Record]:
    """Turn parsed conversations into events, in conversation then call order.

    Conversation ``i`` of ``n`` starts at ``now_us - (n - i) * conversation_gap_us``
    and its calls follow ``call_gap_us`` apart; a conversation with too many
    calls for its slot has them squeezed so that times never go backwards.
    ``agent`` is a template with optional ``{trial}`` and ``{task}`` placeholders
    (default ``agent``). Event ids are ``<id_prefix>-<task>-<trial>-<call key>``
    (``<id_prefix>-conversation<i>-<call key>`` without task and trial). With
    ``max_bytes``, a call whose event encodes larger is rejected.
    """
    count = len(conversations)
    for index, conversation in enumerate(conversations):
        start = now_us - (count - index) * conversation_gap_us
        if not isinstance(conversation, Mapping):
            yield Rejected(f"conversation {index}", "conversation: expected an object")
            continue
        messages = conversation.get("traj", conversation.get("messages"))
        if not isinstance(messages, list):
            yield Rejected(f"conversation {index}", "conversation: no traj/messages list")
            continue
        calls = pair_calls(messages)
        step = call_gap_us
        if calls and len(calls) * call_gap_us > conversation_gap_us:
            step = conversation_gap_us // len(calls)
        context = _Context(index, conversation, agent or DEFAULT_AGENT, id_prefix, policy)
        for number, (message, call, key, reply) in enumerate(calls):
            record: Record
            try:
                record = check_size(
                    context.event(message, call, key, reply, start + number * step), max_bytes
                )
            except InvalidEvent as e:
                record = Rejected(f"conversation {index} call {key}", e.reason)
            except RecursionError:  # e.g. the policy printing deeply nested arguments
                record = Rejected(f"conversation {index} call {key}", TOO_DEEP)
            yield record


Call: TypeAlias = tuple[Mapping[str, Any], Any, str, Mapping[str, Any] | None]


def pair_calls(messages: list[Any]) -> list[Call]:
    """Every assistant tool call with its key and its reply message (or None), in order.

    Replies are matched by ``tool_call_id`` to the earliest call still waiting
    for one: tau-bench reuses a call id within a conversation (73 times in the
    airline file), so a plain id lookup would pair calls with the wrong reply.
    The key is the call id, suffixed ``-2``, ``-3``... on repeats (``callN``
    by position when a call has no id), so that it is unique and stable.
    """
    calls: list[list[Any]] = []
    waiting: dict[str, deque[int]] = {}
    seen: dict[str, int] = {}
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        if message.get("role") == "assistant":
            for call in message.get("tool_calls") or []:
                call_id = call.get("id") if isinstance(call, Mapping) else None
                if not isinstance(call_id, str) or not call_id:
                    call_id = f"call{len(calls)}"
                seen[call_id] = seen.get(call_id, 0) + 1
                key = call_id if seen[call_id] == 1 else f"{call_id}-{seen[call_id]}"
                waiting.setdefault(call_id, deque()).append(len(calls))
                calls.append([message, call, key, None])
        elif message.get("role") == "tool":
            reply_to = message.get("tool_call_id")
            queue = waiting.get(reply_to) if isinstance(reply_to, str) else None
            if queue:
                calls[queue.popleft()][3] = message
    return [(m, c, k, r) for m, c, k, r in calls]


class _Context:
    """What every call of one conversation shares: session, agent and id prefix."""

    def __init__(
        self,
        index: int,
        conversation: Mapping[str, Any],
        agent_template: str,
        id_prefix: str,
        policy: Policy,
    ) -> None:
        self.policy = policy
        task, trial = conversation.get("task_id"), conversation.get("trial")
        has_ids = task is not None and trial is not None
        self.session_id = f"task{task}-trial{trial}" if has_ids else f"conversation{index}"
        self.id_prefix = f"{id_prefix}-{task}-{trial}" if has_ids else f"{id_prefix}-conversation{index}"
        self.agent_id = agent_template.replace("{trial}", "" if trial is None else str(trial)).replace(
            "{task}", "" if task is None else str(task)
        )

    def event(
        self,
        message: Mapping[str, Any],
        call: Any,
        key: str,
        reply: Mapping[str, Any] | None,
        ts_us: int,
    ) -> AuditEvent:
        function = call.get("function") if isinstance(call, Mapping) else None
        name = function.get("name") if isinstance(function, Mapping) else None
        if not isinstance(name, str) or not name:
            raise InvalidEvent("tool call: no function name")
        params = parse_arguments(function.get("arguments") if isinstance(function, Mapping) else None)
        target = pick_target(params)
        desc = _text(message.get("content"))[:MAX_DESC_CHARS]
        try:
            decision = self.policy.evaluate(
                name, target, params, desc, self.agent_id, now=utc_datetime(ts_us)
            )
        except PolicyError as e:
            raise InvalidEvent(f"policy: cannot classify the call: {e}") from e
        raw: dict[str, Any] = {
            "session_id": self.session_id,
            "action_type": name,
            "action_target": target,
            "action_params": params,
            "action_desc": desc or None,
            "risk_level": decision.risk_level,
            "approval": decision.approval,
            "matched_rule": decision.matched_rule,
            "human_decision": "approved" if decision.approval == "approve" else None,
            "agent_id": self.agent_id or None,
            "event_id": f"{self.id_prefix}-{key}",
        }
        raw.update(reply_result(reply))
        return build_event(raw, ts_us)


def parse_arguments(arguments: Any) -> dict[str, Any]:
    """The call's arguments as an object (OpenAI sends a JSON string; a dict is accepted)."""
    if arguments is None or arguments == "":
        return {}
    if isinstance(arguments, str):
        try:
            arguments = json_value(arguments, "arguments")
        except json.JSONDecodeError:
            raise InvalidEvent("arguments: not valid JSON") from None
    if not isinstance(arguments, dict):
        raise InvalidEvent(f"arguments: expected a JSON object, got {type(arguments).__name__}")
    return arguments


def pick_target(params: Mapping[str, Any]) -> str:
    """The first ``*_id`` argument's value, else the first string argument, else ``""``."""
    for key, value in params.items():
        if key.endswith("_id") and value is not None and not isinstance(value, dict | list):
            return str(value)[:MAX_TEXT]
    for value in params.values():
        if isinstance(value, str):
            return value[:MAX_TEXT]
    return ""


def _text(content: Any) -> str:
    """Message content as text (OpenAI may send a list of ``{"type": "text"}`` parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p.get("text", "") for p in content if isinstance(p, Mapping) and p.get("type") == "text"
        )
    return ""


def _no_constants(name: str) -> Any:
    raise ValueError(f"non-finite number {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text[:20]}")
    return value


def reply_result(reply: Mapping[str, Any] | None) -> dict[str, Any]:
    """``result_status``/``result_data``/``result_error`` from the tool's reply message.

    A reply starting with ``Error`` is a failure; otherwise the reply is the
    result data, decoded from JSON when possible and cut to a preview when long.
    """
    if reply is None:
        return {"result_status": None}
    text = _text(reply.get("content"))
    if text.startswith("Error"):
        return {"result_status": "failed", "result_error": text[:MAX_TEXT]}
    if len(text) > MAX_REPLY_CHARS:
        return {
            "result_status": "success",
            "result_data": {"truncated": True, "preview": text[:PREVIEW_CHARS]},
        }
    try:
        data: Any = json.loads(text, parse_constant=_no_constants, parse_float=_finite_float)
    except (ValueError, RecursionError):  # not JSON, too long a number, or too deep: kept as text
        data = text
    return {"result_status": "success", "result_data": data}
