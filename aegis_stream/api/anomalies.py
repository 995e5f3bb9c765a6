"""Anomaly handlers: every agent's behaviour profile, and high-block-rate alerts (DESIGN D3, D4).

Profiles are projected from every event, so the cost of a request grows with
the number of agents, never with the number of events.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aegis_stream.api.state import app_state
from aegis_stream.events import format_timestamp
from aegis_stream.views import AgentProfile

ALERT_MIN_ACTIONS = 5  # the reference's fixed thresholds
ALERT_BLOCK_RATE = 0.5


def _time(us: int | None) -> str | None:
    return format_timestamp(us) if us is not None else None


def _join(
    a: list[tuple[str, int]], a_first: tuple[Any, ...], b: list[tuple[str, int]], b_first: tuple[Any, ...]
) -> tuple[list[tuple[str, int]], tuple[Any, ...]]:
    """Two first-appearance-ordered maps as one: counts summed, ordered by the earlier appearance."""
    merged: dict[str, list[Any]] = {}
    for pairs, firsts in ((a, a_first), (b, b_first)):
        for (value, n), at in zip(pairs, firsts or [(0, 0)] * len(pairs), strict=True):
            slot = merged.setdefault(value, [0, at])
            slot[0] += n
            slot[1] = min(slot[1], at)
    rows = sorted(merged.items(), key=lambda kv: kv[1][1])
    return [(value, slot[0]) for value, slot in rows], tuple(slot[1] for _, slot in rows)


def merge_by_name(profiles: list[AgentProfile]) -> list[AgentProfile]:
    """One profile per reference name: events without agent and agent ``default`` share one.

    Kept in first-appearance order of agents; each map in first-appearance order of its values.
    """
    merged: dict[str, AgentProfile] = {}
    for p in profiles:
        seen = merged.get(p.name)
        if seen is None:
            merged[p.name] = p
            continue
        types, types_first = _join(seen.types, seen.types_first, p.types, p.types_first)
        targets, targets_first = _join(seen.targets, seen.targets_first, p.targets, p.targets_first)
        firsts = [t for t in (seen.first_us, p.first_us) if t is not None]
        lasts = [t for t in (seen.last_us, p.last_us) if t is not None]
        merged[p.name] = AgentProfile(
            agent=p.name,
            total=seen.total + p.total,
            blocked=seen.blocked + p.blocked,
            types=types,
            targets=targets,
            first_us=min(firsts, default=None),
            last_us=max(lasts, default=None),
            types_overflow=seen.types_overflow + p.types_overflow,
            targets_overflow=seen.targets_overflow + p.targets_overflow,
            types_first=types_first,
            targets_first=targets_first,
        )
    return list(merged.values())


def profile_json(p: AgentProfile) -> dict[str, Any]:
    """One profile in the reference's key order, then our overflow counters."""
    return {
        "agent_id": p.name,
        "total_actions": p.total,
        "blocked_count": p.blocked,
        "block_rate": round(p.block_rate, 3),
        "action_types": dict(p.types),
        "targets": dict(p.targets),
        "first_seen": _time(p.first_us),
        "last_seen": _time(p.last_us),
        "action_types_overflow": p.types_overflow,
        "targets_overflow": p.targets_overflow,
    }


def alerts_for(profiles: list[AgentProfile]) -> list[dict[str, Any]]:
    """Agents with at least 5 actions and more than half blocked, the most recently active first."""
    flagged = [p for p in profiles if p.total >= ALERT_MIN_ACTIONS and p.block_rate > ALERT_BLOCK_RATE]
    flagged.sort(key=lambda p: p.last_us or 0, reverse=True)
    return [
        {
            "type": "high_block_rate",
            "severity": min(1.0, p.block_rate),
            "agent_id": p.name,
            "message": f"Agent {p.name} was blocked {p.blocked}/{p.total} times, "
            f"a block rate of {p.block_rate:.0%}.",
            "timestamp": _time(p.last_us),
        }
        for p in flagged
    ]


def _render(value: Any) -> bytes:
    """JSON exactly as :class:`JSONResponse` renders it."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


async def profiles(request: Request) -> Response:
    """Every agent's profile, in the order agents first appeared.

    Each agent's JSON is kept while its profile reads the same (the stamp),
    so a dashboard polling this re-renders only the agents that acted since:
    up to 1,000 targets per agent make this the largest answer of the API.
    """
    state = app_state(request)
    if not state.settings.anomalies:
        return JSONResponse({"profiles": [], "configured": False})
    found = merge_by_name(await state.reader.profiles())
    seen, kept = state.rendered_profiles, {}
    parts = []
    for p in found:
        part = seen.get(p.stamp) if p.stamp else None  # merged from two agents: no stamp, rendered
        if part is None:
            part = _render(profile_json(p))
        if p.stamp:
            kept[p.stamp] = part
        parts.append(part)
    state.rendered_profiles = kept
    body = b'{"profiles":[' + b",".join(parts) + b'],"configured":true}'
    return Response(body, media_type="application/json")


async def alerts(request: Request) -> JSONResponse:
    """High block rate alerts for every qualifying agent (D4)."""
    state = app_state(request)
    if not state.settings.anomalies:
        return JSONResponse({"alerts": [], "configured": False})
    found = merge_by_name(await state.reader.profiles(maps=False))
    return JSONResponse({"alerts": alerts_for(found), "configured": True})


ROUTES = [
    Route("/api/v1/dashboard/anomalies/profiles", profiles),
    Route("/api/v1/dashboard/anomalies/alerts", alerts),
]
