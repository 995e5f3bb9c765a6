"""Bucket maths in integer milliseconds."""

from __future__ import annotations

from itertools import pairwise

import pytest

from aegis_stream.buckets import PERIODS, bucket_expiry, bucket_start, period_for, window_starts

H = 3_600_000
# 2026-11-30T12:34:56.789Z in ms: 1_796_040_000 s (noon) + 34*60 + 56 s + 789 ms
T = (1_796_040_000 + 34 * 60 + 56) * 1000 + 789
NOON = 1_796_040_000_000


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (H, NOON),
        (6 * H, NOON),  # 12:00 is a 6-hour boundary
        (24 * H, NOON - 12 * H),  # midnight
    ],
)
def test_bucket_start_is_epoch_aligned(size: int, expected: int) -> None:
    assert bucket_start(T, size) == expected


def test_period_fallback_is_case_sensitive() -> None:
    assert period_for("7d") == PERIODS["7d"]
    assert period_for("7D") == PERIODS["24h"]
    assert period_for("") == PERIODS["24h"]
    assert period_for("1y") == PERIODS["24h"]


@pytest.mark.parametrize(("name", "count"), [("24h", 25), ("7d", 29), ("30d", 31)])
def test_window_covers_whole_buckets(name: str, count: int) -> None:
    period = PERIODS[name]
    starts = window_starts(T, period)
    assert len(starts) == count
    assert starts[0] == bucket_start(T - period.lookback_ms, period.size_ms)
    assert starts[-1] == bucket_start(T, period.size_ms)
    assert all(b - a == period.size_ms for a, b in pairwise(starts))


def test_window_on_a_boundary() -> None:
    # now exactly on an hour: look-back start is also on an hour, so 25 buckets, first = now - 24h
    starts = window_starts(NOON, PERIODS["24h"])
    assert starts[0] == NOON - 24 * H
    assert starts[-1] == NOON
    assert len(starts) == 25


def test_expiry_outlives_the_lookback() -> None:
    period = PERIODS["24h"]
    start = NOON
    # the last query that can still see this bucket runs just before start + size + lookback
    assert bucket_expiry(start, period) == start + H + 24 * H + 6 * H
