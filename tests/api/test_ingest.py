"""POST /api/v1/events: per-event validation, append, limits and the ingest token."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import msgpack
import redis
import redis.asyncio as aredis
from starlette.testclient import TestClient

from aegis_stream.keys import Keys
from aegis_stream.policy import parse_policy
from aegis_stream.settings import Settings
from aegis_stream.worker import Worker
from tests.api.test_dashboard import NOW_MS, iso
from tests.conftest import event_dict

ROUTE = "/api/v1/events"
STAMP = iso(NOW_MS - 3_600_000)  # NOW_MS may be up to 17 min ahead of the server clock


def drain(settings: Settings) -> None:
    async def run() -> None:
        assert settings.redis_url
        r = aredis.Redis.from_url(settings.redis_url)
        try:
            await Worker(r, settings, clock=lambda: NOW_MS).run(burst=True)
        finally:
            await r.aclose()

    asyncio.run(run())


def test_mixed_batch(
    serve: Callable[..., TestClient], settings: Settings, sync_redis: redis.Redis, keys: Keys
) -> None:
    client = serve([], now_ms=NOW_MS)
    body = [
        event_dict(timestamp=STAMP, action_type="a"),
        event_dict(timestamp=STAMP, risk_level="SEVERE"),
        "not an object",
        event_dict(timestamp=STAMP, action_type="b", agent_id="ü-agent"),
        {k: v for k, v in event_dict(timestamp=STAMP).items() if k != "session_id"},
    ]
    response = client.post(ROUTE, json=body)
    assert response.status_code == 207
    answer = response.json()
    assert (answer["accepted"], answer["rejected"]) == (2, 3)
    results = answer["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "rejected", "accepted", "rejected"]
    assert results[1]["error"] == "risk_level: must be one of LOW, MEDIUM, HIGH, CRITICAL, got 'SEVERE'"
    assert results[2]["error"] == "event: expected an object, got str"
    assert results[4]["error"] == "session_id: required field is missing"
    stream_ids = [r["id"] for r in results if r["status"] == "accepted"]
    assert [i.decode() for i, _ in sync_redis.xrange(keys.stream(0))] == stream_ids
    drain(settings)
    stats = client.get("/api/v1/dashboard/audit/stats").json()
    assert stats["total"] == 2 and stats["by_action_type"] == {"a": 1, "b": 1}


def test_all_accepted_all_rejected_and_empty(serve: Callable[..., TestClient]) -> None:
    client = serve([], now_ms=NOW_MS)
    ok = client.post(ROUTE, json=[event_dict(timestamp=STAMP)] * 3)
    assert ok.status_code == 200 and ok.json()["accepted"] == 3
    single = client.post(ROUTE, json=event_dict(timestamp=STAMP))  # one object is one event
    assert single.status_code == 200 and single.json()["accepted"] == 1
    bad = client.post(ROUTE, json=[{"x": 1}, {}])
    assert bad.status_code == 400
    assert bad.json()["error"] == "all 2 events were rejected" and bad.json()["rejected"] == 2
    empty = client.post(ROUTE, json=[])
    assert (empty.status_code, empty.json()) == (200, {"accepted": 0, "rejected": 0, "results": []})


def test_msgpack_body(serve: Callable[..., TestClient], sync_redis: redis.Redis, keys: Keys) -> None:
    client = serve([], now_ms=NOW_MS)
    payload = msgpack.packb([event_dict(timestamp=STAMP), event_dict(timestamp=STAMP, approval="never")])
    response = client.post(ROUTE, content=payload, headers={"content-type": "application/msgpack"})
    assert response.status_code == 207
    assert sync_redis.xlen(keys.stream(0)) == 1


def test_bad_bodies(serve: Callable[..., TestClient], sync_redis: redis.Redis, keys: Keys) -> None:
    client = serve([], now_ms=NOW_MS, max_ingest_bytes=16384)
    cases = [
        (b"{nope", "application/json", 400, "request body is not valid JSON"),
        (b"42", "application/json", 400, "request body must be an array of events, got int"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 413, "request body exceeds the limit"),
        (b"[" * 3000 + b"]" * 3000, "application/json", 400, "request body is not valid JSON"),
        (b"\xc1", "application/msgpack", 400, "request body is not valid msgpack"),
        (b"[]", "text/csv", 415, "Content-Type must be application/json or application/msgpack"),
        (json.dumps([event_dict(action_desc="x" * 20000)]).encode(), "application/json", 413, "exceeds"),
    ]
    for body, kind, status, message in cases:
        response = client.post(ROUTE, content=body, headers={"content-type": kind})
        assert response.status_code == status, (body[:20], response.text)
        assert response.json()["error"].startswith(message) or message in response.json()["error"]
    assert sync_redis.xlen(keys.stream(0)) == 0  # nothing was appended
    assert client.get(ROUTE).status_code == 405


def test_events_without_a_decision_are_classified(
    serve: Callable[..., TestClient], settings: Settings, sync_redis: redis.Redis, keys: Keys
) -> None:
    policy = parse_policy(
        "rules:\n  - name: no-deletes\n    match: {type: 'delete_*'}\n    approval: block\n"
    )
    client = serve([], now_ms=NOW_MS, policy=policy)
    undecided = {"session_id": "s", "timestamp": STAMP, "action_type": "delete_user", "action_target": "u1"}
    assert client.post(ROUTE, json=[undecided]).json()["accepted"] == 1
    drain(settings)
    row = client.get("/api/v1/dashboard/audit/recent").json()["entries"][0]
    assert (row["risk_level"], row["approval"], row["matched_rule"]) == ("MEDIUM", "block", "no-deletes")


def test_ingest_token_is_separate(serve: Callable[..., TestClient]) -> None:
    client = serve([], now_ms=NOW_MS, api_token="dash-token", ingest_token="ingest-token")
    events = [event_dict(timestamp=STAMP)]
    assert client.post(ROUTE, json=events).status_code == 401
    assert client.post(ROUTE, json=events, headers={"X-API-Key": "dash-token"}).status_code == 401
    assert (
        client.post(ROUTE, json=events, headers={"Authorization": "Bearer ingest-token"}).status_code == 200
    )
    overview = "/api/v1/dashboard/overview"
    assert client.get(overview, headers={"X-API-Key": "ingest-token"}).status_code == 401
    assert client.get(overview, headers={"X-API-Key": "dash-token"}).status_code == 200


def test_secret_params_are_redacted_before_storage(
    serve: Callable[..., TestClient], settings: Settings, sync_redis: redis.Redis, keys: Keys
) -> None:
    client = serve([], now_ms=NOW_MS)
    event = event_dict(timestamp=STAMP, action_params={"password": "hunter2", "nested": [{"api_key": "k"}]})
    assert client.post(ROUTE, json=[event]).status_code == 200
    [(_, fields)] = sync_redis.xrange(keys.stream(0))
    assert b"hunter2" not in fields[b"e"] and b'"k"' not in fields[b"e"]
    drain(settings)
    row = client.get("/api/v1/dashboard/audit/recent").json()["entries"][0]
    assert json.loads(row["action_params"]) == {
        "password": "[REDACTED]",
        "nested": [{"api_key": "[REDACTED]"}],
    }


def test_a_chunked_body_is_cut_at_the_limit(serve: Callable[..., TestClient]) -> None:
    client = serve([], now_ms=NOW_MS, max_ingest_bytes=2048)

    def chunks():  # no Content-Length: the limit is enforced while reading
        yield b"["
        for _ in range(100):
            yield json.dumps(event_dict(timestamp=STAMP)).encode() + b","
        yield b"{}]"

    response = client.post(ROUTE, content=chunks(), headers={"content-type": "application/json"})
    assert (response.status_code, response.json()) == (
        413,
        {"error": "request body exceeds the limit of 2048 bytes"},
    )


def test_an_event_that_cannot_be_encoded_is_rejected_alone(
    serve: Callable[..., TestClient], sync_redis: redis.Redis, keys: Keys
) -> None:
    client = serve([], now_ms=NOW_MS)
    good = json.dumps(event_dict(timestamp=STAMP))
    bad = json.dumps(event_dict(timestamp=STAMP)).replace('"s-1"', '"\\ud800"')  # a lone surrogate
    nested = json.dumps(
        event_dict(timestamp=STAMP, action_params={"\ud800": 1})
    )  # json.dumps writes it as \\ud800
    response = client.post(
        ROUTE, content=f"[{good},{bad},{nested}]", headers={"content-type": "application/json"}
    )
    assert response.status_code == 207, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "rejected"]
    assert all(r["error"].startswith("event: cannot be encoded") for r in results[1:])
    assert sync_redis.xlen(keys.stream(0)) == 1


def test_a_bad_msgpack_body_says_why(serve: Callable[..., TestClient]) -> None:
    client = serve([], now_ms=NOW_MS)
    deep = b"\x91" * 2000 + b"\xc0"  # arrays nested 2,000 deep
    response = client.post(ROUTE, content=deep, headers={"content-type": "application/msgpack"})
    assert response.status_code == 400
    message = response.json()["error"]
    assert message.startswith("request body is not valid msgpack: ") and len(message) > len(
        "request body is not valid msgpack: "
    )


def test_an_event_too_far_ahead_is_refused_at_ingest(serve: Callable[..., TestClient]) -> None:
    client = serve([], now_ms=NOW_MS, max_future_skew_ms=300_000)
    ahead = iso(NOW_MS + 24 * 3_600_000)
    response = client.post(ROUTE, json=[event_dict(timestamp=STAMP), event_dict(timestamp=ahead)])
    assert response.status_code == 207
    rejected = response.json()["results"][1]
    assert rejected["status"] == "rejected"
    assert rejected["error"].endswith("is more than 300000 ms ahead of now")


def test_invalid_utf8_in_a_msgpack_body_rejects_only_that_event(serve: Callable[..., TestClient]) -> None:
    client = serve([], now_ms=NOW_MS)
    good = msgpack.packb(event_dict(timestamp=STAMP))
    bad = msgpack.packb(event_dict(timestamp=STAMP, session_id="SESSION")).replace(
        b"SESSION", b"\xff\xfeSSION"
    )
    body = b"\x92" + good + bad  # an array of the two
    response = client.post(ROUTE, content=body, headers={"content-type": "application/msgpack"})
    assert response.status_code == 207, response.text
    assert [r["status"] for r in response.json()["results"]] == ["accepted", "rejected"]
