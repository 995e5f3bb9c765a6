"""Handlers read a bounded number of keys: the same commands at 1,000 and at 100,000 events."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis.asyncio.client as aclient
from starlette.testclient import TestClient

from aegis_stream.settings import Settings
from tests.api.test_dashboard import NOW_MS, events_for_dashboard
from tests.api.test_dashboard import ROUTES as DASHBOARD_ROUTES

# every dashboard route, plus the parameter values that read different keys
ROUTES = [route for route in DASHBOARD_ROUTES if route != "/health"] + [
    "/api/v1/dashboard/stats/timeline?period=30d",
    "/api/v1/dashboard/compliance/report?type=soc2",
    "/api/v1/dashboard/compliance/report?type=gdpr",
    "/api/v1/dashboard/audit/recent",
    "/api/v1/dashboard/audit/recent?risk_level=high&agent_id=agent-1&result_status=failed&offset=40",
    "/api/v1/dashboard/audit/recent?action_type=type_3&limit=1000&offset=10",
]


@pytest.fixture
def command_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every command the API's client sends, pipelined or not, by name."""
    sent: list[str] = []
    execute_command = aclient.Redis.execute_command
    pipeline_execute = aclient.Pipeline.execute

    async def count_command(self: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(str(args[0]))
        return await execute_command(self, *args, **kwargs)

    async def count_pipeline(self: Any, *args: Any, **kwargs: Any) -> Any:
        sent.extend(str(cmd[0][0]) for cmd in self.command_stack)
        return await pipeline_execute(self, *args, **kwargs)

    monkeypatch.setattr(aclient.Redis, "execute_command", count_command)
    monkeypatch.setattr(aclient.Pipeline, "execute", count_pipeline)
    yield sent


def commands_per_route(client: TestClient, log: list[str]) -> dict[str, list[str]]:
    out = {}
    for route in ROUTES:
        log.clear()
        assert client.get(route).status_code == 200
        out[route] = sorted(log)
    return out


def test_command_count_does_not_grow_with_events(
    serve: Callable[..., TestClient], command_log: list[str], settings: Settings
) -> None:
    small = serve(events_for_dashboard(1000), now_ms=NOW_MS)
    at_1k = commands_per_route(small, command_log)
    # a hundred times more events (same agents, types and buckets: commands are per key)
    large = serve(events_for_dashboard(100_000), now_ms=NOW_MS, key_prefix=settings.key_prefix + "-100k")
    at_100k = commands_per_route(large, command_log)
    assert at_1k == at_100k
    static = {route for route in ROUTES if "/policy/" in route or "regulatory" in route or "badge" in route}
    assert all(cmds for route, cmds in at_1k.items() if route not in static)
    assert not any(at_1k[route] for route in static)  # policy and catalogue: no Redis at all
    assert not any(
        name in {"XRANGE", "XREVRANGE", "SCAN", "KEYS"} for cmds in at_1k.values() for name in cmds
    )
