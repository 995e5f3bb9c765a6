"""A lease with expiry: at most one active projector per partition.

The lease value is a random token; the apply script checks it, so a zombie
whose lease lapsed cannot write even if it wakes up mid-batch.
"""

from __future__ import annotations

from aegis_stream.store import AsyncClient

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Lease:
    """One process's claim on one partition."""

    def __init__(self, redis: AsyncClient, key: str, token: str, ttl_ms: int) -> None:
        self.key = key
        self.token = token
        self.ttl_ms = ttl_ms
        self._redis = redis
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    async def acquire(self) -> bool:
        """Take the lease if it is free, or renew it if it is already ours."""
        if await self._redis.set(self.key, self.token, nx=True, px=self.ttl_ms):
            return True
        return await self.renew()

    async def renew(self) -> bool:
        """Extend the lease; False if another process holds it now."""
        return bool(await self._renew(keys=[self.key], args=[self.token, self.ttl_ms]))

    async def release(self) -> None:
        """Give the lease up so a standby can take over at once."""
        await self._release(keys=[self.key], args=[self.token])
