"""Agent behaviour profiles, as the projector keeps them (DESIGN D3).

An agent's events all land in one partition (events are routed by agent), so
a profile is read from that partition alone. Reading costs a fixed number of
keys per agent, and each agent's maps are capped, so the cost grows with the
number of agents and never with the number of events.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
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
    # what the profile was read at (its key and hash): the same stamp means the same profile
    stamp: tuple[Any, ...] = field(default=(), compare=False)

    @property
    def name(self) -> str:
        """The agent as the reference names it (an event without agent belongs to ``default``)."""
        return self.agent if self.agent != NO_AGENT else "default"

    @property
    def block_rate(self) -> float:
        """Blocked share of the agent's actions (0.0 with no actions)."""
        return self.blocked / self.total if self.total else 0.0


def _ordered(counts: dict[Any, Any], first: dict[Any, Any]) -> tuple[list[tuple[str, int]], tuple[Any, ...]]:
    """``(value, count)`` pairs sorted by first appearance, and those first appearances.

    For views written before order lists existed, and for the two agents that
    share a reference name (their maps are merged by first appearance).
    """
    rows = []
    for k, v in counts.items():
        n = counter(v)
        if n:
            rows.append((order(first.get(k)), text(k), n))
    rows.sort()
    return [(k, n) for _, k, n in rows], tuple(at for at, _, _ in rows)


def _listed(order_list: list[bytes], counts: dict[bytes, bytes]) -> list[tuple[str, int]]:
    """One map in admission order (its order list), with the counts of its hash."""
    out = []
    for value in order_list:
        raw = counts.get(value)
        if raw is not None:  # listed, then deleted by hand: nothing to show
            n = counter(raw)
            if n:
                out.append((value.decode(), n))
    return out


def _maybe_counter(value: Any) -> int | None:
    return counter(value) if value is not None else None


Maps = tuple[list[tuple[str, int]], tuple[Any, ...]]


class MapsCache:
    """The last maps read of each agent, kept while the agent's profile hash is unchanged.

    Every event of an agent increments its ``total``, and only its events
    change its maps, so a profile hash that reads the same means maps that
    read the same: a dashboard polling profiles re-reads only the agents that
    acted since. Keyed by the stamp (profile key and hash, as read); bounded
    by the agents of the last read.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[Any, ...], dict[str, Maps]] = {}

    def get(self, stamp: tuple[Any, ...]) -> dict[str, Maps] | None:
        """The maps read at ``stamp``, if they are kept."""
        return self._entries.get(stamp)

    def replace(self, entries: dict[tuple[Any, ...], dict[str, Maps]]) -> None:
        """Keep exactly ``entries`` (stamp -> maps by kind)."""
        self._entries = entries


async def _read_maps(
    redis: AsyncClient, keys: Keys, agents: list[str], sort: set[str]
) -> list[dict[str, Maps]]:
    """The maps of ``agents`` (one round trip; a second for views written before order lists).

    Agents in ``sort`` get their maps ordered by the first-seen hashes, with
    each value's first appearance, which merging two agents' maps needs.
    """
    pipe = redis.pipeline(transaction=False)
    for agent in agents:
        p = partition_for(agent, keys.partitions)
        for kind in PROFILE_MAPS:
            if agent in sort:
                pipe.hgetall(keys.profile_first_seen(p, kind, agent))
            else:
                pipe.lrange(keys.profile_order(p, kind, agent), 0, -1)
            pipe.hgetall(keys.profile_counts(p, kind, agent))
    replies = iter(await pipe.execute())
    out: list[dict[str, Maps]] = []
    unlisted: list[tuple[int, str, str, dict[bytes, bytes]]] = []
    for agent in agents:
        maps: dict[str, Maps] = {}
        for kind in PROFILE_MAPS:
            first_or_order, counts = next(replies), next(replies)
            if agent in sort:
                maps[kind] = _ordered(counts, first_or_order)
            elif counts and not first_or_order:  # views older than the order lists
                unlisted.append((len(out), agent, kind, counts))
            else:
                maps[kind] = (_listed(first_or_order, counts), ())
        out.append(maps)
    if unlisted:
        pipe = redis.pipeline(transaction=False)
        for _, agent, kind, _counts in unlisted:
            pipe.hgetall(keys.profile_first_seen(partition_for(agent, keys.partitions), kind, agent))
        for (i, _, kind, counts), first in zip(unlisted, await pipe.execute(), strict=True):
            ordered, _firsts = _ordered(counts, first)
            out[i][kind] = (ordered, ())
    return out


async def read_profiles(
    redis: AsyncClient,
    keys: Keys,
    agents: Sequence[str],
    *,
    maps: bool = True,
    with_firsts: Collection[str] = (),
    cache: MapsCache | None = None,
) -> list[AgentProfile]:
    """The profiles of ``agents`` (raw agent values, ``""`` for none), in the order given.

    One round trip for the profile hashes, and one more for the maps of the
    agents the ``cache`` cannot answer for. The maps come from the order
    lists the projector keeps, already in first-seen order. Agents in
    ``with_firsts`` also get each value's first appearance
    (``types_first``/``targets_first``), which merging two agents' maps needs.
    ``maps=False`` reads only the counters and times (the maps come back empty).
    """
    profile_keys = [keys.profile(partition_for(agent, keys.partitions), agent) for agent in agents]
    pipe = redis.pipeline(transaction=False)
    for key in profile_keys:
        pipe.hgetall(key)
    heads = [{text(k): text(v) for k, v in reply.items()} for reply in await pipe.execute()]
    # what each profile was read at: the same stamp means the same profile (see MapsCache)
    stamps = [(key, *sorted(head.items())) for key, head in zip(profile_keys, heads, strict=True)]
    found: dict[str, dict[str, Maps]] = {}
    if maps:
        sort = set(with_firsts)
        missing = []
        for agent, stamp in zip(agents, stamps, strict=True):
            hit = cache.get(stamp) if cache and agent not in sort else None
            if hit is None:
                missing.append(agent)
            else:
                found[agent] = hit
        found.update(zip(missing, await _read_maps(redis, keys, missing, sort), strict=True))
        if cache is not None:
            cache.replace({stamp: found[a] for a, stamp in zip(agents, stamps, strict=True) if a not in sort})
    out = []
    empty: Maps = ([], ())
    for agent, head, stamp in zip(agents, heads, stamps, strict=True):
        agent_maps = found.get(agent, {})
        types, types_first = agent_maps.get("types", empty)
        targets, targets_first = agent_maps.get("targets", empty)
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
                stamp=(maps, *stamp),
            )
        )
    return out
