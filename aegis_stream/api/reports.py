"""Report handlers: compliance reports and regulatory gap analysis, from aggregates and static data."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aegis_stream.api.state import app_state
from aegis_stream.reports.compliance import REPORT_TYPES, compliance_report
from aegis_stream.reports.regulatory import FRAMEWORKS, analyze


async def compliance(request: Request) -> JSONResponse:
    """A governance, SOC2 or GDPR report over every event (one aggregate read, one activity read)."""
    state = app_state(request)
    kind = request.query_params.get("type", "governance")
    if kind not in REPORT_TYPES:
        message = f"Unknown report type: {kind!r}. Must be one of: {', '.join(REPORT_TYPES)}"
        return JSONResponse({"error": message}, status_code=400)
    agg = await state.reader.aggregates()
    activity = await state.reader.activity()
    return JSONResponse(compliance_report(kind, agg, activity, state.clock_us()))


async def regulatory(request: Request) -> JSONResponse:
    """Gap analysis against one regulatory framework (static: every feature is built in)."""
    framework = request.query_params.get("framework", "eu_ai_act")
    if framework not in FRAMEWORKS:
        return JSONResponse({"error": f"Unknown framework. Valid: {list(FRAMEWORKS)}"}, status_code=400)
    return JSONResponse(analyze(framework))


ROUTES = [
    Route("/api/v1/dashboard/compliance/report", compliance),
    Route("/api/v1/dashboard/compliance/regulatory", regulatory),
]
