"""What a connection costs a node, whatever its peer does.

* Write flow control: a peer that does not read our answers stops being read.
  Before, every request it sent was answered into the transport's buffer: a client
  that sent 20 000 small calls and read nothing grew the server by its whole answer
  volume (30 MB here; without bound for a longer flood), and the event loop spent
  its time moving that backlog.
* Idle connections share their channel's receive buffer.
* Unfinished (fragmented) messages are bounded over all of a channel's connections,
  not only per connection: before, a client that opened connections and sent every
  message but its last frame held 64 MiB of the node per connection (10 of them: 768
  MB of RSS); now a message that would pass the channel's budget is refused ``busy``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

from ringpop.tchannel import Channel, Request, Response
from ringpop.tchannel.connection import WRITE_HIGH_WATER
from ringpop.tchannel.core import ConnectionCore
from ringpop.tchannel.errors import BusyError
from ringpop.tchannel.events import CallAnswered, CallFailed

CALLS = 20_000
ANSWER = b"a" * 1500


async def _until(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def _handshaken(host: str, port: int) -> tuple[ConnectionCore, socket.socket]:
    """A raw client connection to ``host:port`` whose TChannel handshake is done."""
    loop = asyncio.get_running_loop()
    core = ConnectionCore(initiator=True, init_headers={"host_port": "0.0.0.0:0"})
    core.start()
    sock = socket.create_connection((host, port))
    sock.setblocking(False)
    try:
        await loop.sock_sendall(sock, b"".join(core.outbox))
        core.outbox.clear()
        core.receive(await loop.sock_recv(sock, 65536))
    except BaseException:
        sock.close()
        raise
    assert core.ready
    return core, sock


async def test_a_peer_that_does_not_read_is_not_read_until_it_does() -> None:
    server = Channel("127.0.0.1:0")

    def answer(request: Request) -> Response:
        return Response(b"", ANSWER)

    server.register("svc", "/a", answer)
    await server.listen()
    host, port = server.host_port.split(":")
    loop = asyncio.get_running_loop()
    client, sock = await _handshaken(host, int(port))
    sending: asyncio.Future[None] | None = None
    try:
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


def _frames_of(data: bytes) -> list[bytes]:
    """Encoded frames, cut at their 2-byte size prefixes."""
    frames = []
    while data:
        size = int.from_bytes(data[:2], "big")
        frames.append(data[:size])
        data = data[size:]
    return frames


async def test_unfinished_messages_are_bounded_over_all_connections() -> None:
    # 1 MiB messages: 4 MiB of unfinished ones per connection, 8 MiB over the channel
    server = Channel("127.0.0.1:0", max_arg_size=1 << 20)

    def echo(request: Request) -> Response:
        return Response(b"", request.arg3)

    server.register("svc", "/a", echo)
    await server.listen()
    host, port = server.host_port.split(":")
    loop = asyncio.get_running_loop()
    budget = server.receive_budget
    assert budget.limit == 8 << 20
    socks: list[socket.socket] = []
    refused: list[object] = []
    try:
        for _ in range(4):  # each sends three messages but their last frames
            core, sock = await _handshaken(host, int(port))
            socks.append(sock)
            for i in range(3):
                _, data = core.send_request(i, 1e12, 30.0, "svc", b"/a", b"", b"z" * 1_000_000, 1)
                await loop.sock_sendall(sock, b"".join(_frames_of(data)[:-1]))
            await asyncio.sleep(0.2)
            with contextlib.suppress(BlockingIOError):
                for event in core.receive(sock.recv(65536)):
                    if isinstance(event, CallFailed):
                        refused.append(event.error)
        assert budget.held <= budget.limit
        assert budget.held > 6 << 20  # most of the budget is in use
        assert budget.refused >= 4  # 12 MB asked for, at most 8 MiB held
        assert refused
        assert all(isinstance(error, BusyError) for error in refused)
        # messages in one frame are never refused: the node still answers small calls
        client = Channel("127.0.0.1:0")
        try:
            answer = await client.call(server.host_port, "svc", "/a", b"", b"ping", timeout=5.0)
            assert answer.arg3 == b"ping"
            for sock in socks:  # connections that go give their bytes back
                sock.close()
            socks.clear()
            await _until(lambda: budget.held == 0)
            body = b"y" * 900_000  # fragmented: needs the budget, which is free again
            answer = await client.call(server.host_port, "svc", "/a", b"", body, timeout=5.0)
            assert answer.arg3 == body
        finally:
            await client.close()
    finally:
        for sock in socks:
            sock.close()
        await server.close()


async def test_an_unfinished_request_is_dropped_when_its_ttl_ends() -> None:
    """A peer stopped in the middle of a request held its frames (and the channel's
    budget) until its connection closed; now until the request's ttl."""
    server = Channel("127.0.0.1:0")
    server.register("svc", "/a", lambda request: Response(b"", b"ok"))
    await server.listen()
    host, port = server.host_port.split(":")
    loop = asyncio.get_running_loop()
    core, sock = await _handshaken(host, int(port))
    try:
        _, data = core.send_request("t", 1e12, 0.3, "svc", b"/a", b"", b"z" * 500_000, 1)
        await loop.sock_sendall(sock, b"".join(_frames_of(data)[:-1]))
        budget = server.receive_budget
        await _until(lambda: budget.held > 400_000)
        events = core.receive(await asyncio.wait_for(loop.sock_recv(sock, 65536), 5.0))
        assert budget.held == 0  # dropped once its 0.3 s ttl ended
        [failed] = events
        assert isinstance(failed, CallFailed)
        assert "ttl" in str(failed.error)
    finally:
        sock.close()
        await server.close()
