"""A TCP relay that can go silent: a network partition without namespaces.

``SilentRelay`` listens on 127.0.0.1 and forwards every connection to one target.
While a flow is *blocked* it keeps reading, but holds what it reads instead of
forwarding it, and closes nothing: to both ends the network has gone quiet, as
with packets dropped by a firewall. Held bytes stand for the sender's unacknowledged
TCP send queue, and the relay treats them as TCP would when the network returns:

* the sender is still connected, or closed normally (FIN): the held bytes are
  delivered, late, all at once (then the FIN) - the stale burst;
* the sender reset the connection (a close with zero linger, RST): its kernel has
  discarded the queue, so the held bytes are dropped and the other end is reset.

Which flows are blocked is asked per flow: ``blocked(source, target)``, where
``source`` is the ``host_port`` the initiator advertised in its TChannel init
request (``""`` until it has been read) and ``target`` the relay's ``name``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable

from ringpop.tchannel.frames import InitRequest, decode_frame

__all__ = ["SilentRelay"]

Blocked = Callable[[str, str], bool]


def _never(source: str, target: str) -> bool:
    return False


def _advertised_host_port(data: bytes) -> str | None:
    """The ``host_port`` of the TChannel init request at the start of ``data``
    (``None``: not all of it yet; ``""``: it has none)."""
    if len(data) < 16:
        return None
    size, frame_type, _, frame_id = struct.unpack_from(">HBBI", data, 0)
    if len(data) < size:
        return None
    frame = decode_frame(frame_type, frame_id, data[16:size])
    return frame.headers.get("host_port", "") if isinstance(frame, InitRequest) else ""


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close ``writer``'s connection with a RST (nothing queued is delivered)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError, ValueError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Half:
    """One direction of a relayed connection."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer  # where the bytes go
        self.held: list[bytes] = []
        self.ended: str = ""  # "", "eof" or "reset": how the sending side finished


class _Flow:
    """One relayed connection: client -> target and back."""

    def __init__(self, relay: SilentRelay, up: _Half, down: _Half) -> None:
        self.relay = relay
        self.source = ""
        self.up = up  # client -> target
        self.down = down  # target -> client
        self.done = False

    @property
    def blocked(self) -> bool:
        return self.relay.blocked(self.source, self.relay.name)

    def deliver(self, half: _Half) -> None:
        """Pass on what ``half`` holds, if the flow is open."""
        if self.done or self.blocked:
            return
        if half.held:
            data = b"".join(half.held)
            half.held.clear()
            with contextlib.suppress(ConnectionError, RuntimeError):
                half.writer.write(data)
        if half.ended == "eof":
            with contextlib.suppress(OSError, RuntimeError):
                half.writer.write_eof()
        elif half.ended == "reset":
            self.close(reset=True)

    def close(self, *, reset: bool) -> None:
        if self.done:
            return
        self.done = True
        for half in (self.up, self.down):
            half.held.clear()
            if reset:
                _reset(half.writer)
            else:
                half.writer.close()


class SilentRelay:
    """Forward 127.0.0.1:<port> to ``target``; go silent for blocked flows."""

    def __init__(self, target: tuple[str, int], *, name: str = "") -> None:
        self.target = target
        self.name = name
        self.blocked: Blocked = _never
        self.port = 0
        self._server: asyncio.Server | None = None
        self._flows: set[_Flow] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        #: Bytes dropped because their sender reset the connection while blocked.
        self.dropped = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> str:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.address

    def set_blocked(self, blocked: Blocked) -> None:
        """Change which flows are silent; flows no longer blocked deliver what they held."""
        self.blocked = blocked
        for flow in list(self._flows):
            flow.deliver(flow.up)
            flow.deliver(flow.down)

    def partition(self) -> None:
        """Every flow goes silent."""
        self.set_blocked(lambda source, target: True)

    def heal(self) -> None:
        """Every flow delivers again."""
        self.set_blocked(_never)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for flow in list(self._flows):
            flow.close(reset=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(*self.target), timeout=2.0
            )
        except (OSError, TimeoutError):
            _reset(writer)
            return
        flow = _Flow(self, _Half(up_writer), _Half(writer))
        self._flows.add(flow)
        pumps = [
            asyncio.create_task(self._pump(flow, reader, flow.up, initiator=True)),
            asyncio.create_task(self._pump(flow, up_reader, flow.down, initiator=False)),
        ]
        for task in pumps:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        await asyncio.gather(*pumps, return_exceptions=True)
        self._flows.discard(flow)

    async def _pump(
        self, flow: _Flow, reader: asyncio.StreamReader, half: _Half, *, initiator: bool
    ) -> None:
        first = b""
        while not flow.done:
            try:
                data = await reader.read(65536)
            except (ConnectionError, OSError):
                half.ended = "reset"
            else:
                if not data:
                    half.ended = "eof"
                elif initiator and not flow.source:
                    first += data
                    source = _advertised_host_port(first)
                    if source is not None:
                        flow.source = source or "?"
                        data, first = first, b""
                    else:
                        continue
            if half.ended and flow.blocked:
                if half.ended == "reset":
                    # The sender's TCP discarded its queue: nothing held is ever delivered.
                    self.dropped += sum(map(len, half.held))
                    half.held.clear()
                return  # delivered (or reset) when the flow unblocks
            if half.ended:
                flow.deliver(half)
                if half.ended == "reset":
                    flow.close(reset=True)
                return
            half.held.append(data)
            flow.deliver(half)
