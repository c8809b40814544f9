"""The TLS listener: accept TCP, then one TLS handshake per connection.

A TLS channel does not hand its context to ``loop.create_server``: it accepts
sockets itself and runs each handshake with ``loop.connect_accepted_socket`` and
the server context :class:`~ringpop.tchannel.tls.TLSContexts` holds at that
moment. So certificates reloaded from disk apply to the next connection without
touching the listening socket, and a failed handshake is seen here: it is logged
with the peer's address (rate-limited per host) and counted. Each handshake is
bounded by the channel's ``init_timeout``; only connections whose handshake
succeeded reach the channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import time
from collections.abc import Callable

from ringpop.tchannel.tls import TLSContexts, TLSError, describe_tls_error

__all__ = ["HandshakeLog", "TLSListener"]

log = logging.getLogger("ringpop.tchannel.tls")

# accept() failures that mean "out of resources": wait a little, then go on.
_RESOURCE_ERRORS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


class HandshakeLog:
    """Warns about failed handshakes, at most once per peer host and reason per ``interval`` s."""

    def __init__(self, interval: float = 30.0, *, limit: int = 1024) -> None:
        self.interval = interval
        #: Inbound handshakes that failed since start.
        self.failures = 0
        self._limit = limit
        self._last: dict[tuple[str, str], float] = {}

    def failed(self, peer: str, error: BaseException) -> None:
        """Count the failure; log it unless this host was logged recently."""
        self.failures += 1
        host = peer.rsplit(":", 1)[0]
        reason = describe_tls_error(error)
        now = time.monotonic()
        last = self._last.get((host, reason))
        if last is not None and now - last < self.interval:
            log.debug("TLS handshake from %s failed: %s", peer, reason)
            return
        if len(self._last) >= self._limit:
            self._last.clear()
        self._last[(host, reason)] = now
        log.warning(
            "TLS handshake from %s failed: %s (the same from %s is not logged again for %g s)",
            peer,
            reason,
            host,
            self.interval,
        )


class TLSListener:
    """Accepts connections on a listening socket and upgrades each to TLS.

    ``factory()`` makes the protocol of a connection (a ``Connection``, created
    before the handshake, which sees ``connection_made`` only once it succeeded);
    ``ready(protocol)`` is called with it after the handshake.
    """

    def __init__(
        self,
        sock: socket.socket,
        contexts: TLSContexts,
        *,
        handshake_timeout: float,
        factory: Callable[[], asyncio.BaseProtocol],
        ready: Callable[[asyncio.BaseProtocol], None],
        failures: HandshakeLog,
    ) -> None:
        self.sock = sock
        self._contexts = contexts
        self._timeout = handshake_timeout
        self._factory = factory
        self._ready = ready
        self._failures = failures
        self._accepting: asyncio.Task[None] | None = None
        self._handshakes: set[asyncio.Task[None]] = set()
        # Sockets of handshakes not yet handed to the loop (closed here if cancelled).
        self._unowned: dict[asyncio.Task[None], socket.socket] = {}

    def start(self) -> None:
        """Start accepting (on the running loop)."""
        self._accepting = asyncio.get_running_loop().create_task(self._accept_forever())
        self._accepting.add_done_callback(self._accept_stopped)

    def _accept_stopped(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "TLS listener on %s stopped accepting connections",
                self.sock.getsockname() if self.sock.fileno() != -1 else "?",
                exc_info=task.exception(),
            )

    async def close(self) -> None:
        """Stop accepting, abandon handshakes in progress, close the socket."""
        tasks = list(self._handshakes)
        if self._accepting is not None:
            tasks.append(self._accepting)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self.sock.close()

    async def _accept_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, address = await loop.sock_accept(self.sock)
            except (ConnectionAbortedError, InterruptedError):
                continue
            except OSError as error:
                if error.errno not in _RESOURCE_ERRORS:
                    raise
                log.error("cannot accept connections: %s (retrying in 0.5 s)", error)
                await asyncio.sleep(0.5)
                continue
            conn.setblocking(False)
            with contextlib.suppress(OSError):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            peer = f"{address[0]}:{address[1]}"
            task = loop.create_task(self._handshake(conn, peer))
            self._handshakes.add(task)
            self._unowned[task] = conn
            task.add_done_callback(self._handshake_done)

    def _handshake_done(self, task: asyncio.Task[None]) -> None:
        self._handshakes.discard(task)
        conn = self._unowned.pop(task, None)
        if conn is not None:
            conn.close()  # cancelled before the loop took the socket over

    async def _handshake(self, conn: socket.socket, peer: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            context = self._contexts.server_context()
        except TLSError as error:
            conn.close()
            self._failures.failed(peer, error)
            return
        protocol: asyncio.BaseProtocol | None = None

        def make() -> asyncio.BaseProtocol:
            nonlocal protocol
            protocol = self._factory()
            return protocol

        # From here the loop owns the socket: it closes it if the handshake fails.
        task = asyncio.current_task()
        if task is not None:
            self._unowned.pop(task, None)
        try:
            await loop.connect_accepted_socket(
                make, conn, ssl=context, ssl_handshake_timeout=self._timeout
            )
        except (OSError, ValueError, RuntimeError) as error:
            self._failures.failed(peer, error)
            return
        assert protocol is not None
        self._ready(protocol)
