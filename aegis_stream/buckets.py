"""Timeline bucket maths, in integer milliseconds since the Unix epoch.

Buckets are aligned to the epoch (UTC hour, 6-hour and midnight boundaries),
as the reference's are. Pure functions only.
"""

from __future__ import annotations

from dataclasses import dataclass

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
# Buckets are kept this long after their look-back has passed them by.
SLACK_MS = 6 * HOUR_MS


@dataclass(frozen=True, slots=True)
class Period:
    """A timeline period: its bucket size and how far back it looks."""

    size_ms: int
    lookback_ms: int


PERIODS: dict[str, Period] = {
    "24h": Period(HOUR_MS, 24 * HOUR_MS),
    "7d": Period(6 * HOUR_MS, 168 * HOUR_MS),
    "30d": Period(DAY_MS, 720 * HOUR_MS),
}
DEFAULT_PERIOD = PERIODS["24h"]
# Every bucket size the projector maintains, with the look-back it serves.
BUCKET_SIZES: tuple[Period, ...] = tuple(PERIODS.values())


def period_for(name: str) -> Period:
    """The period for a query value; anything unknown falls back to 24h (case-sensitive)."""
    return PERIODS.get(name, DEFAULT_PERIOD)


def bucket_start(ts_ms: int, size_ms: int) -> int:
    """Start of the epoch-aligned bucket of ``size_ms`` containing ``ts_ms``."""
    return ts_ms - ts_ms % size_ms


def window_starts(now_ms: int, period: Period) -> list[int]:
    """Starts of every bucket from the one containing ``now - lookback`` through the one containing now."""
    first = bucket_start(now_ms - period.lookback_ms, period.size_ms)
    last = bucket_start(now_ms, period.size_ms)
    return list(range(first, last + 1, period.size_ms))


def bucket_expiry(start_ms: int, period: Period) -> int:
    """Epoch ms after which no timeline query can read the bucket any more (plus slack)."""
    return start_ms + period.size_ms + period.lookback_ms + SLACK_MS
