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

    A conversation of the wrong shape (see :func:`check_conversation`) is one
    ``Rejected("conversation <i>", reason)``; a call that cannot become an
    event is ``Rejected("conversation <i> call <key>", reason)``. Either way
    the other conversations and calls go on.
    """
    count = len(conversations)
    for index, conversation in enumerate(conversations):
        start = now_us - (count - index) * conversation_gap_us
        where = f"conversation {index}"
        try:
            messages = check_conversation(conversation)
            calls = pair_calls(messages)
            context = _Context(index, conversation, agent or DEFAULT_AGENT, id_prefix, policy)
        except InvalidEvent as e:
            yield Rejected(where, e.reason)
            continue
        except (TypeError, AttributeError, KeyError) as e:  # a shape check_conversation missed
            yield Rejected(where, f"cannot be read: {type(e).__name__}: {e}"[:200])
            continue
        step = call_gap_us
        if calls and len(calls) * call_gap_us > conversation_gap_us:
            step = conversation_gap_us // len(calls)
        for number, call in enumerate(calls):
            yield _call_record(context, index, call, start + number * step, max_bytes)


def _call_record(context: _Context, index: int, call: Call, ts_us: int, max_bytes: int | None) -> Record:
    """One call of conversation ``index`` as an event, or its rejection."""
    message, request, key, reply = call
    where = f"conversation {index} call {key}"
    try:
        return check_size(context.event(message, request, key, reply, ts_us), max_bytes)
    except InvalidEvent as e:
        return Rejected(where, e.reason)
    except RecursionError:  # e.g. the policy printing deeply nested arguments
        return Rejected(where, TOO_DEEP)
    except (TypeError, AttributeError, KeyError) as e:  # a shape the checks missed
        return Rejected(where, f"tool call: cannot be read: {type(e).__name__}: {e}"[:200])


def _kind(value: Any) -> str:
    """The JSON name of ``value``'s type, for reasons."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def check_conversation(conversation: Any) -> list[Mapping[str, Any]]:
    """The messages of one conversation, after checking its shape.

    Raises :class:`InvalidEvent` saying precisely what is wrong (which message,
    which field, what it holds) when the conversation is not an object, has
    no ``traj``/``messages`` list, a ``task_id``/``trial`` that is neither a
    string nor an integer, or a message that is not an object or whose
    ``role``, ``content``, ``tool_calls`` (each call an object with an optional
    string ``id``) or ``tool_call_id`` has the wrong type. What one call holds
    (its function, name and arguments) is checked per call, when it becomes
    an event.
    """
    if not isinstance(conversation, Mapping):
        raise InvalidEvent(f"expected a conversation object, got {_kind(conversation)}")
    name = "traj" if "traj" in conversation else "messages"
    messages = conversation.get(name)
    if messages is None:
        raise InvalidEvent("no traj or messages list")
    if not isinstance(messages, list):
        raise InvalidEvent(f"{name}: expected an array of messages, got {_kind(messages)}")
    for field in ("task_id", "trial"):
        value = conversation.get(field)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | str)):
            raise InvalidEvent(f"{field}: expected a string or an integer, got {_kind(value)}")
    for number, message in enumerate(messages):
        _check_message(message, f"message {number}")
    return messages


def _check_message(message: Any, where: str) -> None:
    if not isinstance(message, Mapping):
        raise InvalidEvent(f"{where}: expected an object, got {_kind(message)}")
    role = message.get("role")
    if not isinstance(role, str):
        raise InvalidEvent(f"{where}: role: expected a string, got {_kind(role)}")
    _check_content(message.get("content"), f"{where}: content")
    calls = message.get("tool_calls")
    if calls is not None and not isinstance(calls, list):
        raise InvalidEvent(f"{where}: tool_calls: expected an array, got {_kind(calls)}")
    for number, call in enumerate(calls or []):
        if not isinstance(call, Mapping):
            raise InvalidEvent(f"{where}: tool call {number}: expected an object, got {_kind(call)}")
        call_id = call.get("id")
        if call_id is not None and not isinstance(call_id, str):
            raise InvalidEvent(f"{where}: tool call {number}: id: expected a string, got {_kind(call_id)}")
    reply_to = message.get("tool_call_id")
    if reply_to is not None and not isinstance(reply_to, str):
        raise InvalidEvent(f"{where}: tool_call_id: expected a string, got {_kind(reply_to)}")


def _check_content(content: Any, where: str) -> None:
    """Content is text, null, or a list of parts (objects; a ``text`` part holds a string)."""
    if content is None or isinstance(content, str):
        return
    if not isinstance(content, list):
        raise InvalidEvent(f"{where}: expected a string, got {_kind(content)}")
    for number, part in enumerate(content):
        if not isinstance(part, Mapping):
            raise InvalidEvent(f"{where}: part {number}: expected an object, got {_kind(part)}")
        text = part.get("text")
        if part.get("type") == "text" and not isinstance(text, str):
            raise InvalidEvent(f"{where}: part {number}: text: expected a string, got {_kind(text)}")


Call: TypeAlias = tuple[Mapping[str, Any], Mapping[str, Any], str, Mapping[str, Any] | None]


def pair_calls(messages: list[Mapping[str, Any]]) -> list[Call]:
    """Every assistant tool call with its key and its reply message (or None), in order.

    ``messages`` must have passed :func:`check_conversation`. Replies are
    matched by ``tool_call_id`` to the earliest call still waiting for one:
    tau-bench reuses a call id within a conversation (73 times in the airline
    file), so a plain id lookup would pair calls with the wrong reply. The key
    is the call id, suffixed ``-2``, ``-3``... on repeats (``callN`` by
    position when a call has no id), so that it is unique and stable.
    """
    calls: list[list[Any]] = []
    waiting: dict[str, deque[int]] = {}
    seen: dict[str, int] = {}
    for message in messages:
        if message["role"] == "assistant":
            for call in message.get("tool_calls") or []:
                call_id = call.get("id")
                if not call_id:
                    call_id = f"call{len(calls)}"
                seen[call_id] = seen.get(call_id, 0) + 1
                key = call_id if seen[call_id] == 1 else f"{call_id}-{seen[call_id]}"
                waiting.setdefault(call_id, deque()).append(len(calls))
                calls.append([message, call, key, None])
        elif message["role"] == "tool":
            reply_to = message.get("tool_call_id")
            queue = waiting.get(reply_to) if reply_to else None
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
        call: Mapping[str, Any],
        key: str,
        reply: Mapping[str, Any] | None,
        ts_us: int,
    ) -> AuditEvent:
        function = call.get("function")
        if function is None:
            raise InvalidEvent("tool call: no function")
        if not isinstance(function, Mapping):
            raise InvalidEvent(f"tool call: function: expected an object, got {_kind(function)}")
        name = function.get("name")
        if name is not None and not isinstance(name, str):
            raise InvalidEvent(f"tool call: function name: expected a string, got {_kind(name)}")
        if not name:
            raise InvalidEvent("tool call: no function name")
        params = parse_arguments(function.get("arguments"))
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
    """The call's arguments as an object (OpenAI sends a JSON string; a dict is accepted).

    Missing, null or empty arguments are ``{}``; anything else that is not a
    string holding a JSON object (or an object) raises :class:`InvalidEvent`.
    """
    if arguments is None or arguments == "":
        return {}
    if isinstance(arguments, str):
        try:
            arguments = json_value(arguments, "arguments")
        except json.JSONDecodeError:
            raise InvalidEvent("arguments: not valid JSON") from None
        if not isinstance(arguments, dict):
            raise InvalidEvent(f"arguments: expected a JSON object, got {_kind(arguments)}")
        return arguments
    if not isinstance(arguments, dict):
        raise InvalidEvent(f"arguments: expected a string of JSON, got {_kind(arguments)}")
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
    """Message content as text (OpenAI may send a list of ``{"type": "text"}`` parts).

    Anything else (checked away by :func:`check_conversation`) is no text.
    """
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            text
            for p in content
            if isinstance(p, Mapping) and p.get("type") == "text" and isinstance(text := p.get("text"), str)
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
