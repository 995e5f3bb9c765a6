"""What the handlers share: the reader, the policy and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from aegis_stream.keys import Keys
from aegis_stream.policy import Policy
from aegis_stream.settings import Settings
from aegis_stream.signing import Signer, signer_for
from aegis_stream.store import AsyncClient
from aegis_stream.views import ViewReader

if TYPE_CHECKING:
    from aegis_stream.api.live import LiveHub
    from aegis_stream.api.policy_watch import PolicyWatcher


@dataclass(slots=True)
class AppState:
    """Per-app state, created in the lifespan; ``policy`` may be swapped on reload."""

    settings: Settings
    keys: Keys
    redis: AsyncClient
    reader: ViewReader
    policy: Policy
    clock_us: Callable[[], int]
    policy_watcher: PolicyWatcher | None = None
    live: LiveHub | None = None  # the live stream's shared reader, made by its first subscriber
    # profile stamp -> its JSON in anomalies/profiles, for the agents of the last request
    rendered_profiles: dict[tuple[Any, ...], bytes] = field(default_factory=dict)
    signer: Signer | None = None  # tags what the ingest endpoint appends (AEGIS_SIGNING_KEY)

    def __post_init__(self) -> None:
        self.signer = signer_for(self.settings.signing_key)

    def now_ms(self) -> int:
        """The injected clock, in milliseconds."""
        return self.clock_us() // 1000


def app_state(request: Request) -> AppState:
    """The state the lifespan put on the app serving ``request``."""
    state: AppState = request.app.state.aegis
    return state
