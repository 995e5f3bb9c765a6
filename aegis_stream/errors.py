"""The one small exception hierarchy of aegis-stream.

Library errors (redis-py, PyYAML, msgpack) are wrapped at the edge with
``raise ... from e`` so callers only ever catch these.
"""

from __future__ import annotations


class AegisError(Exception):
    """Base class of every error aegis-stream raises on purpose."""


class ConfigError(AegisError):
    """A setting (environment variable or CLI flag) is missing or malformed."""


class InvalidEvent(AegisError):
    """An audit event failed validation; ``reason`` says precisely why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PolicyError(AegisError):
    """A policy file could not be loaded or is not a valid policy."""


class StoreError(AegisError):
    """The Redis/Valkey store could not be reached or answered an error."""


class ImportFailed(AegisError):
    """An input file for ``aegis-stream import`` could not be read."""
