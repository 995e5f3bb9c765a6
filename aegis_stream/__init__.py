"""aegis-stream: the governance dashboard API for AI agents, as a streaming aggregator."""

__version__ = "0.1.0"
