"""``GET /metrics``: pipeline health in the Prometheus text exposition format.

The handler reads the views in the request's event loop (the same bounded
reads as ``system/health``), then renders a fresh ``CollectorRegistry`` whose
only collector serves those already-read values. Nothing is registered in
``prometheus_client``'s global registry, so apps never share metrics.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aegis_stream.api.state import app_state
from aegis_stream.views import PartitionStatus

NAMESPACE = "aegis_stream"


class PipelineCollector(Collector):
    """Serves one snapshot of the views: per-partition pipeline health and the audit total."""

    def __init__(self, partitions: Sequence[PartitionStatus], audit_events: int) -> None:
        self._partitions = tuple(partitions)
        self._audit_events = audit_events

    def collect(self) -> Iterable[Metric]:
        """The metric families of the snapshot (a partition's unknown lag or last apply is omitted)."""
        label = ["partition"]
        length = GaugeMetricFamily(
            f"{NAMESPACE}_stream_length", "Entries in the partition's event stream.", labels=label
        )
        pending = GaugeMetricFamily(
            f"{NAMESPACE}_pending_entries",
            "Entries delivered to the projector group but not yet acknowledged.",
            labels=label,
        )
        lag = GaugeMetricFamily(
            f"{NAMESPACE}_lag_entries",
            "Entries not yet delivered to the projector group (absent when the server cannot tell).",
            labels=label,
        )
        oldest = GaugeMetricFamily(
            f"{NAMESPACE}_oldest_pending_age_seconds",
            "Age of the oldest pending entry, from its stream id (0 when nothing is pending).",
            labels=label,
        )
        applied = CounterMetricFamily(
            f"{NAMESPACE}_applied_events", "Events applied to the views.", labels=label
        )
        dead = CounterMetricFamily(
            f"{NAMESPACE}_dead_letters", "Entries moved to the dead-letter stream.", labels=label
        )
        late = CounterMetricFamily(
            f"{NAMESPACE}_late_events",
            "Events too old for any timeline (counted in the totals only).",
            labels=label,
        )
        duplicates = CounterMetricFamily(
            f"{NAMESPACE}_duplicate_events",
            "Events dropped as retries of an event_id seen within the window.",
            labels=label,
        )
        last = GaugeMetricFamily(
            f"{NAMESPACE}_last_applied_timestamp_seconds",
            "Unix time of the partition's last applied batch (absent before the first).",
            labels=label,
        )
        for s in self._partitions:
            p = [str(s.partition)]
            length.add_metric(p, s.length)
            pending.add_metric(p, s.pending)
            if s.lag is not None:
                lag.add_metric(p, s.lag)
            oldest.add_metric(p, (s.oldest_pending_age_ms or 0) / 1000)
            applied.add_metric(p, s.applied_events)
            dead.add_metric(p, s.dead_letters)
            late.add_metric(p, s.late_events)
            duplicates.add_metric(p, s.duplicates)
            if s.last_applied_ms is not None:
                last.add_metric(p, s.last_applied_ms / 1000)
        audit = CounterMetricFamily(f"{NAMESPACE}_audit_events", "Audit events counted in the views.")
        audit.add_metric([], self._audit_events)
        return [length, pending, lag, oldest, applied, dead, late, duplicates, last, audit]


def render(partitions: Sequence[PartitionStatus], audit_events: int) -> bytes:
    """The text exposition of one snapshot, through a registry of its own."""
    registry = CollectorRegistry()
    registry.register(PipelineCollector(partitions, audit_events))
    return generate_latest(registry)


async def metrics(request: Request) -> Response:
    """Prometheus scrape: bounded view reads, then rendering (no I/O while rendering)."""
    state = app_state(request)
    partitions = await state.reader.pipeline_status(now_ms=state.now_ms())
    agg = await state.reader.aggregates(dims=())
    return Response(render(partitions, agg.total), media_type=CONTENT_TYPE_LATEST)


ROUTE = Route("/metrics", metrics)
