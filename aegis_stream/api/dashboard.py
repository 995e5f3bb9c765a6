"""Dashboard handlers. Each reads a bounded number of view keys, never events.

Keys, key order and numbers follow the reference, apart from the design's
deliberate differences (D1 every event counts, D2 whole buckets, D5
``unknown`` status, D8 pipeline health appended).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aegis_stream import __version__
from aegis_stream.api.state import app_state
from aegis_stream.buckets import period_for
from aegis_stream.events import APPROVALS
from aegis_stream.project.projection import NO_AGENT
from aegis_stream.reports.compliance import governance_score
from aegis_stream.views import Aggregates

TOP_ACTION_TYPES = 20


def approval_counts(agg: Aggregates) -> dict[str, int]:
    """Always exactly ``auto``, ``approve``, ``block`` in that order."""
    counts = agg.counts("approval")
    return {a: counts.get(a, 0) for a in APPROVALS}


def by_agent(agg: Aggregates) -> dict[str, int]:
    """Counts by agent; an event without agent is reported as ``default``."""
    out: dict[str, int] = {}
    for agent, n in agg.dims.get("agent", []):
        name = agent or "default"
        out[name] = out.get(name, 0) + n
    return out


def top_action_types(agg: Aggregates, limit: int = TOP_ACTION_TYPES) -> dict[str, int]:
    """Top ``limit`` types by count; ties keep first-appearance order (stable sort)."""
    ranked = sorted(agg.dims.get("type", []), key=lambda kv: -kv[1])
    return dict(ranked[:limit])


async def overview(request: Request) -> JSONResponse:
    """KPIs for the dashboard home page."""
    state = app_state(request)
    agg = await state.reader.aggregates()
    score, grade = governance_score(agg)
    agents = agg.counts("agent")
    return JSONResponse(
        {
            "total_actions": agg.total,
            "risk_distribution": agg.counts("risk"),
            "approval_distribution": approval_counts(agg),
            "status_distribution": agg.counts("status"),
            "compliance_score": score,
            "compliance_grade": grade,
            "policy_rule_count": len(state.policy.rules),
            "active_agents": sum(1 for a in agents if a != NO_AGENT),
        }
    )


async def timeline(request: Request) -> JSONResponse:
    """Action volume per epoch-aligned bucket over the period's look-back."""
    state = app_state(request)
    period_name = request.query_params.get("period", "24h")
    buckets = await state.reader.timeline(period_for(period_name), state.now_ms())
    return JSONResponse(
        {
            "period": period_name,
            "buckets": [
                {
                    "timestamp": datetime.fromtimestamp(start // 1000, UTC).isoformat(),
                    "total": c.get("total", 0),
                    "blocked": c.get("blocked", 0),
                    "approved": c.get("approved", 0),
                    "auto": c.get("auto", 0),
                }
                for start, c in buckets
            ],
        }
    )


async def audit_stats(request: Request) -> JSONResponse:
    """Aggregate statistics across every audit event."""
    agg = await app_state(request).reader.aggregates()
    return JSONResponse(
        {
            "total": agg.total,
            "by_risk_level": agg.counts("risk"),
            "by_approval": approval_counts(agg),
            "by_action_type": top_action_types(agg),
            "by_agent": by_agent(agg),
        }
    )


async def system_health(request: Request) -> JSONResponse:
    """The reference's five keys, then pipeline health (D8): totals, then one object per partition."""
    state = app_state(request)
    agg = await state.reader.aggregates(dims=())
    partitions = await state.reader.pipeline_status(now_ms=state.now_ms())
    pipeline: dict[str, Any] = {
        "stream_length": sum(s.length for s in partitions),
        "pending": sum(s.pending for s in partitions),
        "lag": sum(s.lag or 0 for s in partitions),
        "oldest_pending_age_ms": max(
            (s.oldest_pending_age_ms for s in partitions if s.oldest_pending_age_ms is not None),
            default=None,
        ),
        "dead_letters": sum(s.dead_letters for s in partitions),
        "late_events": sum(s.late_events for s in partitions),
        "duplicates": sum(s.duplicates for s in partitions),
        "last_applied": max(
            (
                datetime.fromtimestamp(s.last_applied_ms / 1000, UTC).isoformat()
                for s in partitions
                if s.last_applied_ms is not None
            ),
            default=None,
        ),
        "partitions": [asdict(s) for s in partitions],
    }
    return JSONResponse(
        {
            "status": "ok",
            "version": __version__,
            "audit_entries": agg.total,
            "policy_rules": len(state.policy.rules),
            "anomaly_detector": state.settings.anomalies,
            "pipeline": pipeline,
        }
    )


ROUTES = [
    Route("/api/v1/dashboard/overview", overview),
    Route("/api/v1/dashboard/stats/timeline", timeline),
    Route("/api/v1/dashboard/audit/stats", audit_stats),
    Route("/api/v1/dashboard/system/health", system_health),
]
