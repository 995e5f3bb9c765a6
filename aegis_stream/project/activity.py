"""Activity clusters: the data behind SOC2 CC7.2's count of monitoring gaps.

A gap is a pair of consecutive event times (sorted) more than an hour apart.
The gaps in a set of times are exactly the spaces between its *clusters*:
maximal runs of times in which each is at most an hour after the previous.
So the projector keeps, per partition, the clusters as intervals, merging
each batch's clusters into them. The result depends only on the set of
times, not on the order they arrive in, and the gap count is
``clusters - 1``. Memory grows with the number of quiet hours in the
history, never with the number of events. Pure functions, times in
microseconds.
"""

from __future__ import annotations

from collections.abc import Iterable

GAP_US = 3_600 * 1_000_000  # strictly more than this between two events is a gap

Interval = tuple[int, int]


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Merge intervals (and single times as ``(t, t)``) closer than a gap; sorted by start."""
    out: list[Interval] = []
    for start, end in sorted(intervals):
        if out and start - out[-1][1] <= GAP_US:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def clusters(times_us: Iterable[int]) -> list[Interval]:
    """The clusters of a set of event times."""
    return merge((t, t) for t in times_us)


def gap_count(intervals: Iterable[Interval]) -> int:
    """Gaps between consecutive event times, given clusters (from one or several partitions)."""
    return max(0, len(merge(intervals)) - 1)
