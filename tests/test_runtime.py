"""The API's listening socket, and the worker's process tuning."""

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


def test_tuning_for_batches_collects_young_garbage_less_often_and_leaves_start_up_objects_out() -> None:
    import gc

    from aegis_stream.runtime import GC_GEN0_THRESHOLD, tune_for_batches

    before = gc.get_threshold()
    try:
        tune_for_batches()
        assert gc.get_threshold() == (max(before[0], GC_GEN0_THRESHOLD), before[1], before[2])
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
