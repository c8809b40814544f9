"""The TChannel :class:`Channel`: listener, peer connections, handlers and calls.

A channel's identity is the ``host:port`` it listens on; it advertises that in
every handshake, keeps one connection per peer (reusing a connection the peer
opened to us when it advertised its own address) and serves calls on every
connection, inbound or outbound. ``Channel("0.0.0.0:0")`` is an ephemeral client
that never listens (admin tools).

Longer than ~400 lines on purpose: this is the package's public object, and what
is left here is only its API (identity, listen/close, handler registry, the call
methods with ``call_json``'s typed overloads). The connection table is
:mod:`.peers`, one connection's bytes and timers :mod:`.connection`, serving
:mod:`.serving`, and the protocol :mod:`.core`.
"""

from __future__ import annotations

import asyncio
import os
import platform
import socket
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from ringpop._version import __version__
from ringpop.checks import check_bytes, check_seconds
from ringpop.tchannel.api import (
    Endpoint,
    Handler,
    JsonHandler,
    Response,
    application_error,
    dump_json,
    load_json,
)
from ringpop.tchannel.budget import ReceiveBudget
from ringpop.tchannel.checksum import ChecksumType
from ringpop.tchannel.connection import Connection, receive_buffer
from ringpop.tchannel.errors import CallTimeoutError, NetworkError
from ringpop.tchannel.frames import MAX_ARG1_SIZE
from ringpop.tchannel.hostport import EPHEMERAL, split_host_port
from ringpop.tchannel.options import DEFAULT_MAX_ARG_SIZE, ChannelOptions
from ringpop.tchannel.peers import Peers
from ringpop.tchannel.stale import DEFAULT_STALE_PERIOD

if TYPE_CHECKING:
    from ringpop.tchannel.tls import TLSConfig, TLSContexts
    from ringpop.tchannel.tlsaccept import HandshakeLog, TLSListener

__all__ = ["Channel"]

T = TypeVar("T")


class Channel(Peers):
    """A TChannel endpoint: serve registered handlers and call peers.

    ``host_port`` is the address to listen on (``"127.0.0.1:3000"``; port 0
    picks a free port at :meth:`listen`) and the identity advertised to peers.
    ``"0.0.0.0:0"`` makes an ephemeral client: no listener, advertised as such.
    ``bind`` (``"ip:port"``) listens there instead while still advertising
    ``host_port`` (a node behind a port mapping or a relay).
    Keyword arguments are the fields of :class:`ChannelOptions`; ``tls`` (a
    :class:`~ringpop.tchannel.tls.TLSConfig`) makes every connection TLS, which only
    peers with TLS on understand (its files are loaded here: ``TLSError`` if they
    cannot be used).
    """

    def __init__(
        self,
        host_port: str = EPHEMERAL,
        *,
        process_name: str | None = None,
        caller_name: str = "ringpop",
        max_arg_size: int = DEFAULT_MAX_ARG_SIZE,
        max_buffered: int | None = None,
        max_buffered_total: int | None = None,
        init_timeout: float = 2.0,
        connect_timeout: float = 3.0,
        drain_timeout: float = 5.0,
        checksum_type: ChecksumType = ChecksumType.CRC32,
        max_concurrent_requests: int = 10_000,
        init_headers: dict[str, str] | None = None,
        tls: TLSConfig | None = None,
        stale_period: float = DEFAULT_STALE_PERIOD,
        bind: str | None = None,
    ) -> None:
        host, port = split_host_port(host_port, allow_ephemeral=True)
        self._host = host
        self._port = port
        self._ephemeral = host_port == EPHEMERAL
        self.options = ChannelOptions(
            process_name=process_name or f"pyringpop[{os.getpid()}]",
            caller_name=caller_name,
            max_arg_size=max_arg_size,
            max_buffered=max_buffered,
            max_buffered_total=max_buffered_total,
            init_timeout=init_timeout,
            connect_timeout=connect_timeout,
            drain_timeout=drain_timeout,
            checksum_type=checksum_type,
            max_concurrent_requests=max_concurrent_requests,
            init_headers=dict(init_headers or {}),
            tls=tls,
            stale_period=stale_period,
        )
        self._bind: tuple[str, int] | None = None
        if bind is not None:
            if self._ephemeral or port == 0:
                raise ValueError("bind needs a fixed identity (host_port with a port)")
            self._bind = split_host_port(bind, allow_ephemeral=True)
        #: Connections closed because they went stale (calls timed out, peer silent).
        self.stale_closed = 0
        #: The TLS contexts (``None`` without TLS); ``channel.tls.reload()`` re-reads the files.
        self.tls: TLSContexts | None = None
        self._tls_listener: TLSListener | None = None
        self._handshake_log: HandshakeLog | None = None
        if tls is not None:
            from ringpop.tchannel.tls import TLSContexts
            from ringpop.tchannel.tlsaccept import HandshakeLog

            self.tls = TLSContexts(tls)
            self._handshake_log = HandshakeLog()
        #: Registered endpoints by (service, arg1) (read by connections).
        self.handlers: dict[tuple[str, bytes], Endpoint] = {}
        #: Where the loop reads any of our connections' bytes (see ``receive_buffer``).
        self.receive_buffer = receive_buffer()
        #: Unfinished messages held over all our connections, and their bound.
        self.receive_budget = ReceiveBudget(self.options.buffered_total)
        #: Whether incoming calls are served (false once closing).
        self.accepting = True
        self._server: asyncio.Server | None = None
        self._listening = False
        self._closing = False
        self._closed = False
        self._peers: dict[str, Connection] = {}
        self._connecting: dict[str, asyncio.Task[Connection]] = {}
        self._connections: set[Connection] = set()

    # ----------------------------------------------------------------- identity

    @property
    def host_port(self) -> str:
        """This channel's identity (``0.0.0.0:0`` until an ephemeral port is bound)."""
        if self._ephemeral or (self._port == 0 and not self._listening):
            return EPHEMERAL
        return f"{self._host}:{self._port}"

    @property
    def bind_address(self) -> str:
        """Where it listens: ``bind`` if given (with the port bound), else ``host_port``."""
        if self._bind is None:
            return self.host_port
        return f"{self._bind[0]}:{self._bind[1]}"

    @property
    def listening(self) -> bool:
        """Whether :meth:`listen` succeeded and the channel is not closed."""
        return self._listening

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closing

    def init_headers(self) -> dict[str, str]:
        """The init headers this channel sends (``host_port``, ``process_name``, ...)."""
        headers = {
            "host_port": self.host_port,
            "process_name": self.options.process_name,
            "tchannel_language": "python",
            "tchannel_language_version": platform.python_version(),
            "tchannel_version": __version__,
        }
        headers.update(self.options.init_headers)
        return headers

    # ---------------------------------------------------------------- lifecycle

    async def listen(self) -> str:
        """Start accepting connections on ``host_port``; returns the bound host_port."""
        if self._ephemeral or self._host == "0.0.0.0":
            raise ValueError(f"cannot listen on {self._host}:{self._port}: not a routable identity")
        if self._closing:
            raise RuntimeError("channel is closed")
        if self._server is not None:
            return self.host_port
        if self.tls is not None:
            return await self._listen_tls()
        loop = asyncio.get_running_loop()
        host, port = self._bind or (self._host, self._port)
        self._server = await loop.create_server(
            self._accept,
            host,
            port,
            reuse_address=True,
            backlog=1024,
        )
        bound = int(self._server.sockets[0].getsockname()[1])
        if self._bind is not None:
            self._bind = (host, bound)
        elif self._port == 0:
            self._port = bound
        self._listening = True
        return self.host_port

    async def _listen_tls(self) -> str:
        """Listen with a TLS handshake on every accepted connection (see ``tlsaccept``)."""
        from ringpop.tchannel.tlsaccept import TLSListener

        assert self.tls is not None
        assert self._handshake_log is not None
        if self._tls_listener is not None:
            return self.host_port
        self.tls.server_context()  # TLSError now if there is no certificate to serve
        sock = socket.create_server(self._bind or (self._host, self._port), backlog=1024)
        sock.setblocking(False)
        self._tls_listener = TLSListener(
            sock,
            self.tls,
            handshake_timeout=self.options.init_timeout,
            factory=self._accept_untracked,
            ready=self._tls_ready,
            failures=self._handshake_log,
        )
        self._tls_listener.start()
        bound = int(sock.getsockname()[1])
        if self._bind is not None:
            self._bind = (self._bind[0], bound)
        elif self._port == 0:
            self._port = bound
        self._listening = True
        return self.host_port

    async def __aenter__(self) -> Channel:
        if not self._ephemeral:
            await self.listen()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self, drain_timeout: float | None = None) -> None:
        """Stop listening, let in-flight calls finish (bounded), then close everything.

        While draining, new incoming calls are declined and new outgoing calls
        raise ``NetworkError``. Calls still running after ``drain_timeout``
        (default ``options.drain_timeout``) are failed/cancelled.
        """
        if self._closing:
            return
        self._closing = True
        self.accepting = False
        self._listening = False
        if self._server is not None:
            self._server.close()
        for task in list(self._connecting.values()):
            task.cancel()
        if self._tls_listener is not None:
            await self._tls_listener.close()
        timeout = self.options.drain_timeout if drain_timeout is None else drain_timeout
        waitables = [w for conn in self._connections for w in conn.drain_waitables()]
        if waitables and timeout > 0:
            await asyncio.wait(waitables, timeout=timeout)
        connections = list(self._connections)
        for conn in connections:
            conn.close()
        lost = [conn.lost for conn in connections if not conn.lost.done()]
        if lost:
            await asyncio.wait(lost, timeout=1.0)
        if self._server is not None:
            await self._server.wait_closed()
        self._peers.clear()
        self._closed = True

    # ---------------------------------------------------------------- handlers

    def register(self, service: str, endpoint: str, handler: Handler) -> None:
        """Serve calls to ``endpoint`` (arg1) of ``service`` with ``handler``.

        ``handler(request) -> Response`` may raise :class:`ApplicationError`
        (sent as a code-0x01 response with a JSON ``{type, message}`` body) or
        another :class:`TChannelError` (sent as an error frame with its code);
        anything else becomes an ``unexpected`` error frame.

        A coroutine function runs in a task of its own, bounded by the request's
        ttl. A plain function (for handlers that only compute, like ringpop's
        ping) runs as soon as the request is read, with no task; if it returns
        an awaitable, that is awaited in a task.
        """
        self.handlers[self._key(service, endpoint, handler)] = Endpoint.of(handler)

    def register_json(self, service: str, endpoint: str, handler: JsonHandler) -> None:
        """Serve ``endpoint`` with ``handler(request, body) -> result`` on JSON bodies.

        ``body`` is arg3 parsed as JSON (``None`` when empty; invalid JSON is
        answered with ``bad request``); the result is sent as JSON (bytes as is;
        a :class:`Response` unchanged). Errors as for :meth:`register`.
        """
        self.handlers[self._key(service, endpoint, handler)] = Endpoint.of(handler, json=True)

    @staticmethod
    def _key(service: str, endpoint: str, handler: object) -> tuple[str, bytes]:
        if not isinstance(service, str) or not isinstance(endpoint, str):
            raise TypeError(
                f"service and endpoint must be str, not {service!r:.40} and {endpoint!r:.40}"
            )
        if not callable(handler):
            raise TypeError(f"the handler of {service} {endpoint} must be callable: {handler!r}")
        arg1 = endpoint.encode()
        if len(arg1) > MAX_ARG1_SIZE:
            raise ValueError("endpoint longer than 16384 bytes")
        return (service, arg1)

    def unregister(self, service: str, endpoint: str) -> None:
        """Stop serving ``endpoint`` of ``service`` (no-op if not registered)."""
        self.handlers.pop((service, endpoint.encode()), None)

    def find_handler(self, service: str, endpoint: bytes) -> Endpoint | None:
        """The handler registered for (service, arg1), if any."""
        return self.handlers.get((service, endpoint))

    # ------------------------------------------------------------------- calls

    async def call(
        self,
        peer: str,
        service: str,
        endpoint: str | bytes,
        arg2: bytes = b"",
        arg3: bytes = b"",
        *,
        timeout: float,
        headers: dict[str, str] | None = None,
        scheme: str = "raw",
        caller: str | None = None,
        checksum_type: ChecksumType | None = None,
        tracing: bytes | None = None,
    ) -> Response:
        """Call ``endpoint`` of ``service`` on ``peer`` (``"ip:port"``); the raw response.

        ``timeout`` (seconds) bounds connecting and the call, and is sent as ttl.
        ``headers`` are extra transport headers (``as``/``cn`` come from ``scheme``
        and ``caller``). Returns the response whatever its code (check ``.ok``);
        raises a :class:`TChannelError` subclass for error frames, timeouts and
        network failures.
        """
        _check_timeout(timeout)
        if arg2.__class__ is not bytes or arg3.__class__ is not bytes:
            check_bytes("arg2", arg2)
            check_bytes("arg3", arg3)
        if self._closing:
            raise NetworkError("channel is closed")
        conn = self._peers.get(peer)
        if conn is None or not conn.usable:
            conn, timeout = await self._connection_for_call(peer, timeout)
        options = self.options
        fid, future = conn.start_call(
            service,
            endpoint.encode() if isinstance(endpoint, str) else endpoint,
            arg2,
            arg3,
            options.checksum_type if checksum_type is None else checksum_type,
            timeout,
            scheme,
            options.caller_name if caller is None else caller,
            headers,
            tracing,
        )
        try:
            return await future
        except asyncio.CancelledError:
            conn.abandon_call(fid, timeout)
            raise

    async def _connection_for_call(self, peer: str, timeout: float) -> tuple[Connection, float]:
        """Connect to ``peer`` within ``timeout``; the connection and the time left."""
        if self._closing:
            raise NetworkError("channel is closed")
        loop = asyncio.get_running_loop()
        start = loop.time()
        conn = await self._connection(peer, start + timeout)
        remaining = start + timeout - loop.time()
        if remaining <= 0:
            raise CallTimeoutError(f"timed out connecting to {peer}")
        return conn, remaining

    @overload
    async def call_json(
        self,
        peer: str,
        service: str,
        endpoint: str,
        body: Any = None,
        *,
        timeout: float,
        response_type: None = None,
        headers: dict[str, str] | None = None,
        app_headers: Any = None,
        scheme: str = "json",
        caller: str | None = None,
        checksum_type: ChecksumType | None = None,
    ) -> Any: ...

    @overload
    async def call_json(
        self,
        peer: str,
        service: str,
        endpoint: str,
        body: Any = None,
        *,
        timeout: float,
        response_type: type[T],
        headers: dict[str, str] | None = None,
        app_headers: Any = None,
        scheme: str = "json",
        caller: str | None = None,
        checksum_type: ChecksumType | None = None,
    ) -> T: ...

    async def call_json(
        self,
        peer: str,
        service: str,
        endpoint: str,
        body: Any = None,
        *,
        timeout: float,
        response_type: type[Any] | None = None,
        headers: dict[str, str] | None = None,
        app_headers: Any = None,
        scheme: str = "json",
        caller: str | None = None,
        checksum_type: ChecksumType | None = None,
    ) -> Any:
        """Call with a JSON body; returns the parsed JSON response body.

        ``body`` is encoded as JSON (bytes are sent as is; ``None`` sends an
        empty arg3). ``app_headers`` go to arg2 as JSON (empty when ``None``).
        An empty response body gives ``None``; a body that is not JSON (some
        ringpop-node admin endpoints answer ``ok``) is returned as bytes, unless
        ``response_type`` is given, which validates strictly into that type.
        A code-0x01 response raises :class:`ApplicationError`.
        """
        _check_timeout(timeout)
        arg3 = b"" if body is None else dump_json(body)
        arg2 = b"" if app_headers is None else dump_json(app_headers)
        if self._closing:
            raise NetworkError("channel is closed")
        conn = self._peers.get(peer)
        if conn is None or not conn.usable:
            conn, timeout = await self._connection_for_call(peer, timeout)
        options = self.options
        fid, future = conn.start_call(
            service,
            endpoint.encode(),
            arg2,
            arg3,
            options.checksum_type if checksum_type is None else checksum_type,
            timeout,
            scheme,
            options.caller_name if caller is None else caller,
            headers,
        )
        try:
            response = await future
        except asyncio.CancelledError:
            conn.abandon_call(fid, timeout)
            raise
        if response.code:
            raise application_error(response)
        if response_type is not None:
            return load_json(response.arg3, response_type)
        try:
            return load_json(response.arg3)
        except ValueError:
            return response.arg3

    async def ping(self, peer: str, *, timeout: float) -> None:
        """TChannel-level ping of ``peer`` (frame 0xD0/0xD1), bounded by ``timeout``."""
        _check_timeout(timeout)
        if self._closing:
            raise NetworkError("channel is closed")
        loop = asyncio.get_running_loop()
        start = loop.time()
        conn = await self._connection(peer, start + timeout)
        remaining = start + timeout - loop.time()
        if remaining <= 0:
            raise CallTimeoutError(f"timed out connecting to {peer}")
        await conn.ping(remaining)


def _check_timeout(timeout: float) -> None:
    """A call's ``timeout`` must be a positive, finite number of seconds (it is sent as
    the call's ttl in milliseconds); ``ValueError`` says so, also for NaN."""
    check_seconds("timeout", timeout)
