"""The seam at the bottom: what ringpop needs from the network it runs on.

A node talks to its peers through one :class:`Transport`: it serves handlers on
``(service, endpoint)`` pairs and calls other nodes' handlers, with TChannel's call
model (``arg2`` headers, ``arg3`` body, a timeout, an ``as`` scheme) and TChannel's
errors (:class:`~ringpop.tchannel.TChannelError` subclasses for timeouts, refused
connections and error frames; a not-ok :class:`~ringpop.tchannel.Response` for
application errors). Every layer above uses only this: membership (through
:class:`~ringpop.membership.network.TChannelNetwork`), forwarding, admin, tracing
and state.

Two implementations exist. :class:`~ringpop.tchannel.Channel` is the real one
(TChannel v2 over TCP, what :class:`~ringpop.Ringpop` builds by default); it satisfies
this protocol structurally. ``ringpop.testing.memnet.MemoryTransport`` is the
simulated one (an in-memory network with latency, loss, partitions and crashes, on
the event loop's clock), which the simulator hands to the very same
:class:`~ringpop.Ringpop` constructor.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ringpop.tchannel.api import Handler, Response

__all__ = ["Transport"]


@runtime_checkable
class Transport(Protocol):
    """One node's endpoint on a network: serve handlers and call peers."""

    @property
    def host_port(self) -> str:
        """This node's address (``ip:port``) once listening."""
        ...

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        ...

    async def listen(self) -> str:
        """Start serving; the address others reach us at."""
        ...

    async def close(self, drain_timeout: float | None = None) -> None:
        """Stop serving and calling (in-flight calls get up to ``drain_timeout``)."""
        ...

    def register(self, service: str, endpoint: str, handler: Handler) -> None:
        """Serve calls to ``endpoint`` of ``service`` with ``handler(request) -> Response``.

        A handler may raise :class:`~ringpop.tchannel.ApplicationError` (a not-ok
        response) or another :class:`~ringpop.tchannel.TChannelError` (that error
        at the caller); anything else reaches the caller as an unexpected error.
        """
        ...

    def unregister(self, service: str, endpoint: str) -> None:
        """Stop serving ``endpoint`` of ``service`` (no-op if not registered)."""
        ...

    async def call(
        self,
        peer: str,
        service: str,
        endpoint: str,
        arg2: bytes = b"",
        arg3: bytes = b"",
        *,
        timeout: float,
        scheme: str = "raw",
        caller: str | None = None,
    ) -> Response:
        """Call ``endpoint`` of ``service`` on ``peer``; the response whatever its code.

        Raises a :class:`~ringpop.tchannel.TChannelError` subclass when no response
        came: :class:`~ringpop.tchannel.CallTimeoutError` after ``timeout`` seconds,
        :class:`~ringpop.tchannel.NetworkError` when the peer cannot be reached, the
        peer's error otherwise.
        """
        ...

    async def ping(self, peer: str, *, timeout: float) -> None:
        """Check that ``peer`` is reachable (a transport-level ping)."""
        ...

    def peer_connection(self, peer: str) -> object | None:
        """An open connection to ``peer``, if the transport keeps one (else ``None``)."""
        ...
