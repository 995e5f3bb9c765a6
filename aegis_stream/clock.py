"""The default clocks; everything that needs "now" takes one of these as a parameter."""

from __future__ import annotations

import time


def wall_clock_ms() -> int:
    """Milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def wall_clock_us() -> int:
    """Microseconds since the epoch."""
    return time.time_ns() // 1000
