"""Policy handlers: summary, score, YAML view and badge of the policy in force (reloaded on change, D7)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aegis_stream.api.state import app_state
from aegis_stream.reports import policy_report


async def summary(request: Request) -> JSONResponse:
    """Defaults, rules and coverage flags."""
    return JSONResponse(policy_report.summary(app_state(request).policy))


async def score(request: Request) -> JSONResponse:
    """The eight-check governance score of the policy."""
    return JSONResponse(policy_report.score(app_state(request).policy))


async def policy_yaml(request: Request) -> JSONResponse:
    """The policy re-serialised as YAML."""
    return JSONResponse({"yaml": policy_report.to_yaml(app_state(request).policy)})


async def badge(request: Request) -> JSONResponse:
    """Shields.io endpoint badge of the policy score."""
    return JSONResponse(policy_report.badge(app_state(request).policy))


ROUTES = [
    Route("/api/v1/dashboard/policy/summary", summary),
    Route("/api/v1/dashboard/policy/score", score),
    Route("/api/v1/dashboard/policy/yaml", policy_yaml),
    Route("/api/v1/badge/score", badge),
]
