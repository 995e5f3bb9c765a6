"""The projector worker: consumer group in, fenced batches out."""

from aegis_stream.worker.projector import PartitionProjector, Worker

__all__ = ["PartitionProjector", "Worker"]
