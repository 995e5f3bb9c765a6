"""Configuration: a frozen dataclass built from a mapping, never at import time."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aegis_stream.errors import ConfigError
from aegis_stream.signing import MIN_KEY_CHARS

# environment variable -> Settings attribute
ENV_VARS: dict[str, str] = {
    "REDIS_URL": "redis_url",
    "AEGIS_KEY_PREFIX": "key_prefix",
    "AEGIS_VIEWS_VERSION": "views_version",
    "AEGIS_PARTITIONS": "partitions",
    "AEGIS_DATA_DIR": "data_dir",
    "AEGIS_POLICY": "policy_path",
    "AEGIS_HOST": "host",
    "AEGIS_PORT": "port",
    "AEGIS_API_TOKEN": "api_token",
    "AEGIS_INGEST_TOKEN": "ingest_token",
    "AEGIS_SIGNING_KEY": "signing_key",
    "AEGIS_BATCH_SIZE": "batch_size",
    "AEGIS_BLOCK_MS": "block_ms",
    "AEGIS_CLAIM_IDLE_MS": "claim_idle_ms",
    "AEGIS_MAX_DELIVERIES": "max_deliveries",
    "AEGIS_MAX_EVENT_BYTES": "max_event_bytes",
    "AEGIS_LEASE_MS": "lease_ms",
    "AEGIS_CONSUMER": "consumer",
    "AEGIS_DEDUPE_WINDOW_MS": "dedupe_window_ms",
    "AEGIS_MAX_FUTURE_SKEW_MS": "max_future_skew_ms",
    "AEGIS_RETENTION_MS": "retention_ms",
    "AEGIS_CLUSTER": "cluster",
    "AEGIS_ANOMALIES": "anomalies",
    "AEGIS_AGENT_MAP_CAP": "agent_map_cap",
    "AEGIS_LOG_LEVEL": "log_level",
    "AEGIS_LOG_FORMAT": "log_format",
    "AEGIS_POLICY_POLL_MS": "policy_poll_ms",
    "AEGIS_AUDIT_LOG": "audit_log",
    "AEGIS_MAX_INGEST_BYTES": "max_ingest_bytes",
}
_MONTH_MS = 30 * 86_400_000
REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")
_SECRET_ATTRS = frozenset({"api_token", "ingest_token", "signing_key", "redis_url"})


def default_data_dir(env: Mapping[str, str]) -> str:
    """Where the embedded engine keeps its data: ``$XDG_DATA_HOME/aegis-stream``."""
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", ".")) / ".local" / "share")
    return str(Path(base) / "aegis-stream")


@dataclass(frozen=True, slots=True)
class Settings:
    """Every tunable of the service. Build with :meth:`from_env`."""

    redis_url: str | None = None
    key_prefix: str = "aegis"
    views_version: int = 1
    partitions: int = 1
    data_dir: str = ".aegis-stream"
    policy_path: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    api_token: str | None = None
    ingest_token: str | None = None
    # shared by producers and projectors: entries a producer signed are not re-walked (see signing.py)
    signing_key: str | None = None
    batch_size: int = 1000
    block_ms: int = 1000
    claim_idle_ms: int = 30_000
    max_deliveries: int = 5
    max_event_bytes: int = 64 * 1024
    lease_ms: int = 10_000
    consumer: str | None = None
    log_level: str = "INFO"
    log_format: str = "text"
    dedupe_window_ms: int = 24 * 3_600_000
    max_future_skew_ms: int = 5 * 60_000
    retention_ms: int = 7 * 24 * 3_600_000
    cluster: bool = False
    anomalies: bool = True
    agent_map_cap: int = 1000
    policy_poll_ms: int = 1000
    audit_log: bool = True
    max_ingest_bytes: int = 8 * 1024 * 1024

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from a mapping of environment variables (default: ``os.environ``)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {"data_dir": default_data_dir(env)}
        types = {f.name: f.type for f in fields(cls)}
        for var, attr in ENV_VARS.items():
            raw = env.get(var)
            if raw is None or raw == "":
                continue
            values[attr] = _convert(var, raw, str(types[attr]))
        settings = cls(**values)
        settings.validate()
        return settings

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some attributes replaced (CLI flags), validated."""
        settings = replace(self, **{k: v for k, v in changes.items() if v is not None})
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise :class:`ConfigError` for values out of range."""
        checks = [
            (self.partitions >= 1, "AEGIS_PARTITIONS must be at least 1"),
            (self.partitions <= 1024, "AEGIS_PARTITIONS must be at most 1024"),
            (self.views_version >= 1, "AEGIS_VIEWS_VERSION must be at least 1"),
            (1 <= self.batch_size <= 100_000, "AEGIS_BATCH_SIZE must be between 1 and 100000"),
            (self.block_ms >= 1, "AEGIS_BLOCK_MS must be at least 1"),
            (self.claim_idle_ms >= 0, "AEGIS_CLAIM_IDLE_MS must not be negative"),
            (self.max_deliveries >= 1, "AEGIS_MAX_DELIVERIES must be at least 1"),
            (self.max_event_bytes >= 256, "AEGIS_MAX_EVENT_BYTES must be at least 256"),
            (100 <= self.lease_ms <= 3_600_000, "AEGIS_LEASE_MS must be between 100 and 3600000"),
            (self.block_ms <= 60_000, "AEGIS_BLOCK_MS must be at most 60000"),
            (self.claim_idle_ms <= 86_400_000, "AEGIS_CLAIM_IDLE_MS must be at most 86400000"),
            (self.max_deliveries <= 1000, "AEGIS_MAX_DELIVERIES must be at most 1000"),
            (self.max_event_bytes <= 16 * 1024 * 1024, "AEGIS_MAX_EVENT_BYTES must be at most 16777216"),
            (self.views_version <= 1_000_000, "AEGIS_VIEWS_VERSION must be at most 1000000"),
            (_printable(self.data_dir), "AEGIS_DATA_DIR must not contain control characters"),
            (0 <= self.dedupe_window_ms <= _MONTH_MS, "AEGIS_DEDUPE_WINDOW_MS must be 0 to 2592000000"),
            (0 < self.max_future_skew_ms <= _MONTH_MS, "AEGIS_MAX_FUTURE_SKEW_MS must be 1 to 2592000000"),
            (0 <= self.retention_ms <= 120 * _MONTH_MS, "AEGIS_RETENTION_MS must be 0 to 311040000000"),
            (0 <= self.port <= 65535, "AEGIS_PORT must be between 0 and 65535"),
            (1 <= self.agent_map_cap <= 1_000_000, "AEGIS_AGENT_MAP_CAP must be between 1 and 1000000"),
            (0 <= self.policy_poll_ms <= 3_600_000, "AEGIS_POLICY_POLL_MS must be 0 to 3600000"),
            (
                1024 <= self.max_ingest_bytes <= 1024**3,
                "AEGIS_MAX_INGEST_BYTES must be between 1024 and 1073741824",
            ),
            (
                bool(self.key_prefix) and "{" not in self.key_prefix and "}" not in self.key_prefix,
                "AEGIS_KEY_PREFIX must be non-empty and must not contain braces",
            ),
        ]
        if self.redis_url is not None and urlsplit(self.redis_url).scheme not in REDIS_SCHEMES:
            raise ConfigError(
                f"REDIS_URL must start with one of {', '.join(s + '://' for s in REDIS_SCHEMES)}"
            )
        if self.redis_url is not None:
            try:
                port = urlsplit(self.redis_url).port  # raises for a port that is not a number
            except ValueError as e:
                raise ConfigError(f"REDIS_URL: {e}") from None
            if port == 0:  # the client would quietly take it as "the default port"
                raise ConfigError("REDIS_URL: port 0 is not a port to connect to")
        if self.cluster and self.redis_url is None:
            raise ConfigError("AEGIS_CLUSTER needs REDIS_URL (the embedded engine is a single server)")
        if self.cluster and self.redis_url is not None and urlsplit(self.redis_url).scheme == "unix":
            raise ConfigError("AEGIS_CLUSTER cannot be used with a unix:// REDIS_URL")
        if self.log_level.upper() not in LOG_LEVELS:
            raise ConfigError(
                f"AEGIS_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {self.log_level!r}"
            )
        if self.log_format.lower() not in LOG_FORMATS:
            raise ConfigError(
                f"AEGIS_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {self.log_format!r}"
            )
        for var, token in (("AEGIS_API_TOKEN", self.api_token), ("AEGIS_INGEST_TOKEN", self.ingest_token)):
            if token is not None and (token != token.strip() or not token or not _printable(token)):
                raise ConfigError(
                    f"{var} must be non-empty, without surrounding spaces or control characters"
                )
        if self.signing_key is not None and (
            len(self.signing_key) < MIN_KEY_CHARS
            or self.signing_key != self.signing_key.strip()
            or not _printable(self.signing_key)
        ):
            raise ConfigError(
                f"AEGIS_SIGNING_KEY must be at least {MIN_KEY_CHARS} characters, without surrounding "
                "spaces or control characters (make one with: python -c "
                "'import secrets; print(secrets.token_hex(32))')"
            )
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    def __repr__(self) -> str:
        def show(name: str) -> str:
            value = getattr(self, name)
            return "'***'" if name in _SECRET_ATTRS and value else repr(value)

        shown = ", ".join(f"{f.name}={show(f.name)}" for f in fields(self))
        return f"Settings({shown})"


def _printable(text: str) -> bool:
    return all(ch.isprintable() or ch == " " for ch in text)


def _convert(var: str, raw: str, type_name: str) -> Any:
    if type_name == "bool":
        value = raw.strip().lower()
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{var} must be true or false, got {raw!r}")
    if "int" in type_name:
        try:
            return int(raw.strip())
        except ValueError:
            raise ConfigError(f"{var} must be an integer, got {raw!r}") from None
    return raw
