"""Projection: pure functions from decoded events to view increments."""

from aegis_stream.project.batch import BatchDelta, aggregate
from aegis_stream.project.projection import DIMENSIONS, Increments, project

__all__ = ["DIMENSIONS", "BatchDelta", "Increments", "aggregate", "project"]
