"""The store's layout: the partition count every process must agree on.

Events are routed by ``crc32(agent_id) % partitions``; a process with a
different count would append to partitions no projector reads, or read only
some of them. The first process to use a store records its count, and every
later one checks it.
"""

from __future__ import annotations

from aegis_stream.errors import ConfigError
from aegis_stream.keys import Keys
from aegis_stream.store import AsyncClient


def _refuse(configured: int, recorded: object) -> ConfigError:
    found = recorded.decode() if isinstance(recorded, bytes) else str(recorded)
    return ConfigError(
        f"AEGIS_PARTITIONS is {configured}, but this store was set up with {found} partitions; "
        "every process must use the same count"
    )


async def check_partitions(redis: AsyncClient, keys: Keys, *, record: bool = True) -> None:
    """Record the partition count on first use (``record``), else compare; ConfigError on a mismatch."""
    wanted = str(keys.partitions)
    if record:
        recorded = await redis.set(keys.layout(), wanted, nx=True, get=True)
    else:
        recorded = await redis.get(keys.layout())
    if recorded is not None and recorded not in (wanted, wanted.encode()):
        raise _refuse(keys.partitions, recorded)
