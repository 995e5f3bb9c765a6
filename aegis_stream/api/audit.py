"""``audit/recent``: the audit log, newest first, filtered and paged from its indexes."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aegis_stream.api.state import AppState
from aegis_stream.views.auditlog import entry_row

MAX_LIMIT = 1000


def page_bounds(limit: str, offset: str) -> tuple[int, int] | None:
    """``(limit, offset)`` as the reference reads them: Python ``int()``, then clamped; None if unparsable."""
    try:
        n, skip = int(limit), int(offset)
    except ValueError:
        return None
    return max(1, min(n, MAX_LIMIT)), max(skip, 0)


async def audit_recent(request: Request) -> JSONResponse:
    """Newest first; filters by risk level (any case), action type, agent and result status."""
    state: AppState = request.app.state.aegis
    query = request.query_params
    bounds = page_bounds(query.get("limit", "50"), query.get("offset", "0"))
    if bounds is None:
        return JSONResponse({"error": "limit and offset must be integers"}, status_code=400)
    limit, offset = bounds
    combo = (
        query.get("risk_level", "").upper() or None,
        query.get("action_type") or None,
        query.get("agent_id") or None,
        query.get("result_status") or None,
    )
    if not state.settings.audit_log:  # AEGIS_AUDIT_LOG=false: nothing kept is shown (it may be stale)
        return JSONResponse(
            {"entries": [], "total": 0, "offset": offset, "limit": limit, "configured": False}
        )
    page = await state.reader.recent(combo, offset=offset, limit=limit)
    body = {
        "entries": [entry_row(row_id, event) for row_id, event in page.rows],
        "total": page.total,
        "offset": offset,
        "limit": limit,
    }
    return JSONResponse(body)


ROUTES = [Route("/api/v1/dashboard/audit/recent", audit_recent)]
