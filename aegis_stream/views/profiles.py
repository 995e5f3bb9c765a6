"""Agent behaviour profiles, as the projector keeps them (DESIGN D3).

An agent's events all land in one partition (events are routed by agent), so
a profile is read from that partition alone. Reading costs a fixed number of
keys per agent, and each agent's maps are capped, so the cost grows with the
number of agents and never with the number of events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aegis_stream.keys import Keys, partition_for
from aegis_stream.project.projection import NO_AGENT, PROFILE_MAPS
from aegis_stream.store import AsyncClient
from aegis_stream.streamids import text
from aegis_stream.views.values import counter, order


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """One agent's counters; ``types`` and ``targets`` are ``(value, count)`` in first-seen order.

    ``first_us``/``last_us`` are the earliest and latest event times (None
    when the profile has not been written yet). Values past the per-agent cap
    are counted in ``types_overflow``/``targets_overflow`` instead of a map.
    """

    agent: str
    total: int
    blocked: int
    types: list[tuple[str, int]]
    targets: list[tuple[str, int]]
    first_us: int | None
    last_us: int | None
    types_overflow: int = 0
    targets_overflow: int = 0
    # where each value of ``types`` / ``targets`` first appeared (stream order), aligned with them
    types_first: tuple[tuple[int, int], ...] = ()
    targets_first: tuple[tuple[int, int], ...] = ()

    @property
    def name(self) -> str:
        """The agent as the reference names it (an event without agent belongs to ``default``)."""
        return self.agent if self.agent != NO_AGENT else "default"

    @property
    def block_rate(self) -> float:
        """Blocked share of the agent's actions (0.0 with no actions)."""
        return self.blocked / self.total if self.total else 0.0


def _ordered(counts: dict[Any, Any], first: dict[Any, Any]) -> tuple[list[tuple[str, int]], tuple[Any, ...]]:
    """``(value, count)`` pairs in first-appearance order, and those first appearances.

    The hot path of the profiles route (maps hold up to the cap each), so the
    first appearances are parsed from the raw reply bytes.
    """
    rows = []
    for k, v in counts.items():
        n = counter(v)
        if n:
            rows.append((order(first.get(k)), text(k), n))
    rows.sort()
    return [(k, n) for _, k, n in rows], tuple(at for at, _, _ in rows)


def _maybe_counter(value: Any) -> int | None:
    return counter(value) if value is not None else None


async def read_profiles(
    redis: AsyncClient, keys: Keys, agents: Sequence[str], *, maps: bool = True
) -> list[AgentProfile]:
    """The profiles of ``agents`` (raw agent values, ``""`` for none), in the order given; one round trip.

    ``maps=False`` reads only the counters and times (the maps come back empty).
    """
    pipe = redis.pipeline(transaction=False)
    for agent in agents:
        p = partition_for(agent, keys.partitions)
        pipe.hgetall(keys.profile(p, agent))
        if maps:
            for kind in PROFILE_MAPS:
                pipe.hgetall(keys.profile_counts(p, kind, agent))
                pipe.hgetall(keys.profile_first_seen(p, kind, agent))
    replies = iter(await pipe.execute())
    out = []
    for agent in agents:
        head = {text(k): text(v) for k, v in next(replies).items()}
        types, types_first = _ordered(next(replies), next(replies)) if maps else ([], ())
        targets, targets_first = _ordered(next(replies), next(replies)) if maps else ([], ())
        out.append(
            AgentProfile(
                agent=agent,
                total=counter(head.get("total", 0)),
                blocked=counter(head.get("blocked", 0)),
                types=types,
                targets=targets,
                first_us=_maybe_counter(head.get("first_us")),
                last_us=_maybe_counter(head.get("last_us")),
                types_overflow=counter(head.get("types_overflow", 0)),
                targets_overflow=counter(head.get("targets_overflow", 0)),
                types_first=types_first,
                targets_first=targets_first,
            )
        )
    return out
