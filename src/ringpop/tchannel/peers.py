"""The connections of a :class:`~ringpop.tchannel.Channel`: one per peer, dialled on demand.

:class:`Peers` is the part of ``Channel`` (a mixin) that keeps its connections:
every live one, and the one used for calls to each peer (ours, dialled over
TCP or TLS within ``connect_timeout``, or one the peer opened to us when it
advertised its own address); concurrent callers share one dial; closed
connections are forgotten so the next call dials again.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING, Any

from ringpop.tchannel.api import Endpoint
from ringpop.tchannel.budget import ReceiveBudget
from ringpop.tchannel.connection import Connection
from ringpop.tchannel.errors import CallTimeoutError, NetworkError, TChannelError
from ringpop.tchannel.hostport import split_host_port
from ringpop.tchannel.options import ChannelOptions

if TYPE_CHECKING:
    from ringpop.tchannel.tls import TLSContexts
    from ringpop.tchannel.tlsaccept import HandshakeLog

__all__ = ["Peers"]


class Peers:
    """A channel's connection table; mixed into ``Channel``, which sets these attributes."""

    options: ChannelOptions
    tls: TLSContexts | None
    stale_closed: int
    _closing: bool
    _peers: dict[str, Connection]
    _connecting: dict[str, asyncio.Task[Connection]]
    _connections: set[Connection]
    _handshake_log: HandshakeLog | None
    handlers: dict[tuple[str, bytes], Endpoint]
    accepting: bool
    receive_buffer: memoryview
    receive_budget: ReceiveBudget

    def init_headers(self) -> dict[str, str]:
        raise NotImplementedError

    def connection_ready(self, conn: Connection) -> None:
        """Track a connection whose handshake finished (reuse inbound ones by peer)."""
        if self._closing:
            conn.close()
            return
        peer = conn.peer
        if peer and not conn.initiator:
            existing = self._peers.get(peer)
            if existing is None or existing.closed:
                self._peers[peer] = conn

    def connection_closed(self, conn: Connection) -> None:
        """Forget a closed connection (the next call to its peer dials a new one)."""
        if conn.stale:
            self.stale_closed += 1
        self._connections.discard(conn)
        for peer, mapped in list(self._peers.items()):
            if mapped is conn:
                del self._peers[peer]

    def _track(self, conn: Connection) -> None:
        self._connections.add(conn)

    def _accept(self) -> Connection:
        conn = Connection(self, initiator=False)
        self._track(conn)
        return conn

    def _accept_untracked(self) -> Connection:
        return Connection(self, initiator=False)

    def _tls_ready(self, protocol: asyncio.BaseProtocol) -> None:
        """An inbound connection finished its TLS handshake."""
        conn = protocol
        assert isinstance(conn, Connection)
        if not conn.closed:
            self._connections.add(conn)

    @property
    def tls_handshake_failures(self) -> int:
        """Inbound TLS handshakes that failed (0 without TLS)."""
        return 0 if self._handshake_log is None else self._handshake_log.failures

    @property
    def connections(self) -> list[Connection]:
        """All live connections (inbound and outbound)."""
        return list(self._connections)

    def peer_connection(self, peer: str) -> Connection | None:
        """The connection used for calls to ``peer``, if one is open."""
        conn = self._peers.get(peer)
        return conn if conn is not None and conn.is_ready else None

    async def _connection(self, peer: str, deadline: float) -> Connection:
        conn = self._peers.get(peer)
        if conn is not None and conn.is_ready:
            return conn
        if self._closing:
            raise NetworkError("channel is closed")
        loop = asyncio.get_running_loop()
        task = self._connecting.get(peer)
        if task is None:
            host, port = split_host_port(peer)
            task = loop.create_task(self._open(peer, host, port))
            self._connecting[peer] = task
            task.add_done_callback(partial(self._connect_done, peer))
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise CallTimeoutError(f"timed out connecting to {peer}")
        try:
            async with asyncio.timeout(remaining):
                return await asyncio.shield(task)
        except TimeoutError as exc:
            if isinstance(exc, TChannelError):
                raise
            raise CallTimeoutError(f"timed out connecting to {peer}") from None

    def _connect_done(self, peer: str, task: asyncio.Task[Connection]) -> None:
        if self._connecting.get(peer) is task:
            del self._connecting[peer]
        if not task.cancelled():
            task.exception()  # retrieved here: every caller may have timed out already

    async def _open(self, peer: str, host: str, port: int) -> Connection:
        loop = asyncio.get_running_loop()
        conn: Connection | None = None

        def factory() -> Connection:
            nonlocal conn
            conn = Connection(self, initiator=True, peer=peer)
            self._track(conn)
            return conn

        tls: dict[str, Any] = {}
        if self.tls is not None:
            tls = {
                "ssl": self.tls.client_context(),
                "server_hostname": self.tls.server_hostname(host),
                "ssl_handshake_timeout": self.options.init_timeout,
            }
        try:
            async with asyncio.timeout(self.options.connect_timeout):
                await loop.create_connection(factory, host, port, **tls)
                assert conn is not None
                await conn.ready
        except TimeoutError as exc:  # before OSError: TimeoutError is an OSError
            if conn is not None:
                conn.abort()
            if isinstance(exc, TChannelError):
                raise
            raise NetworkError(f"timed out connecting to {peer}") from None
        except OSError as exc:
            import ssl  # loaded already (asyncio imports it)

            # Connected but not past the TLS handshake (the TCP connect itself can fail
            # after the protocol was made: uvloop makes it first).
            handshaking = (
                tls
                and conn is not None
                and conn.transport is None
                and isinstance(exc, ssl.SSLError | ConnectionAbortedError | ConnectionResetError)
            )
            if conn is not None:
                conn.abort()
            if handshaking:
                from ringpop.tchannel.tls import describe_tls_error

                reason = describe_tls_error(exc)
                raise NetworkError(f"TLS handshake with {peer} failed: {reason}") from None
            raise NetworkError(f"cannot connect to {peer}: {exc}") from None
        except BaseException:
            if conn is not None:
                conn.abort()
            raise
        if self._closing:
            conn.close()
            raise NetworkError("channel is closed")
        self._peers[peer] = conn
        return conn
