"""``/openapi.json``: the API's OpenAPI document (data: ``aegis_stream/data/openapi.yaml``)."""

from __future__ import annotations

import functools
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aegis_stream import __version__
from aegis_stream.bundled import data_file


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI document, with this package's version (parsed once)."""
    doc: dict[str, Any] = yaml.safe_load(data_file("openapi.yaml").read_text("utf-8"))
    doc["info"]["version"] = __version__
    return doc


async def openapi(request: Request) -> JSONResponse:
    """Serve the OpenAPI document."""
    return JSONResponse(document())


ROUTE = Route("/openapi.json", openapi, include_in_schema=False)
