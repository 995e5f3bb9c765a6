"""The projection: one event in, the increments it makes to the views out.

Pure and total over validated events: no Redis, no clock. Every view the
dashboard reads is the sum of these increments over the log, which is what
makes a rebuild by replay give the same views.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from aegis_stream.buckets import BUCKET_SIZES, bucket_start
from aegis_stream.events import AuditEvent

# Counted dimensions: value -> count, plus the order in which values first appeared.
DIMENSIONS: tuple[str, ...] = ("risk", "approval", "status", "type", "agent")
# Timeline bucket field for each approval value.
APPROVAL_FIELD = {"block": "blocked", "approve": "approved", "auto": "auto"}
UNKNOWN_STATUS = "unknown"  # D5: a missing result status is counted under "unknown"
NO_AGENT = ""  # an event without agent_id; readers name it as the reference does
DEFAULT_RULE = "<default>"
HIGH_RISK = frozenset({"HIGH", "CRITICAL"})
# Compliance classifications, by case-insensitive substring (as the reference's reports).
CHANGE_MARKERS = ("policy", "config")  # action type: a change (SOC2 CC8.1)
DELETE_MARKERS = ("delete",)  # action type: an erasure (GDPR)
PERSONAL_MARKERS = ("user", "customer", "personal", "pii", "profile", "account", "email")  # target


PROFILE_MAPS = ("types", "targets")  # per-agent maps, each capped (see apply.lua)


@dataclass(frozen=True, slots=True)
class ProfileIncrement:
    """What one event adds to its agent's behaviour profile (DESIGN D3).

    ``counters`` are +1 each (``total``; ``blocked`` when the approval is
    ``block``); ``maps`` are +1 in the agent's ``types`` and ``targets``;
    ``ts_us`` widens the profile's first/last seen (event time).
    """

    agent: str
    counters: tuple[str, ...]
    maps: tuple[tuple[str, str], ...]
    ts_us: int


@dataclass(frozen=True, slots=True)
class Increments:
    """What one event adds to the views (every delta is +1)."""

    totals: tuple[str, ...]
    dims: tuple[tuple[str, str], ...]
    buckets: tuple[tuple[int, int, str], ...]
    profile: ProfileIncrement


def totals_fields(event: AuditEvent) -> tuple[str, ...]:
    """The scalar counters an event increments.

    ``matched``: has a matched rule (``<default>`` included, as SOC2 CC6.1 counts);
    ``covered``: matched by a real rule (governance coverage excludes ``<default>``);
    ``high_risk``: HIGH or CRITICAL; ``bypass``: high risk that ran on ``auto``;
    ``changes``, ``deletes``, ``personal`` (see :func:`compliance_classes`), each
    with an ``_unmatched`` twin when the event has no matched rule.
    """
    fields = ["total"]
    if event.matched_rule:
        fields.append("matched")
        if event.matched_rule != DEFAULT_RULE:
            fields.append("covered")
    if event.risk_level in HIGH_RISK:
        fields.append("high_risk")
        if event.approval == "auto":
            fields.append("bypass")
    for name in compliance_classes(event.action_type, event.action_target):
        fields.append(name)
        if not event.matched_rule:
            fields.append(f"{name}_unmatched")
    return tuple(fields)


@functools.lru_cache(maxsize=4096)
def _type_classes(action_type: str) -> tuple[str, ...]:
    lowered = action_type.lower()
    out = []
    if any(marker in lowered for marker in CHANGE_MARKERS):
        out.append("changes")
    if any(marker in lowered for marker in DELETE_MARKERS):
        out.append("deletes")
    return tuple(out)


@functools.lru_cache(maxsize=65536)  # called for every event; targets repeat
def is_personal_target(target: str) -> bool:
    """True for a target that names personal data (GDPR data-access logging)."""
    lowered = target.lower()
    return any(marker in lowered for marker in PERSONAL_MARKERS)


def compliance_classes(action_type: str, target: str) -> tuple[str, ...]:
    """Which compliance counters an action belongs to: ``changes``, ``deletes``, ``personal``."""
    classes = _type_classes(action_type)
    return (*classes, "personal") if is_personal_target(target) else classes


def project(event: AuditEvent) -> Increments:
    """Project one validated event into its view increments."""
    dims = (
        ("risk", event.risk_level),
        ("approval", event.approval),
        ("status", event.result_status if event.result_status is not None else UNKNOWN_STATUS),
        ("type", event.action_type),
        ("agent", event.agent_id if event.agent_id is not None else NO_AGENT),
    )
    ts_ms = event.ts_us // 1000
    field = APPROVAL_FIELD[event.approval]
    buckets: list[tuple[int, int, str]] = []
    for period in BUCKET_SIZES:
        start = bucket_start(ts_ms, period.size_ms)
        buckets.append((period.size_ms, start, "total"))
        buckets.append((period.size_ms, start, field))
    return Increments(
        totals=totals_fields(event), dims=dims, buckets=tuple(buckets), profile=profile_increment(event)
    )


def profile_increment(event: AuditEvent) -> ProfileIncrement:
    """The agent-profile part of :func:`project`."""
    return ProfileIncrement(
        agent=event.agent_id if event.agent_id is not None else NO_AGENT,
        counters=("total", "blocked") if event.approval == "block" else ("total",),
        maps=(("types", event.action_type), ("targets", event.action_target)),
        ts_us=event.ts_us,
    )
