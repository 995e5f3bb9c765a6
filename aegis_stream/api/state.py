"""What the handlers share: the reader, the policy and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aegis_stream.keys import Keys
from aegis_stream.policy import Policy
from aegis_stream.settings import Settings
from aegis_stream.store import AsyncClient
from aegis_stream.views import ViewReader


@dataclass(slots=True)
class AppState:
    """Per-app state, created in the lifespan; ``policy`` may be swapped on reload."""

    settings: Settings
    keys: Keys
    redis: AsyncClient
    reader: ViewReader
    policy: Policy
    clock_ms: Callable[[], int]
