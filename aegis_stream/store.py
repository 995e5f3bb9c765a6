"""Opening Redis clients: the one place that knows redis-py's connection options.

A single server is reached with ``redis://``, ``rediss://`` or ``unix://``. A
Redis Cluster is reached with ``redis+cluster://`` / ``rediss+cluster://`` (any
node as the seed), or with a plain ``redis://`` URL and ``cluster=True``
(``AEGIS_CLUSTER``). Every key of a partition carries the hash tag ``{pN}``, so
each Lua script touches one slot; pipelines over several partitions are split
per node by the cluster client.
"""

from __future__ import annotations

from typing import Any, TypeAlias
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio as aredis
from redis.exceptions import ClusterDownError, RedisClusterException, TryAgainError

from aegis_stream.errors import StoreError

# The client types callers receive: a single server or a cluster.
AsyncClient: TypeAlias = aredis.Redis | aredis.RedisCluster
SyncClient: TypeAlias = redis.Redis | redis.RedisCluster

# URL schemes that mean "a cluster", and the redis-py scheme each one stands for.
CLUSTER_SCHEMES: dict[str, str] = {"redis+cluster": "redis", "rediss+cluster": "rediss"}

# Error codes of a store that refuses writes whatever is sent: memory full, a read-only
# replica, a failed background save, a busy script, no replicas, an ACL. Retried with
# backoff, and never held against the entry being applied.
STORE_REFUSALS = frozenset({"OOM", "READONLY", "MISCONF", "BUSY", "NOREPLICAS", "MASTERDOWN", "NOPERM"})


def is_refusal(error: BaseException) -> bool:
    """True for a :data:`STORE_REFUSALS` reply (a script's inner command keeps its code)."""
    if isinstance(error, redis.exceptions.OutOfMemoryError | redis.exceptions.ReadOnlyError):
        return True
    if not isinstance(error, redis.ResponseError):
        return False
    code = getattr(error, "status_code", None) or str(error).split(" ", 1)[0]
    return code in STORE_REFUSALS


# Errors that mean "the server is (temporarily) unreachable": retry with backoff.
# For a cluster also: a failover or resharding in progress (CLUSTERDOWN, TRYAGAIN,
# a slot without a node) and no reachable node at all. redis-py raises the last two
# as RedisClusterException, which is not a RedisError. ClusterDownError and
# TryAgainError are ResponseErrors: catch TRANSIENT_ERRORS before ResponseError.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    ConnectionError,
    TimeoutError,
    ClusterDownError,
    TryAgainError,
    RedisClusterException,
)


def socket_timeout_for(block_ms: int) -> float:
    """A socket timeout that always exceeds the longest blocking read (XREADGROUP BLOCK)."""
    return block_ms / 1000 + 10.0


def cluster_target(url: str, cluster: bool = False) -> str | None:
    """The redis-py URL of the cluster ``url`` names, or None if it names a single server.

    ``redis+cluster://`` and ``rediss+cluster://`` always mean a cluster; any other
    URL does when ``cluster`` is true. Unix sockets cannot reach a cluster.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in CLUSTER_SCHEMES:
        return urlunsplit(parts._replace(scheme=CLUSTER_SCHEMES[scheme]))
    if not cluster:
        return None
    if scheme == "unix":
        raise StoreError("bad Redis URL: a Redis Cluster cannot be reached over a unix socket")
    return url


def _options(block_ms: int) -> dict[str, Any]:
    return {
        "socket_timeout": socket_timeout_for(block_ms),
        "socket_connect_timeout": 5.0,
        "health_check_interval": 30,
    }


def async_client(url: str, *, block_ms: int = 1000, cluster: bool = False) -> AsyncClient:
    """An asyncio client for ``url``: a :class:`redis.asyncio.RedisCluster` for a cluster.

    No connection is made here; the cluster client discovers its nodes on first use.
    """
    try:
        target = cluster_target(url, cluster)
        if target is not None:
            return aredis.RedisCluster.from_url(target, **_options(block_ms))
        return aredis.Redis.from_url(url, **_options(block_ms))
    except ValueError as e:
        raise StoreError(f"bad Redis URL: {e}") from e
    except RedisClusterException as e:  # db other than 0, a unix socket
        raise StoreError(f"bad Redis Cluster URL: {e}") from e


def sync_client(url: str, *, block_ms: int = 1000, cluster: bool = False) -> SyncClient:
    """A blocking client for ``url``, for the CLI and the synchronous producer.

    For a cluster this connects to the seed node at once to learn the slot map.
    """
    try:
        target = cluster_target(url, cluster)
        if target is not None:
            return redis.RedisCluster.from_url(target, **_options(block_ms))
        return redis.Redis.from_url(url, **_options(block_ms))
    except ValueError as e:
        raise StoreError(f"bad Redis URL: {e}") from e
    except RedisClusterException as e:  # a bad URL, or no reachable node with full slot coverage
        raise StoreError(f"cannot use the Redis Cluster: {e}") from e
