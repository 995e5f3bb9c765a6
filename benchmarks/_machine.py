"""The one line every benchmark prints first: the machine and the server it ran on."""

from __future__ import annotations

import os
import platform

import redis


def describe(url: str) -> str:
    """Architecture, cores, Python and the server's name and version."""
    client = redis.Redis.from_url(url)
    try:
        server = client.info("server")
    finally:
        client.close()
    name = server.get("server_name", "redis")
    version = server.get("valkey_version", server["redis_version"])
    python = platform.python_version()
    return f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {python}, {name} {version}"
