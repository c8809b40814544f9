"""What a connection costs a node, whatever its peer does.

* Write flow control: a peer that does not read our answers stops being read.
  Before, every request it sent was answered into the transport's buffer: a client
  that sent 20 000 small calls and read nothing grew the server by its whole answer
  volume (30 MB here; without bound for a longer flood), and the event loop spent
  its time moving that backlog.
* Idle connections share their channel's receive buffer.
"""

from __future__ import annotations

import asyncio
import socket
import time

from ringpop.tchannel import Channel, Request, Response
from ringpop.tchannel.connection import WRITE_HIGH_WATER
from ringpop.tchannel.core import ConnectionCore
from ringpop.tchannel.events import CallAnswered

CALLS = 20_000
ANSWER = b"a" * 1500


async def _until(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_a_peer_that_does_not_read_is_not_read_until_it_does() -> None:
    server = Channel("127.0.0.1:0")

    def answer(request: Request) -> Response:
        return Response(b"", ANSWER)

    server.register("svc", "/a", answer)
    await server.listen()
    host, port = server.host_port.split(":")
    loop = asyncio.get_running_loop()
    client = ConnectionCore(initiator=True, init_headers={"host_port": "0.0.0.0:0"})
    client.start()
    sock = socket.create_connection((host, int(port)))
    sock.setblocking(False)
    sending: asyncio.Future[None] | None = None
    try:
        await loop.sock_sendall(sock, b"".join(client.outbox))
        client.outbox.clear()
        client.receive(await loop.sock_recv(sock, 65536))
        assert client.ready
        requests = b"".join(
            client.send_request(i, 1e12, 30.0, "svc", b"/a", b"", b"", 1)[1] for i in range(CALLS)
        )
        sending = asyncio.ensure_future(loop.sock_sendall(sock, requests))
        await _until(lambda: any(c.reading_paused for c in server._connections))
        (connection,) = server._connections
        transport = connection.transport
        assert transport is not None
        await asyncio.sleep(0.3)  # still paused, and the backlog stays bounded
        assert connection.reading_paused
        assert transport.get_write_buffer_size() <= WRITE_HIGH_WATER + 2 * 1024 * 1024  # not 30 MB

        answered: list[int] = []

        async def read() -> None:
            while len(answered) < CALLS:
                data = await loop.sock_recv(sock, 1 << 20)
                assert data, "server closed the connection"
                for event in client.receive(data):
                    if isinstance(event, CallAnswered):
                        assert event.response is not None
                        assert event.response.arg3 == ANSWER
                        answered.append(event.tag)

        await asyncio.wait_for(asyncio.gather(sending, read()), 30)
        assert answered == list(range(CALLS))  # every call answered, none lost
        assert not connection.reading_paused
    finally:
        if sending is not None:
            sending.cancel()
        sock.close()
        await server.close()


async def test_idle_connections_do_not_each_hold_a_receive_buffer() -> None:
    """Each connection allocated its own 64 KiB receive buffer: 5 000 connections
    that only did the handshake held 345 MB of a node."""
    import tracemalloc

    server = Channel("127.0.0.1:0")
    server.register("svc", "/a", lambda request: Response(b"", request.arg3))
    await server.listen()
    host, port = server.host_port.split(":")
    loop = asyncio.get_running_loop()
    socks: list[socket.socket] = []
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(300):
            client = ConnectionCore(initiator=True, init_headers={"host_port": "0.0.0.0:0"})
            client.start()
            sock = socket.socket()
            sock.setblocking(False)
            socks.append(sock)
            await loop.sock_connect(sock, (host, int(port)))
            await loop.sock_sendall(sock, b"".join(client.outbox))
            client.receive(await loop.sock_recv(sock, 4096))
            assert client.ready
        await _until(lambda: len(server._connections) == 300)
        grown = tracemalloc.get_traced_memory()[0] - before
        assert grown < 300 * 16 * 1024, grown  # was 300 * 64 KiB and more
    finally:
        tracemalloc.stop()
        for sock in socks:
            sock.close()
        await server.close()
