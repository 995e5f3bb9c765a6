"""The benchmarks keep working (a smoke run at tiny sizes; no timing is asserted)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT_SECTIONS = (
    "producer throughput",
    "projector throughput",
    "freshness",
    "dashboard routes",
    "overview under 50 concurrent HTTP clients",
    "Redis memory per retained event",
)
NUMBER = re.compile(r"-|-?\d{1,3}(,\d{3})*(\.\d+)?")


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
    for name in ("real tau-bench sample", "synthetic, high cardinality"):
        assert f"{name}, unsigned" in out and f"{name}, signed" in out


def test_memory_benchmark_smoke(redis_url: str) -> None:
    out = run("benchmarks.memory", redis_url=redis_url)
    assert "1,164 events of the real sample" in out and "bytes/event" in out and "audit log" in out


def test_routes_benchmark_smoke(redis_url: str) -> None:
    out = run(
        "benchmarks.routes", "--sizes", "300,600", "--requests", "3", "--ref-budget", "5", redis_url=redis_url
    )
    assert "/overview" in out and "/anomalies/alerts" in out and "p99 at 600 events" in out


def report_tables(out: str) -> dict[str, tuple[list[str], list[list[str]]]]:
    """Title -> (header, rows) of each ``== title ==`` section; cells are split on runs of spaces."""
    tables: dict[str, tuple[list[str], list[list[str]]]] = {}
    title = None
    for line in out.splitlines():
        if line.startswith("== "):
            title = line.strip("= ")
            tables[title] = ([], [])
        elif not line.strip():
            title = None
        elif title is not None and not line.startswith("  "):  # notes are indented
            header, rows = tables[title]
            cells = re.split(r"\s{2,}", line.strip())
            if header:
                assert len(cells) == len(header), (title, line)
                rows.append(cells)
            else:
                header.extend(cells)
    return tables


def test_benchmark_command_quick(redis_url: str) -> None:
    from benchmarks.routes import ROUTES, D

    out = run("benchmarks", "--quick", redis_url=redis_url)
    assert out.startswith("machine: ")
    tables = report_tables(out)
    for name in REPORT_SECTIONS:
        titles = [t for t in tables if t.startswith(name)]
        assert len(titles) == 1, (name, list(tables))
        header, rows = tables[titles[0]]
        assert header and rows, name
        for row in rows:  # the first cell names the row; every other one is a number or "-"
            assert all(NUMBER.fullmatch(cell) for cell in row[1:]), (name, row)
    routes = next(rows for t, (_, rows) in tables.items() if t.startswith("dashboard routes"))
    assert {row[0] for row in routes} == {p.removeprefix(D) for p in ROUTES}
    fresh = next(rows for t, (_, rows) in tables.items() if t.startswith("freshness"))
    assert [row[0] for row in fresh] == ["200", "500"] and all(row[3] != "-" for row in fresh)
