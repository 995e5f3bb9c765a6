"""The benchmarks keep working (a smoke run at tiny sizes; no timing is asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(module: str, *args: str, redis_url: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env={**os.environ, "REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_projector_benchmark_smoke(redis_url: str) -> None:
    out = run("benchmarks.projector", "--events", "2000", "--batch", "500", redis_url=redis_url)
    assert "real tau-bench sample, repeated" in out and "synthetic, high cardinality" in out


def test_memory_benchmark_smoke(redis_url: str) -> None:
    out = run("benchmarks.memory", redis_url=redis_url)
    assert "1,164 events of the real sample" in out and "bytes/event" in out and "audit log" in out


def test_routes_benchmark_smoke(redis_url: str) -> None:
    out = run(
        "benchmarks.routes", "--sizes", "300,600", "--requests", "3", "--ref-budget", "5", redis_url=redis_url
    )
    assert "/overview" in out and "/anomalies/alerts" in out and "p99 at 600 events" in out
