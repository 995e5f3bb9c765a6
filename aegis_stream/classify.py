"""Filling a missing decision (risk level, approval, matched rule) from a policy.

Used by the producer and the importers alike, so an event without a decision
is classified the same way whichever way it arrives.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from aegis_stream.errors import InvalidEvent, PolicyError
from aegis_stream.events import parse_event, parse_timestamp, utc_datetime
from aegis_stream.policy import Policy


def needs_classification(raw: Mapping[str, Any]) -> bool:
    """True when the record lacks a risk level or an approval."""
    return raw.get("risk_level") in (None, "") or raw.get("approval") in (None, "")


def classify(raw: MutableMapping[str, Any], policy: Policy | None) -> None:
    """Fill missing ``risk_level``/``approval``/``matched_rule`` from ``policy``.

    The policy sees the record's own timestamp as ``now``. Records of the wrong
    shape are left alone so that validation reports the precise field at fault.
    Raises :class:`InvalidEvent` when classification is needed but impossible.
    """
    if not needs_classification(raw):
        return
    if policy is None:
        missing = "risk_level" if raw.get("risk_level") in (None, "") else "approval"
        raise InvalidEvent(f"{missing}: missing, and no policy was given to classify the action")
    action_type, target = raw.get("action_type"), raw.get("action_target")
    params = raw.get("action_params") or {}
    desc = raw.get("action_desc") or ""
    agent_id = raw.get("agent_id") or None
    if not (
        isinstance(action_type, str)
        and isinstance(target, str)
        and isinstance(params, Mapping)
        and isinstance(desc, str)
        and (agent_id is None or isinstance(agent_id, str))
        and raw.get("timestamp") is not None
    ):
        # Cannot be classified: validate as if it had been, so the reason names the field
        # actually at fault, not the missing decision.
        parse_event({**raw, "risk_level": "LOW", "approval": "auto"})
        return
    now = utc_datetime(parse_timestamp(raw["timestamp"]))
    try:
        decision = policy.evaluate(action_type, target, params, desc, agent_id, now=now)
    except PolicyError as e:
        raise InvalidEvent(f"policy: cannot classify the action: {e}") from e
    if raw.get("risk_level") in (None, ""):
        raw["risk_level"] = decision.risk_level
    if raw.get("approval") in (None, ""):
        raw["approval"] = decision.approval
    if raw.get("matched_rule") in (None, ""):
        raw["matched_rule"] = decision.matched_rule
