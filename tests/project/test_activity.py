"""Activity clusters (SOC2 CC7.2's gaps), against a direct count over sorted times."""

from __future__ import annotations

import itertools
import random

import pytest

from aegis_stream.project.activity import GAP_US, clusters, gap_count, merge

HOUR = 3_600_000_000


def direct_gaps(times: list[int]) -> int:
    """The reference's rule: adjacent sorted times more than an hour apart."""
    ordered = sorted(times)
    return sum(1 for a, b in itertools.pairwise(ordered) if b - a > HOUR)


@pytest.mark.parametrize(
    ("times", "gaps"),
    [
        ([], 0),
        ([5], 0),
        ([0, HOUR], 0),  # exactly an hour is not a gap
        ([0, HOUR + 1], 1),
        ([3 * HOUR, 0, HOUR + 1], 2),  # sorted: 0, HOUR+1, 3 HOUR: both steps exceed an hour
        ([0, 0, 0], 0),
        ([0, 2 * HOUR, 4 * HOUR, 6 * HOUR], 3),
        ([10 * HOUR, 0, 5 * HOUR, HOUR // 2], 2),
    ],
)
def test_gap_table(times: list[int], gaps: int) -> None:
    assert direct_gaps(times) == gaps
    assert gap_count(clusters(times)) == gaps


def test_gap_constant_is_one_hour() -> None:
    assert GAP_US == HOUR


@pytest.mark.parametrize("seed", range(20))
def test_batches_merged_in_any_order_equal_the_whole(seed: int) -> None:
    rng = random.Random(seed)
    times = [rng.randrange(0, 200 * HOUR) for _ in range(rng.randint(1, 300))]
    rng.shuffle(times)
    whole = clusters(times)
    # split into batches at random, as the projector sees them, and merge their clusters
    stored: list[tuple[int, int]] = []
    i = 0
    while i < len(times):
        n = rng.randint(1, 40)
        stored = merge([*stored, *clusters(times[i : i + n])])
        i += n
    assert stored == whole
    assert gap_count(stored) == direct_gaps(times)
    # clusters are disjoint, sorted and more than an hour apart
    for (_, end), (start, _) in itertools.pairwise(whole):
        assert start - end > HOUR
