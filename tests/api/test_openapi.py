"""/openapi.json describes every route the app serves, and its references resolve."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from starlette.routing import Route
from starlette.testclient import TestClient

from aegis_stream import __version__
from tests.api.test_dashboard import NOW_MS


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def test_every_route_is_described(serve: Callable[..., TestClient]) -> None:
    client = serve([], now_ms=NOW_MS)
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1") and doc["info"]["version"] == __version__
    served = {
        route.path: sorted(m.lower() for m in (route.methods or ()) if m != "HEAD")
        for route in client.app.routes  # type: ignore[attr-defined]
        if isinstance(route, Route)
    }
    described = {path: sorted(ops) for path, ops in doc["paths"].items()}
    assert described == served


def test_references_resolve(serve: Callable[..., TestClient]) -> None:
    doc = serve([], now_ms=NOW_MS).get("/openapi.json").json()
    found = list(refs(doc))
    assert found
    for ref in found:
        node: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        assert isinstance(node, dict), ref


def test_documented_query_parameters_are_the_ones_read(serve: Callable[..., TestClient]) -> None:
    doc = serve([], now_ms=NOW_MS).get("/openapi.json").json()
    params = {
        path: sorted(p["name"] for p in op.get("get", {}).get("parameters", []))
        for path, op in doc["paths"].items()
        if op.get("get", {}).get("parameters")
    }
    assert params == {
        "/api/v1/dashboard/stats/timeline": ["period"],
        "/api/v1/dashboard/audit/recent": sorted(
            ["limit", "offset", "risk_level", "action_type", "agent_id", "result_status"]
        ),
        "/api/v1/dashboard/compliance/report": ["type"],
        "/api/v1/dashboard/compliance/regulatory": ["framework"],
        "/api/v1/stream": ["token"],
    }
