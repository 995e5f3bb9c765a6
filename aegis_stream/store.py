"""Opening Redis clients: the one place that knows redis-py's connection options."""

from __future__ import annotations

import redis
import redis.asyncio as aredis

from aegis_stream.errors import StoreError

# Errors that mean "the server is (temporarily) unreachable": retry with backoff.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    ConnectionError,
    TimeoutError,
)


def socket_timeout_for(block_ms: int) -> float:
    """A socket timeout that always exceeds the longest blocking read (XREADGROUP BLOCK)."""
    return block_ms / 1000 + 10.0


def async_client(url: str, *, block_ms: int = 1000) -> aredis.Redis:
    """An asyncio client for ``url`` (redis://, rediss:// or unix://)."""
    try:
        return aredis.Redis.from_url(
            url,
            socket_timeout=socket_timeout_for(block_ms),
            socket_connect_timeout=5.0,
            health_check_interval=30,
        )
    except ValueError as e:
        raise StoreError(f"bad Redis URL: {e}") from e


def sync_client(url: str, *, block_ms: int = 1000) -> redis.Redis:
    """A blocking client for ``url``, for the CLI and the synchronous producer."""
    try:
        return redis.Redis.from_url(
            url,
            socket_timeout=socket_timeout_for(block_ms),
            socket_connect_timeout=5.0,
            health_check_interval=30,
        )
    except ValueError as e:
        raise StoreError(f"bad Redis URL: {e}") from e
