"""Apply: the one writer of the views (a fenced Lua script per batch)."""

from aegis_stream.apply.writer import ApplyResult, Writer
from aegis_stream.project.prepare import DeadLetter

__all__ = ["ApplyResult", "DeadLetter", "Writer"]
