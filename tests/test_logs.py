"""Structured logs: JSON lines (base keys, extras, exceptions), the text format, and real processes."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest

from aegis_stream import logs
from aegis_stream.api.requestid import REQUEST_ID
from aegis_stream.keys import Keys
from aegis_stream.settings import Settings
from tests.test_cli import env_for
from tests.test_up import wait_for_line
from tests.worker.test_projector import generated, produce

TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def make_record(msg: str = "partition %d: %s", *args: Any, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("aegis_stream.test", logging.WARNING, __file__, 1, msg, args or (0, "x"), None)
    record.__dict__.update(extra)
    return record


def test_a_json_line_has_the_base_keys_then_the_extras() -> None:
    line = logs.JsonFormatter().format(make_record(partition=0, request_id="r-1", color_message="\x1b[1m"))
    assert "\n" not in line
    parsed = json.loads(line)
    assert list(parsed)[:4] == ["ts", "level", "logger", "message"]
    assert TS.fullmatch(parsed["ts"])
    assert parsed["level"] == "WARNING" and parsed["logger"] == "aegis_stream.test"
    assert parsed["message"] == "partition 0: x"
    assert parsed["partition"] == 0 and parsed["request_id"] == "r-1"
    assert "color_message" not in parsed and "args" not in parsed and "exc_info" not in parsed


def test_odd_extras_become_text_and_cannot_replace_base_keys() -> None:
    parsed = json.loads(logs.JsonFormatter().format(make_record(level="fake", obj=object(), nums=(1, 2.5))))
    assert parsed["level"] == "WARNING"
    assert parsed["obj"].startswith("<object object") and parsed["nums"] == [1, 2.5]


def test_an_exception_is_one_string() -> None:
    try:
        raise ValueError("broken checkpoint")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    line = logs.JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "failed"
    assert (
        parsed["exc_info"].startswith("Traceback") and "ValueError: broken checkpoint" in parsed["exc_info"]
    )


def test_passwords_in_urls_are_masked_in_both_formats() -> None:
    record = make_record("cannot reach %s", "redis://default:s3cret@db:6379/0", url="rediss://:pw2@h")
    for formatter in (logs.JsonFormatter(), logs.TextFormatter()):
        line = formatter.format(record)
        assert "s3cret" not in line and "pw2" not in line
        assert "redis://default:***@db:6379/0" in line
    assert logs.redact("unix:///tmp/r.sock and redis://h:6379") == "unix:///tmp/r.sock and redis://h:6379"


def test_the_text_format_appends_the_request_id_before_a_traceback() -> None:
    try:
        raise KeyError("k")
    except KeyError:
        record = logging.LogRecord("api", logging.ERROR, __file__, 1, "oops", None, sys.exc_info())
    record.request_id = "r-9"
    first, *rest = logs.TextFormatter().format(record).splitlines()
    assert first.endswith(" ERROR api: oops [r-9]") and rest[0].startswith("Traceback")


@pytest.fixture
def root_logging() -> Iterator[None]:
    """Put the root logger back as it was (pytest's own handlers) after a test configures it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("root_logging")
def test_configure_routes_every_logger_through_one_handler() -> None:
    out = io.StringIO()
    logs.configure("info", "json", stream=out, force=True)
    logs.configure("info", "JSON", stream=out, force=True)  # again: replaced, not doubled
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
    logging.getLogger("aegis_stream.worker.runner").debug("not at INFO")
    token = REQUEST_ID.set("ctx-7")
    try:
        logging.getLogger("aegis_stream.api.app").warning("store error on %s", "/x")
    finally:
        REQUEST_ID.reset(token)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(x["logger"], x["message"]) for x in lines] == [
        ("uvicorn.error", "Started server process [42]"),
        ("aegis_stream.api.app", "store error on /x"),
    ]
    assert "request_id" not in lines[0] and lines[1]["request_id"] == "ctx-7"


@pytest.mark.usefixtures("root_logging")
def test_configure_leaves_logging_someone_else_set_up_alone() -> None:
    root = logging.getLogger()
    foreign = logging.NullHandler()
    root.handlers[:] = [foreign]
    logs.configure("DEBUG", "json", stream=io.StringIO())
    assert root.handlers == [foreign]


def clean_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "AEGIS_"))}
    env.update(env_for(settings), PYTHONUNBUFFERED="1", **extra)
    return env


def json_lines(text: str) -> list[dict[str, Any]]:
    parsed = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert all(isinstance(x, dict) for x in parsed)
    return parsed


def test_a_worker_process_logs_json_lines(settings: Settings, keys: Keys) -> None:
    produce(settings, keys, generated(3))
    env = clean_env(settings, AEGIS_LOG_FORMAT="json", AEGIS_LOG_LEVEL="INFO")
    done = subprocess.run(
        [sys.executable, "-m", "aegis_stream", "worker", "--burst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = json_lines(done.stderr)
    assert lines and all(TS.fullmatch(x["ts"]) for x in lines)
    drained = [x for x in lines if x["message"] == "partition 0: drained"]
    assert drained and drained[0]["partition"] == 0 and drained[0]["logger"] == "aegis_stream.worker.runner"


@pytest.mark.redis
def test_an_api_process_logs_json_lines_with_request_ids_and_no_secrets(settings: Settings) -> None:
    assert settings.redis_url
    # a password the server ignores (its default user has none): it must never reach a log line
    url = settings.redis_url.replace("redis://", "redis://default:pa55word@", 1)
    env = clean_env(settings, AEGIS_LOG_FORMAT="json", AEGIS_LOG_LEVEL="INFO", AEGIS_PORT="0")
    env.update(REDIS_URL=url, AEGIS_API_TOKEN="t0ken-value")
    proc = subprocess.Popen(
        [sys.executable, "-m", "aegis_stream", "api"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = wait_for_line(proc, r"API on (http://\S+)", timeout=30).group(1)
        refused = httpx.get(f"{base}/api/v1/dashboard/overview?api_key=t0ken-value", timeout=5)
        served = httpx.get(
            f"{base}/api/v1/dashboard/overview", headers={"X-API-Key": "t0ken-value", "X-Request-ID": "j-1"}
        )
        assert (refused.status_code, served.status_code) == (401, 200)
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "pa55word" not in err and "t0ken-value" not in err
    lines = json_lines(err)
    access = [x for x in lines if x["logger"] == "aegis_stream.access"]
    assert [(x["status"], x["path"]) for x in access] == [
        (401, "/api/v1/dashboard/overview"),
        (200, "/api/v1/dashboard/overview"),
    ]
    assert access[0]["request_id"] == refused.headers["x-request-id"] and access[1]["request_id"] == "j-1"
    assert any(
        x["logger"] == "uvicorn.error" and x["message"].startswith("Started server process") for x in lines
    )
    assert not any(x["logger"] == "uvicorn.access" for x in lines)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("redis://u:p@ss@db:6379/0", "redis://u:***@db:6379/0"),  # an "@" in the password
        ("redis://:a:b@db", "redis://:***@db"),  # a ":" in it
        ("rediss://u:p%40ss@db/1?x=1", "rediss://u:***@db/1?x=1"),  # percent-encoded
        (
            "redis+cluster://:pw@n1:7000, then redis://:pw@n2",
            "redis+cluster://:***@n1:7000, then redis://:***@n2",
        ),
        ("redis://user@db and redis://db:6379", "redis://user@db and redis://db:6379"),  # nothing to mask
    ],
)
def test_the_whole_password_is_masked_however_it_is_spelled(text: str, masked: str) -> None:
    assert logs.redact(text) == masked
