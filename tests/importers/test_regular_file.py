"""Only regular files are imported: a pipe, a device or a directory is refused before it is read.

Detection and a spread read the input more than once, so a pipe (``<(cat x)``,
``/dev/stdin``) would silently lose its start and import nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aegis_stream.errors import ImportFailed
from aegis_stream.events import AuditEvent
from aegis_stream.importers import detect_format, load_conversations, read_events, read_jsonl, read_sqlite
from aegis_stream.policy import Policy
from tests.importers.conftest import NOW_US, make_db, reference_row

EVENT = {
    "session_id": "s",
    "timestamp": "2020-01-01T00:00:00Z",
    "action_type": "read",
    "action_target": "t",
    "risk_level": "LOW",
    "approval": "auto",
}
HINT = "not a regular file (a pipe, device or directory); save the input to a file and import that"


@pytest.fixture
def pipe() -> Iterator[str]:
    """A path naming the read end of a pipe that holds two JSONL events, as ``<(cat x)`` gives."""
    read_fd, write_fd = os.pipe()
    os.write(write_fd, (json.dumps(EVENT) + "\n" + json.dumps(EVENT) + "\n").encode())
    os.close(write_fd)
    try:
        yield f"/dev/fd/{read_fd}"
    finally:
        os.close(read_fd)


def unread(path: str) -> bytes:
    """What is still in the pipe behind ``path``: the refusal must not have consumed any of it."""
    fd = int(path.rsplit("/", 1)[1])
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 1 << 16)
    except BlockingIOError:
        return b""


READERS: dict[str, Callable[[str], Any]] = {
    "read_events": lambda p: list(read_events(p, now_us=NOW_US)),
    "read_events jsonl": lambda p: list(read_events(p, fmt="jsonl", now_us=NOW_US)),
    "read_events sqlite": lambda p: list(read_events(p, fmt="sqlite", now_us=NOW_US)),
    "read_events spread": lambda p: list(read_events(p, spread_us=10**6, now_us=NOW_US)),
    "detect_format": detect_format,
    "read_jsonl": lambda p: list(read_jsonl(p)),
    "read_sqlite": lambda p: list(read_sqlite(p)),
    "load_conversations": load_conversations,
}


@pytest.mark.parametrize("reader", READERS.values(), ids=READERS.keys())
def test_a_pipe_is_refused_before_it_is_read(pipe: str, reader: Callable[[str], Any]) -> None:
    with pytest.raises(ImportFailed) as info:
        reader(pipe)
    assert str(info.value) == f"{pipe}: {HINT}"
    assert unread(pipe) == (json.dumps(EVENT) + "\n" + json.dumps(EVENT) + "\n").encode()


def test_a_pipe_is_refused_for_transcripts_too(pipe: str, policy: Policy) -> None:
    with pytest.raises(ImportFailed) as info:
        read_events(pipe, fmt="transcripts", policy=policy, now_us=NOW_US)
    assert str(info.value) == f"{pipe}: {HINT}"


@pytest.mark.parametrize("reader", READERS.values(), ids=READERS.keys())
def test_a_directory_is_refused(tmp_path: Path, reader: Callable[[str], Any]) -> None:
    with pytest.raises(ImportFailed) as info:
        reader(str(tmp_path))
    assert str(info.value) == f"{tmp_path}: {HINT}"


def test_a_device_is_refused() -> None:
    with pytest.raises(ImportFailed) as info:
        list(read_events("/dev/null", now_us=NOW_US))
    assert str(info.value) == f"/dev/null: {HINT}"


def test_a_link_to_a_regular_file_is_imported(tmp_path: Path) -> None:
    target = tmp_path / "events.jsonl"
    target.write_text(json.dumps(EVENT) + "\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    assert [e.session_id for e in read_events(link, now_us=NOW_US) if isinstance(e, AuditEvent)] == ["s"]
    db = make_db(tmp_path / "audit.db", [reference_row()])
    db_link = tmp_path / "audit-link.db"
    db_link.symlink_to(db)
    assert len(list(read_events(db_link, now_us=NOW_US))) == 1


def test_a_missing_file_still_says_so(tmp_path: Path) -> None:
    with pytest.raises(ImportFailed) as info:
        list(read_events(tmp_path / "nope.jsonl", now_us=NOW_US))
    assert str(info.value) == f"{tmp_path / 'nope.jsonl'}: cannot read: No such file or directory"
    assert isinstance(info.value.__cause__, FileNotFoundError)
