"""The command line: import, status, configuration errors, exit codes."""

from __future__ import annotations

import asyncio
import io
import json
import socket
from pathlib import Path

import pytest
import redis

from aegis_stream import runtime
from aegis_stream.cli import parse_window, run
from aegis_stream.keys import Keys
from aegis_stream.settings import Settings
from tests.conftest import event_dict
from tests.importers.conftest import make_db, reference_row


def env_for(settings: Settings) -> dict[str, str]:
    assert settings.redis_url
    return {"REDIS_URL": settings.redis_url, "AEGIS_KEY_PREFIX": settings.key_prefix, "HOME": "/nonexistent"}


def test_import_jsonl_reports_bad_lines_and_keeps_good_ones(
    settings: Settings,
    keys: Keys,
    sync_redis: redis.Redis,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "events.jsonl"
    lines = [
        json.dumps(event_dict()),
        "{not json",
        json.dumps(event_dict(risk_level="SEVERE")),
        json.dumps(event_dict(action_type="write_file")),
    ]
    path.write_text("\n".join(lines) + "\n")
    code = run(["import", str(path)], env=env_for(settings))
    out, err = capsys.readouterr()
    assert code == 1
    assert "imported 2 events, rejected 2" in out
    assert "line 2:" in err and "line 3:" in err and "SEVERE" in err
    assert sync_redis.xlen(keys.stream(0)) == 2


def test_import_missing_file(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["import", "/no/such/file.jsonl"], env=env_for(settings))
    assert code == 1
    assert "/no/such/file.jsonl" in capsys.readouterr().err


def test_import_transcripts_with_bundled_policy_and_agent_template(
    settings: Settings,
    keys: Keys,
    sync_redis: redis.Redis,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    convo = [
        {
            "task_id": 7,
            "trial": 2,
            "reward": 1.0,
            "info": {},
            "traj": [
                {"role": "user", "content": "cancel please"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {
                                "name": "cancel_reservation",
                                "arguments": '{"reservation_id": "ABC123"}',
                            },
                        }
                    ],
                },
                {
                    "role": "tool",
                    "tool_call_id": "c1",
                    "name": "cancel_reservation",
                    "content": '{"status": "cancelled"}',
                },
            ],
        }
    ]
    path = tmp_path / "t.json"
    path.write_text(json.dumps(convo))
    code = run(
        ["import", str(path), "--policy", "airline", "--agent", "bot-t{trial}", "--spread", "1h"],
        env=env_for(settings),
    )
    assert code == 0, capsys.readouterr()
    assert "imported 1 events, rejected 0" in capsys.readouterr().out
    assert sync_redis.xlen(keys.stream(0)) == 1


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("0d", "expected a duration"),
        ("7", "expected a duration"),
        ("1w", "expected a duration"),
        ("-1h", "expected a duration"),
        ("h", "expected a duration"),
        ("99999999999d", "duration too long"),
        ("3651d", "duration too long"),
        ("9" * 40 + "s", "expected a duration"),
    ],
)
def test_parse_window_rejects(bad: str, message: str) -> None:
    with pytest.raises(Exception, match=message):
        parse_window(bad)


def test_parse_window() -> None:
    assert parse_window("7d") == 7 * 86_400_000_000
    assert parse_window("90s") == 90_000_000


def test_status_table_and_json(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["status"], env=env_for(settings)) == 0
    out = capsys.readouterr().out
    assert "partition" in out and "pending" in out and "dead" in out
    assert run(["status", "--json"], env=env_for(settings)) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["partition"] == 0 and rows[0]["length"] == 0


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("AEGIS_PORT", "eighty", "AEGIS_PORT must be an integer"),
        ("AEGIS_PARTITIONS", "0", "AEGIS_PARTITIONS must be at least 1"),
        ("AEGIS_KEY_PREFIX", "a{b}", "AEGIS_KEY_PREFIX must be non-empty and must not contain braces"),
        ("REDIS_URL", "redis://127.0.0.1:notaport", "REDIS_URL: Port could not be cast"),
        ("REDIS_URL", "redis://:s3cret@127.0.0.1:99999/0", "REDIS_URL: Port out of range"),
        ("REDIS_URL", "redis://127.0.0.1:0", "REDIS_URL: port 0 is not a port to connect to"),
    ],
)
def test_configuration_errors(var: str, value: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["status"], env={var: value}) == 2
    err = capsys.readouterr().err
    assert message in err and "s3cret" not in err


def test_unreachable_store(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["status"], env={"REDIS_URL": "redis://127.0.0.1:1/0"}) == 1
    assert "store error" in capsys.readouterr().err


def test_bad_policy_file(settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("rules: 5\n")
    assert run(["import", str(tmp_path / "x.jsonl"), "--policy", str(policy)], env=env_for(settings)) == 2
    err = capsys.readouterr().err
    assert "configuration error: --policy or AEGIS_POLICY" in err and "rules" in err
    for command in (["up", "--port", "0"], ["api", "--port", "0"]):
        assert run(command, env={**env_for(settings), "AEGIS_POLICY": str(policy)}) == 2
        assert "configuration error: --policy or AEGIS_POLICY" in capsys.readouterr().err


def test_a_truncated_gzip_keeps_the_events_before_the_break(
    settings: Settings,
    keys: Keys,
    sync_redis: redis.Redis,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import gzip

    whole = gzip.compress(
        "".join(json.dumps(event_dict(action_target=f"t-{i}")) + "\n" for i in range(3000)).encode()
    )
    path = tmp_path / "half.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    code = run(["import", str(path)], env=env_for(settings))
    out, err = capsys.readouterr()
    assert code == 1
    kept = sync_redis.xlen(keys.stream(0))
    assert 0 < kept < 3000
    assert f"imported {kept} events" in out
    assert "read failed" in err and f"after {kept} events; those are kept" in err


def test_status_never_starts_an_engine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    assert run(["status"], env={"AEGIS_DATA_DIR": str(data)}) == 1
    assert f"no embedded engine is running in {data}" in capsys.readouterr().err
    assert not (data / "engine.json").exists()


def test_busy_port_fails_before_any_import(
    settings: Settings, keys: Keys, sync_redis: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = run(["up", "--demo", "--port", str(port)], env=env_for(settings))
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
    assert sync_redis.xlen(keys.stream(0)) == 0
    assert sync_redis.get(keys.demo_marker()) is None


def test_an_interrupted_demo_import_can_be_retried(
    settings: Settings, keys: Keys, sync_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def interrupted(*args: object, **kwargs: object) -> tuple[int, int]:
        raise KeyboardInterrupt

    monkeypatch.setattr(runtime, "import_events", interrupted)
    with pytest.raises(KeyboardInterrupt):
        asyncio.run(runtime._import_demo(settings, io.StringIO()))
    assert sync_redis.get(keys.demo_marker()) is None
    monkeypatch.undo()
    out = io.StringIO()
    asyncio.run(runtime._import_demo(settings, out))
    assert "imported 1164 real tool calls" in out.getvalue()
    assert sync_redis.get(keys.demo_marker()) == b"done"
    asyncio.run(runtime._import_demo(settings, out))
    assert "already imported" in out.getvalue()
    assert sync_redis.xlen(keys.stream(0)) == 1164


def test_an_oversized_event_is_rejected_with_its_line_and_the_rest_imported(
    settings: Settings,
    keys: Keys,
    sync_redis: redis.Redis,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "events.jsonl"
    lines = [json.dumps(event_dict(action_type=f"t{i}")) for i in range(3)]
    lines.insert(1, json.dumps(event_dict(action_params={"x": "y" * 70_000})))
    path.write_text("\n".join(lines) + "\n")
    assert run(["import", str(path)], env=env_for(settings)) == 1
    out, err = capsys.readouterr()
    assert "imported 3 events, rejected 1" in out
    assert "line 2: event: encoded size" in err and "exceeds the limit of 65536" in err
    assert sync_redis.xlen(keys.stream(0)) == 3


def test_rebuild_command(
    settings: Settings,
    keys: Keys,
    sync_redis: redis.Redis,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(event_dict(action_type=f"t{i}")) + "\n" for i in range(4)))
    assert run(["import", str(path)], env=env_for(settings)) == 0
    assert run(["worker", "--burst"], env=env_for(settings)) == 0
    assert run(["rebuild"], env=env_for(settings)) == 0
    assert "rebuilt views version 2 from 4 retained entries (4 events); readers switched from version 1" in (
        capsys.readouterr().out
    )
    assert sync_redis.get(keys.views_pointer()) == b"2"
    assert run(["rebuild", "--version", "2"], env=env_for(settings)) == 2
    assert "views version 2 is the one in use" in capsys.readouterr().err


def test_importing_a_reference_database_or_export_twice_counts_its_rows_once(
    settings: Settings,
    keys: Keys,
    sync_redis: redis.Redis,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = make_db(tmp_path / "aegis_audit.db", [reference_row(action_type=f"t{i}") for i in range(5)])
    export = tmp_path / "export.jsonl"
    export.write_text(
        "".join(json.dumps({"id": 100 + i, **event_dict(action_type="x")}) + "\n" for i in range(3))
    )
    for _ in range(2):
        assert run(["import", str(db)], env=env_for(settings)) == 0
        assert run(["import", str(export)], env=env_for(settings)) == 0
    assert run(["worker", "--burst"], env=env_for(settings)) == 0
    assert sync_redis.xlen(keys.stream(0)) == 16  # appended twice...
    assert sync_redis.hget(keys.totals(0), "total") == b"8"  # ...counted once, by row id
    assert sync_redis.hget(keys.checkpoint(0), "duplicates") == b"8"


def test_a_different_partition_count_is_refused(
    settings: Settings,
    keys: Keys,
    sync_redis: redis.Redis,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(event_dict(agent_id="orph-0")) + "\n")
    env = {**env_for(settings), "AEGIS_PARTITIONS": "2"}
    assert run(["import", str(path)], env=env) == 0  # the first use records 2 partitions
    capsys.readouterr()
    commands = (["import", str(path)], ["status"], ["worker", "--burst"], ["rebuild"])
    for command in (*commands, ["api", "--port", "0"], ["up", "--port", "0"]):
        assert run(command, env={**env, "AEGIS_PARTITIONS": "3"}) == 2, command
        err = capsys.readouterr().err
        assert "AEGIS_PARTITIONS is 3, but this store was set up with 2 partitions" in err, command
    assert sum(sync_redis.xlen(Keys(settings.key_prefix, 1, 3).stream(p)) for p in range(3)) == 1


def test_import_refuses_events_dated_too_far_ahead(
    settings: Settings,
    keys: Keys,
    sync_redis: redis.Redis,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from datetime import UTC, datetime, timedelta

    ahead = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(event_dict()) + "\n" + json.dumps(event_dict(timestamp=ahead)) + "\n")
    code = run(["import", str(path)], env=env_for(settings))
    out, err = capsys.readouterr()
    assert code == 1
    assert "imported 1 events, rejected 1" in out
    assert "record 2: timestamp:" in err and "ms ahead of now" in err
    assert sync_redis.xlen(keys.stream(0)) == 1
