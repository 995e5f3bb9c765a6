"""``audit/recent``: the audit log, newest first, filtered and paged from its indexes."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aegis_stream.api.state import app_state
from aegis_stream.project.auditlog import FILTERS
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
    state = app_state(request)
    query = request.query_params
    bounds = page_bounds(query.get("limit", "50"), query.get("offset", "0"))
    if bounds is None:
        return JSONResponse({"error": "limit and offset must be integers"}, status_code=400)
    limit, offset = bounds
    # one value (or None: an empty or absent filter) per filter, in the index's order
    combo = tuple(
        (query.get(name, "").upper() if name == "risk_level" else query.get(name, "")) or None
        for name in FILTERS
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
