"""Process-wide logging: plain text (the default) or one JSON object per line (``AEGIS_LOG_FORMAT``).

Every logger goes through the one handler set up here, uvicorn's included
(the API starts uvicorn without a logging config of its own). JSON lines carry
``ts`` (ISO 8601, UTC, milliseconds), ``level``, ``logger`` and ``message``,
then the record's extras (``request_id`` on the API, ``partition`` in the
worker, ...), and ``exc_info`` as text when there is an exception. In either
format, a password in a URL (``redis://user:secret@host``) is masked by
:func:`redact`, which the CLI uses too: settings and tokens are never logged.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from aegis_stream.api.requestid import RequestIdFilter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# What every LogRecord has: anything else on a record is an extra worth showing.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's copy of the message with terminal colours
}
# A URL's scheme and authority (up to the path, query, fragment or a space).
_URL_AUTHORITY = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)([^\s/?#]*)")


def _mask(match: re.Match[str]) -> str:
    scheme, authority = match.groups()
    # as the URL parsers do: the host follows the last "@", the password the first ":"
    userinfo, at, host = authority.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    return f"{scheme}{user}:***@{host}" if at and colon else match.group(0)


def redact(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***`` (an ``@`` in it included)."""
    return _URL_AUTHORITY.sub(_mask, text)


def _plain(value: Any) -> Any:
    """A JSON-ready version of an extra's value (anything unusual becomes its ``str``)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line: base keys, extras, then ``exc_info``/``stack_info`` as text."""
        when = datetime.fromtimestamp(record.created, UTC)
        out: dict[str, Any] = {
            "ts": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in out:
                out[key] = _plain(value)
        if record.exc_info:
            record.exc_text = record.exc_text or self.formatException(record.exc_info)
        if record.exc_text:
            out["exc_info"] = redact(record.exc_text)
        if record.stack_info:
            out["stack_info"] = redact(self.formatStack(record.stack_info))
        return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    """The plain format, with the request id (if any) after the message, and passwords masked."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        """The record as text: ``time LEVEL logger: message [request id]``."""
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        if request_id:
            head, sep, tail = line.partition("\n")  # after the message, before any traceback
            line = f"{head} [{request_id}]{sep}{tail}"
        return redact(line)


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when a record arrives (tests swap it)."""

    def __init__(self, stream: TextIO | None) -> None:
        super().__init__(stream or sys.stderr)
        self._fixed = stream is not None

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record to the current stderr (or the fixed stream)."""
        if not self._fixed:
            self.stream = sys.stderr
        super().emit(record)


def formatter(fmt: str) -> logging.Formatter:
    """The formatter for ``AEGIS_LOG_FORMAT`` (``text`` or ``json``, any case)."""
    return JsonFormatter() if fmt.lower() == "json" else TextFormatter()


def configure(level: str, fmt: str, *, stream: TextIO | None = None, force: bool = False) -> None:
    """Route every logger through one handler in ``fmt``, at ``level``.

    Like :func:`logging.basicConfig`, this leaves alone a program (or test run)
    that has configured logging already, unless ``force``; it replaces the
    handler of an earlier call. ``stream`` defaults to the current stderr.
    """
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, _StderrHandler)]
    others = [h for h in root.handlers if not isinstance(h, _StderrHandler)]
    if others and not force:
        return
    for old in ours + (others if force else []):
        root.removeHandler(old)
    handler = _StderrHandler(stream)
    handler.setFormatter(formatter(fmt))
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
