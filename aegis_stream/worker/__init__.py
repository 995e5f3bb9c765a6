"""The projector worker: consumer group in, fenced batches out."""

from aegis_stream.worker.projector import PartitionProjector
from aegis_stream.worker.runner import Worker

__all__ = ["PartitionProjector", "Worker"]
