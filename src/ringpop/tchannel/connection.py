"""One TChannel connection on asyncio: drives a :class:`ConnectionCore` over a transport.

The core does the protocol both ways (encoding, parsing, ids, the table of our
outstanding calls and their deadlines); this driver moves bytes, keeps one timer
for the core's next deadline, resolves the futures of our calls and runs
handlers for the peer's calls. Writes made while processing received bytes, and
writes from handlers finishing in the same loop iteration, are coalesced into
one ``transport.write``.

A peer that does not read our writes stops being read (write flow control).

(Just over 400 lines: the asyncio protocol callbacks, the write coalescing, the flow
control and the deadline timer share one connection's state; the rest already lives
in the core.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from typing import Any, cast

from ringpop.tchannel.api import Response
from ringpop.tchannel.core import ConnectionCore
from ringpop.tchannel.deadlines import Deadlines
from ringpop.tchannel.errors import CallTimeoutError, NetworkError, ProtocolError, TChannelError
from ringpop.tchannel.events import (
    CallAnswered,
    CallExpired,
    CallFailed,
    HandshakeComplete,
    ProtocolFailure,
)
from ringpop.tchannel.fragments import CompleteMessage
from ringpop.tchannel.frames import Cancel
from ringpop.tchannel.hostport import EPHEMERAL
from ringpop.tchannel.serving import ConnectionHost, Serving

__all__ = ["Connection", "ConnectionHost", "receive_buffer"]

log = logging.getLogger("ringpop.tchannel")


def _copy_error(error: TChannelError) -> TChannelError:
    """A fresh exception per failed call (one instance must not be raised twice)."""
    try:
        return type(error)(error.message)
    except TypeError:  # pragma: no cover - subclasses with other signatures
        return error


_RECEIVE_BUFFER = 64 * 1024


def receive_buffer() -> memoryview:
    """A buffer for the loop to read into, shared by one channel's connections.

    Safe to share: each read is handed to its connection's core, which copies it,
    before the loop makes the next read. One buffer per connection made every idle
    connection cost 64 KiB (5 000 connections that only did the handshake held
    345 MB).
    """
    return memoryview(bytearray(_RECEIVE_BUFFER))


WRITE_HIGH_WATER = 4 * 1024 * 1024
"""Bytes of unsent answers and calls above which we stop reading the peer's requests
until they drain below a quarter of it: a peer that does not read cannot grow our
memory (nor the loop's cost of moving the backlog) without bound. Two handoff pages
in flight stay below it."""


def _discard_unsent(transport: asyncio.BaseTransport) -> None:
    """Make closing ``transport``'s socket drop its send queue (SO_LINGER 0: a reset)."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # A socket already closed (uvloop: "negative file descriptor") has nothing to drop.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class Connection(Serving, asyncio.BufferedProtocol):
    """A TChannel connection; created by :class:`~ringpop.tchannel.Channel`.

    A buffered protocol: the loop reads into one reusable buffer instead of
    allocating a fresh ``bytes`` of its maximum read size (256 KiB on the default
    asyncio loop) for every read, which cost more than the rest of a small call.
    """

    def __init__(self, host: ConnectionHost, *, initiator: bool, peer: str = "") -> None:
        self._host = host
        options = host.options
        self._options = options
        self.initiator = initiator
        self.core = ConnectionCore(
            initiator=initiator,
            init_headers=host.init_headers(),
            max_arg_size=options.max_arg_size,
            max_buffered=options.max_buffered,
            stale_period=options.stale_period,
            budget=host.receive_budget,
        )
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        #: The peer's identity: its advertised host_port (or the dialled address).
        self.peer = peer
        #: The peer's socket address ``ip:port``.
        self.socket_peer = ""
        self.ready: asyncio.Future[None] = self._loop.create_future()
        self.closed = False
        self._close_error: TChannelError | None = None
        self._inbound: dict[int, asyncio.Task[None]] = {}
        self._cancel_reasons: dict[int, tuple[int, str]] = {}
        self._wbuf: list[bytes] = []
        self._flush_scheduled = False
        self._receiving = False
        self._init_timer: asyncio.TimerHandle | None = None
        self._timer: asyncio.TimerHandle | None = None  # at the core's next deadline
        self._timer_at = 0.0
        self._serve_deadlines = Deadlines(self._loop, self._handler_expired)
        #: Handshake done and not closed: calls can be sent.
        self.usable = False
        self.lost: asyncio.Future[None] = self._loop.create_future()
        self._rbuf = host.receive_buffer
        #: Closed because calls timed out and the peer sent nothing (see ``stale.py``).
        self.stale = False
        #: Reading stopped until our unsent bytes drain (:meth:`pause_writing`).
        self.reading_paused = False

    # ---------------------------------------------------- asyncio.BufferedProtocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the handshake (initiator) or wait for it (acceptor)."""
        # uvloop's transports implement the interface without subclassing it
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport.set_write_buffer_limits(WRITE_HIGH_WATER, WRITE_HIGH_WATER // 4)
        peername = transport.get_extra_info("peername")
        if isinstance(peername, tuple) and len(peername) >= 2:
            self.socket_peer = f"{peername[0]}:{peername[1]}"
        if self.initiator:
            self.core.start()
            self._flush_outbox()
        self._init_timer = self._loop.call_later(self._options.init_timeout, self._init_expired)

    def get_buffer(self, sizehint: int) -> memoryview:
        """Where the loop puts the next bytes it reads."""
        return self._rbuf

    def buffer_updated(self, nbytes: int) -> None:
        """``nbytes`` were read into the buffer: the core takes them (it copies them
        before this returns: the buffer is reused by the next read)."""
        self.data_received(self._rbuf[:nbytes])

    def data_received(self, data: bytes | memoryview) -> None:
        """Feed received bytes to the core and act on the events."""
        if self.closed:  # a TLS transport may hand over bytes it read before our close
            return
        self._receiving = True
        try:
            for event in self.core.receive(data, self._loop.time()):
                kind = type(event)
                if kind is CallAnswered:
                    future = event.tag  # type: ignore[union-attr]
                    if not future.done():
                        future.set_result(event.response)  # type: ignore[union-attr]
                elif kind is CompleteMessage:
                    self._on_request(event)  # type: ignore[arg-type]
                elif kind is CallFailed:
                    future = event.tag  # type: ignore[union-attr]
                    if not future.done():
                        future.set_exception(event.error)  # type: ignore[union-attr]
                elif kind is Cancel:
                    self._on_cancel(event)  # type: ignore[arg-type]
                elif kind is HandshakeComplete:
                    self._on_handshake(event)  # type: ignore[arg-type]
                elif kind is ProtocolFailure:
                    self._fatal(ProtocolError(event.message))  # type: ignore[union-attr]
        finally:
            self._receiving = False
            self._flush_outbox()
        at = self.core.next_request_deadline()  # an unfinished request's ttl
        if at is not None and (self._timer is None or at < self._timer_at):
            self._arm(at)

    def pause_writing(self) -> None:
        """The peer reads slower than we write: read nothing more from it (no more
        requests to answer) until the backlog drains (:data:`WRITE_HIGH_WATER`)."""
        if self.transport is not None and not self.closed:
            self.reading_paused = True
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        """The backlog drained: read the peer again."""
        if self.reading_paused and self.transport is not None and not self.closed:
            self.reading_paused = False
            self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        """Fail everything still pending on this connection."""
        reason = self._close_error
        if reason is None:
            detail = f": {exc}" if exc else ""
            if self.initiator and not self.ready.done():
                # Refused before the TChannel handshake: most often a TLS mismatch.
                hint = (
                    "does the peer accept our client certificate?"
                    if self._options.tls is not None
                    else "does the peer require TLS?"
                )
                detail = f" before the handshake{detail} ({hint})"
            reason = NetworkError(f"connection to {self.peer or self.socket_peer} closed{detail}")
        self._shutdown(reason)
        if not self.lost.done():
            self.lost.set_result(None)

    # ----------------------------------------------------------------- state

    @property
    def is_ready(self) -> bool:
        """Handshake done and connection open."""
        return self.usable

    @property
    def in_flight(self) -> int:
        """Calls outstanding in either direction."""
        return len(self.core.calls) + len(self._inbound)

    def drain_waitables(self) -> list[asyncio.Future[Any]]:
        """Futures/tasks of in-flight calls (for graceful close)."""
        return [*self.core.calls.tags(), *self._inbound.values()]

    def close(self) -> None:
        """Flush and close (pending calls fail with ``NetworkError``)."""
        if self.transport is not None and not self.closed:
            self._flush()
            self.transport.close()
        self._shutdown(NetworkError(f"connection to {self.peer or self.socket_peer} closed"))

    def abort(self, error: TChannelError | None = None) -> None:
        """Drop the connection immediately, discarding everything not yet sent.

        Both the transport's buffer and the kernel's send queue are dropped (the
        socket is closed with a zero linger time, which resets the connection):
        with a plain close the kernel would keep retransmitting queued requests
        and deliver them whenever the network returns.
        """
        if error is not None and self._close_error is None:
            self._close_error = error
        if self.transport is not None:
            _discard_unsent(self.transport)
            self.transport.abort()
        self._shutdown(error or NetworkError("connection aborted"))

    # ---------------------------------------------------------------- calls out

    def start_call(
        self,
        service: str,
        arg1: bytes,
        arg2: bytes,
        arg3: bytes,
        checksum_type: int,
        timeout: float,
        scheme: str,
        caller: str,
        headers: dict[str, str] | None = None,
        tracing: bytes | None = None,
    ) -> tuple[int, asyncio.Future[Response]]:
        """Send a call request; its id and the future of its response.

        The arguments are :meth:`ConnectionCore.send_request`'s. The future
        fails with a :class:`TChannelError` on an error frame, after ``timeout``
        seconds, or when the connection goes. A caller that stops waiting must
        call :meth:`abandon_call`.
        """
        if self.closed:
            raise self._close_error or NetworkError("connection closed")
        future: asyncio.Future[Response] = self._loop.create_future()
        deadline = self._loop.time() + timeout
        fid, data = self.core.send_request(
            future,
            deadline,
            timeout,
            service,
            arg1,
            arg2,
            arg3,
            checksum_type,
            scheme,
            caller,
            headers,
            tracing,
        )
        self._write(data)
        if self._timer is None or deadline < self._timer_at:
            self._arm(deadline)
        return fid, future

    def abandon_call(self, fid: int, timeout: float) -> None:
        """The caller gave up on call ``fid`` (of ``timeout`` s): forget it, send a cancel."""
        cancel = self.core.send_cancel(fid, timeout)
        if cancel and not self.closed:
            self._write(cancel)

    async def ping(self, timeout: float) -> None:
        """Protocol-level ping (0xD0/0xD1) bounded by ``timeout`` seconds."""
        if self.closed:
            raise self._close_error or NetworkError("connection closed")
        future: asyncio.Future[None] = self._loop.create_future()
        deadline = self._loop.time() + timeout
        fid, data = self.core.send_ping(future, deadline)
        self._write(data)
        if self._timer is None or deadline < self._timer_at:
            self._arm(deadline)
        try:
            await future
        finally:
            self.core.drop_call(fid)

    def _arm(self, at: float) -> None:
        """Wake up at ``at`` (loop time) to let the core expire calls."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        self._timer = self._loop.call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        """A deadline came: fail the calls the core expired (and drop the peer's requests
        whose ttl ended before their last frame), or close a stale connection."""
        self._timer = None
        if self.closed:
            return
        events = self.core.expire(self._loop.time())
        self._flush_outbox()
        for event in events:
            if type(event) is CallExpired:
                future = event.tag
                if not future.done():
                    future.set_exception(
                        CallTimeoutError(f"no response from {self.peer} within the call timeout")
                    )
            else:
                self._go_stale(event.quiet)  # type: ignore[union-attr]
                return
        if self._timer is None:
            at = self.core.next_deadline()
            if at is not None:
                self._arm(at)

    def _go_stale(self, quiet: float) -> None:
        """Close a stale connection: calls fail now, nothing queued is ever sent."""
        peer = self.peer or self.socket_peer
        log.warning(
            "closing stale connection to %s: calls timed out and nothing was read for %.1f s",
            peer,
            quiet,
        )
        self.stale = True
        self.abort(
            NetworkError(
                f"connection to {peer} is stale (calls timed out, nothing read for {quiet:.1f} s)"
            )
        )

    # -------------------------------------------------------------- handshake

    def _on_handshake(self, event: HandshakeComplete) -> None:
        if self._init_timer is not None:
            self._init_timer.cancel()
            self._init_timer = None
        advertised = event.host_port
        if not self.initiator or not self.peer:
            self.peer = advertised if advertised != EPHEMERAL else ""
        self.usable = not self.closed
        if not self.ready.done():
            self.ready.set_result(None)
        self._host.connection_ready(self)

    def _init_expired(self) -> None:
        self._init_timer = None
        if not self.core.ready and not self.closed:
            self.abort(CallTimeoutError("init handshake timed out"))

    # ------------------------------------------------------------------ output

    def _write(self, data: bytes) -> None:
        """Send ``data``: at once if it is the first write of this loop pass, else batched.

        Writes made while received bytes are processed, and every write after
        the first in one pass of the loop, go out together in one
        ``transport.write`` (at the end of ``data_received``, or on the next
        pass); the first goes out immediately so a lone call pays no delay.
        """
        if self.closed:
            return
        if self._receiving or self._flush_scheduled:
            self._wbuf.append(data)
            return
        transport = self.transport
        if transport is None:
            self._wbuf.append(data)
            return
        transport.write(data)
        self._flush_scheduled = True
        self._loop.call_soon(self._flush)

    def _flush_outbox(self) -> None:
        outbox = self.core.outbox
        if outbox:
            self._wbuf.extend(outbox)
            outbox.clear()
        self._flush()

    def _flush(self) -> None:
        self._flush_scheduled = False
        wbuf = self._wbuf
        if not wbuf:
            return
        transport = self.transport
        if transport is None or self.closed:
            wbuf.clear()
            return
        if len(wbuf) == 1:
            transport.write(wbuf[0])
        else:
            transport.write(b"".join(wbuf))
        wbuf.clear()

    # ---------------------------------------------------------------- failure

    def _fatal(self, error: TChannelError) -> None:
        if self._close_error is None:
            self._close_error = error
        self._flush_outbox()
        if self.transport is not None:
            self.transport.close()
        self._shutdown(error)

    def _shutdown(self, error: TChannelError) -> None:
        if self.closed:
            return
        self.closed = True
        self.usable = False
        self._serve_deadlines.close()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._close_error is None:
            self._close_error = error
        if self._init_timer is not None:
            self._init_timer.cancel()
            self._init_timer = None
        if not self.ready.done():
            self.ready.set_exception(error)
            self.ready.exception()  # mark retrieved: callers may have given up
        for future in self.core.calls.take_all():
            if not future.done():
                future.set_exception(_copy_error(error))
        for task in list(self._inbound.values()):
            task.cancel()
        self._wbuf.clear()
        self.core.release()
        self._host.connection_closed(self)
