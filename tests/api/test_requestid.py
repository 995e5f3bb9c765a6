"""Request ids: echoed or made, on every response (401, 4xx, 503, 500), and on the request's log lines."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from aegis_stream.api.requestid import (
    REQUEST_ID,
    RequestId,
    RequestIdFilter,
    loggable_path,
    new_request_id,
    sane_request_id,
)

GENERATED = re.compile(r"[0-9a-f]{32}")
ACCESS = "aegis_stream.access"


def access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == ACCESS]


@pytest.mark.parametrize("value", ["abc", "a" * 128, "req-1.2:3_4", "0"])
def test_sane_ids_are_kept(value: str) -> None:
    assert sane_request_id(value) == value


@pytest.mark.parametrize("value", [None, "", "a" * 129, "has space", "a/b", "é", "x\ny", "a;b", "<script>"])
def test_other_ids_are_refused(value: str | None) -> None:
    assert sane_request_id(value) is None


def test_new_ids_and_logged_paths() -> None:
    assert GENERATED.fullmatch(new_request_id()) and new_request_id() != new_request_id()
    assert loggable_path("/a\nb\x1b") == "/a\\nb\\x1b"
    assert loggable_path("/" + "x" * 300) == "/" + "x" * 255 + "..."


def test_a_generated_id_is_on_the_response_and_the_access_line(
    serve: Callable[..., TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    client = serve()
    caplog.set_level(logging.INFO, logger=ACCESS)
    response = client.get("/api/v1/dashboard/overview")
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    assert GENERATED.fullmatch(request_id)
    [line] = access_records(caplog)
    assert line.request_id == request_id  # type: ignore[attr-defined]
    assert (line.method, line.path, line.status) == ("GET", "/api/v1/dashboard/overview", 200)  # type: ignore[attr-defined]
    assert isinstance(line.duration_ms, float) and line.duration_ms >= 0  # type: ignore[attr-defined]
    assert line.getMessage().startswith("GET /api/v1/dashboard/overview 200 ")


def test_a_sane_incoming_id_is_echoed_and_an_insane_one_replaced(serve: Callable[..., TestClient]) -> None:
    client = serve()
    assert (
        client.get("/health", headers={"X-Request-ID": "lb-7f3a:01"}).headers["x-request-id"] == "lb-7f3a:01"
    )
    for bad in ("a" * 129, "two words", "a/b"):
        echoed = client.get("/health", headers={"X-Request-ID": bad}).headers["x-request-id"]
        assert GENERATED.fullmatch(echoed), bad


def test_errors_carry_the_id_too(serve: Callable[..., TestClient], caplog: pytest.LogCaptureFixture) -> None:
    client = serve(api_token="t0ken")
    caplog.set_level(logging.INFO, logger=ACCESS)
    refused = client.get("/api/v1/dashboard/overview", headers={"X-Request-ID": "r-401"})
    assert (refused.status_code, refused.headers["x-request-id"]) == (401, "r-401")
    auth = {"X-API-Key": "t0ken"}
    for path, status in (("/nope", 404), ("/api/v1/dashboard/compliance/report?type=bad", 400)):
        response = client.get(path, headers={**auth, "X-Request-ID": f"r-{status}"})
        assert (response.status_code, response.headers["x-request-id"]) == (status, f"r-{status}")
    wrong_method = client.delete("/api/v1/dashboard/overview", headers=auth)
    assert wrong_method.status_code == 405 and GENERATED.fullmatch(wrong_method.headers["x-request-id"])
    assert [(r.request_id, r.status) for r in access_records(caplog)][:3] == [  # type: ignore[attr-defined]
        ("r-401", 401),
        ("r-404", 404),
        ("r-400", 400),
    ]


def test_a_store_outage_503_carries_the_id(serve: Callable[..., TestClient]) -> None:
    client = serve(redis_url="redis://127.0.0.1:1/0")
    response = client.get("/api/v1/dashboard/overview", headers={"X-Request-ID": "down-1"})
    assert (response.status_code, response.headers["x-request-id"]) == (503, "down-1")


def test_the_query_string_is_never_logged(
    serve: Callable[..., TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    client = serve()
    caplog.set_level(logging.INFO, logger=ACCESS)
    client.get("/api/v1/dashboard/audit/recent?limit=5&api_key=hunter2-secret")
    [line] = access_records(caplog)
    assert "hunter2" not in line.getMessage() and "hunter2" not in repr(vars(line))
    assert line.path == "/api/v1/dashboard/audit/recent"  # type: ignore[attr-defined]


@pytest.fixture
def failing_app() -> Iterator[TestClient]:
    """A small app shaped like ours: the middleware, a route that fails, an error handler that logs."""
    log = logging.getLogger("tests.failing")

    async def boom(request: Request) -> Response:
        log.info("about to fail")
        raise RuntimeError("kaput")

    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s", request.url.path, exc_info=exc)
        return JSONResponse({"error": "Internal server error"}, status_code=500)

    app = Starlette(
        routes=[Route("/boom", boom)],
        middleware=[Middleware(RequestId)],
        exception_handlers={Exception: server_error},
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_an_unhandled_error_gets_a_500_with_the_id_and_its_log_lines_carry_it(
    failing_app: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    caplog.handler.addFilter(RequestIdFilter())  # as logs.configure installs it on its handler
    try:
        response = failing_app.get("/boom", headers={"X-Request-ID": "e-500"})
    finally:
        caplog.handler.filters.clear()
    assert response.status_code == 500 and response.json() == {"error": "Internal server error"}
    assert response.headers["x-request-id"] == "e-500"
    mine = [r for r in caplog.records if r.name in ("tests.failing", ACCESS)]
    assert [(r.name, r.request_id) for r in mine] == [  # type: ignore[attr-defined]
        ("tests.failing", "e-500"),
        (ACCESS, "e-500"),
        ("tests.failing", "e-500"),  # Starlette's error handler runs after the middleware re-raised
    ]
    assert mine[1].status == 500  # type: ignore[attr-defined]
    assert REQUEST_ID.get() is None  # the test's own context never saw the id


def test_the_filter_leaves_other_records_alone() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    assert RequestIdFilter().filter(record) and not hasattr(record, "request_id")
    token = REQUEST_ID.set("ctx-1")
    try:
        own = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
        own.request_id = "explicit"
        RequestIdFilter().filter(record)
        RequestIdFilter().filter(own)
    finally:
        REQUEST_ID.reset(token)
    assert (record.request_id, own.request_id) == ("ctx-1", "explicit")  # type: ignore[attr-defined]
