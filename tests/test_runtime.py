"""The API's listening socket."""

from __future__ import annotations

import asyncio
import socket

from aegis_stream.runtime import listen_socket


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
