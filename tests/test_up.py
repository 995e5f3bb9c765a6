"""``aegis-stream up --demo`` as a newcomer runs it: a real process, the embedded engine.

The dashboard must report exactly the tool calls of the original tau-bench
file, counted here independently with plain json.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from aegis_stream.bundled import data_file

ORIGINAL = Path(__file__).parent / "data" / "tau-bench" / "gpt-4o-airline.json.gz"


def count_tool_calls() -> tuple[int, Counter[str], Counter[str]]:
    """Tool calls in the original file: total, by tool name, by trial."""
    conversations = json.loads(gzip.decompress(ORIGINAL.read_bytes()))
    by_tool: Counter[str] = Counter()
    by_trial: Counter[str] = Counter()
    for convo in conversations:
        for message in convo["traj"]:
            for call in message.get("tool_calls") or []:
                by_tool[call["function"]["name"]] += 1
                by_trial[f"gpt4o-airline-t{convo['trial']}"] += 1
    return sum(by_tool.values()), by_tool, by_trial


def wait_for_line(proc: subprocess.Popen[str], pattern: str, timeout: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match
    raise AssertionError(f"no line matching {pattern!r}; got {seen}")


def get_json(url: str) -> dict[str, Any]:
    response = httpx.get(url, timeout=5)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.redis
def test_up_demo_serves_the_real_sample(tmp_path: Path) -> None:
    total, by_tool, by_trial = count_tool_calls()
    assert total == 1164
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "AEGIS_"))}
    env.update(HOME=str(tmp_path), AEGIS_PORT="0", AEGIS_LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1")
    policy = tmp_path / "policy.yaml"  # the bundled airline policy, in a file up follows (D7)
    policy.write_text(data_file("airline-policy.yaml").read_text())
    env.update(AEGIS_POLICY=str(policy), AEGIS_POLICY_POLL_MS="50")
    proc = subprocess.Popen(
        [sys.executable, "-m", "aegis_stream", "up", "--demo"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        engine_dir = Path(wait_for_line(proc, r"demo engine in (\S+) ", timeout=60).group(1))
        assert (engine_dir / "engine.json").exists()
        match = wait_for_line(proc, r"(http://127\.0\.0\.1:\d+)/api/v1/dashboard/overview", timeout=60)
        base = match.group(1)
        deadline = time.monotonic() + 30
        overview = get_json(f"{base}/api/v1/dashboard/overview")
        while overview["total_actions"] < total and time.monotonic() < deadline:
            time.sleep(0.1)
            overview = get_json(f"{base}/api/v1/dashboard/overview")
        assert overview["total_actions"] == total
        assert overview["active_agents"] == 4
        assert overview["policy_rule_count"] == 11
        stats = get_json(f"{base}/api/v1/dashboard/audit/stats")
        assert stats["by_action_type"] == dict(by_tool)
        assert list(stats["by_action_type"].values()) == sorted(by_tool.values(), reverse=True)
        assert stats["by_agent"] == dict(by_trial)
        week = get_json(f"{base}/api/v1/dashboard/stats/timeline?period=7d")
        assert sum(b["total"] for b in week["buckets"]) == total  # the demo spans the last 7 days
        health = get_json(f"{base}/api/v1/dashboard/system/health")
        assert health["audit_entries"] == total and health["pipeline"]["dead_letters"] == 0
        # editing the policy file while up runs changes the policy routes
        policy.write_text("rules:\n  - name: only-rule\n    approval: block\n")
        deadline = time.monotonic() + 30
        while get_json(f"{base}/api/v1/dashboard/policy/summary")["rule_count"] != 1:
            assert time.monotonic() < deadline, "up did not follow the policy file"
            time.sleep(0.05)
        assert get_json(f"{base}/api/v1/dashboard/overview")["policy_rule_count"] == 1
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert code == 0
    assert not engine_dir.exists()  # the ephemeral demo engine stopped and its directory is gone


@pytest.mark.redis
def test_sigterm_during_the_demo_import_leaves_nothing_behind(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "AEGIS_"))}
    env.update(HOME=str(tmp_path), AEGIS_PORT="0", AEGIS_LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "aegis_stream", "up", "--demo"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        engine_dir = Path(wait_for_line(proc, r"demo engine in (\S+) ", timeout=60).group(1))
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code in (0, 130)  # 0 if the import had already finished and up stopped cleanly
    assert not engine_dir.exists()
    found = subprocess.run(["pgrep", "-f", str(engine_dir)], check=False, capture_output=True, text=True)
    survivors = found.stdout
    assert survivors == ""
