"""Files shipped inside the package: the demo sample and bundled policies."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from aegis_stream.policy import Policy, load_policy

BUNDLED_POLICIES = {"airline": "airline-policy.yaml"}
DEMO_SAMPLE = "airline-sample.jsonl.gz"


def data_file(name: str) -> Path:
    """Path of a file shipped in ``aegis_stream/data``."""
    return Path(str(resources.files("aegis_stream").joinpath("data", name)))


def resolve_policy(name_or_path: str | None) -> Policy | None:
    """Load a policy by path, or a bundled one by name (``airline``); None for no policy."""
    if not name_or_path:
        return None
    bundled = BUNDLED_POLICIES.get(name_or_path)
    return load_policy(data_file(bundled) if bundled else name_or_path)
