"""Apply: the one writer of the views (a fenced Lua script per batch)."""

from aegis_stream.apply.writer import ApplyResult, DeadLetter, Writer

__all__ = ["ApplyResult", "DeadLetter", "Writer"]
