"""Views: read-only access to what the projector maintains."""

from aegis_stream.views.profiles import AgentProfile
from aegis_stream.views.reader import Activity, Aggregates, PartitionStatus, ViewReader

__all__ = ["Activity", "AgentProfile", "Aggregates", "PartitionStatus", "ViewReader"]
