"""The API's listening socket; imports that the store cuts off."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from aegis_stream.errors import StoreError
from aegis_stream.producer import AsyncProducer
from aegis_stream.runtime import import_events, listen_socket
from aegis_stream.settings import Settings
from tests.conftest import event_dict


async def test_accepted_connections_have_nagle_off() -> None:
    """asyncio turns TCP_NODELAY on only for TCP-protocol sockets; without it keep-alive stalls ~40 ms."""
    sock = listen_socket("127.0.0.1", 0)
    seen: list[int] = []

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = writer.get_extra_info("socket")
        seen.append(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(accepted, sock=sock)
    try:
        port = sock.getsockname()[1]
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        async with asyncio.timeout(5):
            while not seen:
                await asyncio.sleep(0.01)
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
    assert seen and seen[0] != 0


async def test_an_import_cut_off_by_the_store_says_how_far_it_got(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(event_dict(action_type=f"t{i}")) + "\n" for i in range(25)))
    real = AsyncProducer.emit_each
    calls = 0

    async def failing_third(self: AsyncProducer, events: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise StoreError("could not append events: Connection closed by server.")
        return await real(self, events)

    monkeypatch.setattr(AsyncProducer, "emit_each", failing_third)
    with pytest.raises(StoreError) as e:
        await import_events(settings, path, batch=10)
    assert str(e.value) == (
        "could not append events: Connection closed by server. (20 events were appended before it, "
        "from the records before record 21; records 21 to 25 may be partly appended)"
    )
