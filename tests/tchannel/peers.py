"""Test peers for the real-TCP tests: a hand-driven TChannel peer and a local black hole.

:class:`RawPeer` speaks TChannel through the sans-IO core over a plain asyncio
stream, so a test can send exactly the frames it wants (silence, garbage,
chosen ttl) and read exactly what comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

from ringpop.tchannel.frames import (
    Frame,
    FrameReader,
    InitRequest,
    encode_frame,
)

IO_TIMEOUT = 5.0


class RawPeer:
    """A TCP connection to a channel, driven frame by frame."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._frames = FrameReader()

    @classmethod
    async def connect(cls, host_port: str) -> RawPeer:
        """Open a TCP connection (no handshake yet)."""
        host, port = host_port.split(":")
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, int(port)), IO_TIMEOUT
        )
        return cls(reader, writer)

    async def handshake(self, host_port: str = "0.0.0.0:0") -> Frame:
        """Send an init request; return the init response."""
        await self.send(
            encode_frame(InitRequest(1, {"host_port": host_port, "process_name": "raw"}))
        )
        return await self.read_frame()

    async def send(self, data: bytes) -> None:
        """Write raw bytes."""
        self.writer.write(data)
        await self.writer.drain()

    async def read_frame(self, timeout: float = IO_TIMEOUT) -> Frame:
        """The next frame from the channel (raises ``EOFError`` at end of stream)."""
        async with asyncio.timeout(timeout):
            while True:
                frame = self._frames.next_frame()
                if frame is not None:
                    return frame
                data = await self.reader.read(65536)
                if not data:
                    raise EOFError("connection closed by the channel")
                self._frames.feed(data)

    async def wait_closed_by_peer(self, timeout: float = IO_TIMEOUT) -> list[Frame]:
        """Read until EOF; the frames received meanwhile."""
        frames = []
        with contextlib.suppress(EOFError, ConnectionResetError):
            while True:
                frames.append(await self.read_frame(timeout))
        return frames

    async def close(self) -> None:
        """Close our side."""
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


@contextlib.contextmanager
def black_hole() -> Iterator[str]:
    """A 127.0.0.1 address whose TCP connects hang (full accept queue, SYNs dropped).

    Stands in for an unroutable address without sending packets off the machine.
    """
    listener = socket.socket()
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        yield f"127.0.0.1:{port}"
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def free_port() -> int:
    """A port nothing listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
