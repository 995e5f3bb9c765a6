"""Views: read-only access to what the projector maintains."""

from aegis_stream.views.profiles import AgentProfile
from aegis_stream.views.reader import Aggregates, PartitionStatus, ViewReader

__all__ = ["AgentProfile", "Aggregates", "PartitionStatus", "ViewReader"]
