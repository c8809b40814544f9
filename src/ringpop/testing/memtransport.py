"""One node's endpoint on a :class:`~ringpop.testing.memnet.MemoryNetwork`.

:class:`MemoryTransport` has the call model of the real TChannel
:class:`~ringpop.tchannel.Channel` (it satisfies :class:`~ringpop.transport.Transport`):
handlers registered per ``(service, endpoint)`` take a :class:`~ringpop.tchannel.Request`
and return a :class:`~ringpop.tchannel.Response`; calls raise TChannel's errors. The
network carries its messages (latency, loss, partitions, pauses); see
:mod:`ringpop.testing.memnet` for what each failure looks like to a caller.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import TYPE_CHECKING

from ringpop.tchannel import (
    ApplicationError,
    BadRequestError,
    CallTimeoutError,
    Handler,
    NetworkError,
    Request,
    Response,
    TChannelError,
    UnexpectedError,
)
from ringpop.tchannel.errors import error_for_code

if TYPE_CHECKING:
    from ringpop.testing.memnet import MemoryNetwork

__all__ = ["MemoryTransport"]

log = logging.getLogger(__name__)

_Outcome = Response | TChannelError


class _Exchange:
    """One request/response exchange in flight."""

    __slots__ = ("caller", "future", "request")

    def __init__(
        self, caller: MemoryTransport, request: Request, future: asyncio.Future[Response]
    ) -> None:
        self.caller = caller
        self.request = request
        self.future = future


class MemoryTransport:
    """One node's :class:`~ringpop.transport.Transport` on a :class:`MemoryNetwork`.

    Create it with :meth:`MemoryNetwork.transport`. It is reachable from the moment
    it is created until :meth:`stop` (or :meth:`close`).
    """

    def __init__(self, network: MemoryNetwork, address: str) -> None:
        self.network = network
        self.address = address
        self._handlers: dict[tuple[str, str], Handler] = {}
        self._stopped = False
        self._serving: set[asyncio.Task[None]] = set()
        self._calls: set[asyncio.Future[Response]] = set()

    @property
    def host_port(self) -> str:
        """This transport's address."""
        return self.address

    @property
    def stopped(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stopped

    @property
    def closed(self) -> bool:
        """Whether :meth:`stop` (or :meth:`close`) was called."""
        return self._stopped

    @property
    def endpoints(self) -> list[tuple[str, str]]:
        """The ``(service, endpoint)`` pairs served, in registration order."""
        return list(self._handlers)

    async def listen(self) -> str:
        """Our address (the transport is reachable since it was created)."""
        if self._stopped:
            raise NetworkError(f"{self.address}: transport stopped")
        return self.address

    async def close(self, drain_timeout: float | None = None) -> None:
        """:meth:`stop` (in-flight handlers are cancelled, not drained)."""
        self.stop()

    def register(self, service: str, endpoint: str, handler: Handler) -> None:
        """Serve ``endpoint`` of ``service`` with ``handler(request) -> Response``."""
        self._handlers[(service, endpoint)] = handler

    def unregister(self, service: str, endpoint: str) -> None:
        """Stop serving ``endpoint`` of ``service`` (no-op if not registered)."""
        self._handlers.pop((service, endpoint), None)

    def peer_connection(self, peer: str) -> None:
        """No connections are kept: always ``None``."""
        return None

    def stop(self) -> None:
        """Leave the network like an exited process.

        New calls to this address are refused, handlers still running are cancelled
        (their callers see a reset connection) and this transport's own pending
        calls fail.
        """
        if self._stopped:
            return
        self._stopped = True
        for task in list(self._serving):
            task.cancel()
        for future in list(self._calls):
            if not future.done():
                future.set_exception(NetworkError(f"{self.address}: transport stopped"))

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
        headers: dict[str, str] | None = None,
    ) -> Response:
        """Call ``endpoint`` of ``service`` on ``peer``; its response, whatever its code.

        Raises :class:`~ringpop.tchannel.TChannelError` subclasses, as the module
        docstring lists.
        """
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        network = self.network
        loop = asyncio.get_running_loop()
        stats = network.stats
        network._called(self.address, peer, service, endpoint, arg3)
        if self._stopped:
            raise NetworkError(f"{endpoint} to {peer}: {self.address} is stopped")
        target = network.get(peer)
        if target is None:
            stats.refused += 1
            raise NetworkError(f"{endpoint} to {peer}: connection refused")
        request = Request(
            service,
            endpoint.encode(),
            arg2,
            arg3,
            {"as": scheme, "cn": caller or "ringpop", **(headers or {})},
            self.address,
            timeout,
        )
        future: asyncio.Future[Response] = loop.create_future()
        exchange = _Exchange(self, request, future)
        self._calls.add(future)
        network._transmit(
            self.address,
            peer,
            lambda: target._receive(exchange),
            len(arg2) + len(arg3),
            endpoint,
        )
        try:
            async with asyncio.timeout(timeout) as scope:
                response = await future
        except TimeoutError:
            if not scope.expired():  # the peer's own timeout error
                raise
            stats.timeouts += 1
            raise CallTimeoutError(f"{endpoint} to {peer}: timed out after {timeout:g} s") from None
        finally:
            self._calls.discard(future)
        if not response.ok:
            stats.remote_errors += 1
        return response

    async def ping(self, peer: str, *, timeout: float) -> None:
        """A round trip to ``peer`` that runs no handler (TChannel's ping)."""
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        target = self.network.get(peer)
        if self._stopped or target is None:
            raise NetworkError(f"ping to {peer}: connection refused")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Response] = loop.create_future()
        request = Request("", b"", b"", b"", {}, self.address, timeout)
        exchange = _Exchange(self, request, future)
        self.network._transmit(self.address, peer, lambda: target._respond(exchange, Response()))
        try:
            async with asyncio.timeout(timeout):
                await future
        except TimeoutError:
            raise CallTimeoutError(f"ping to {peer}: timed out after {timeout:g} s") from None

    # -- the serving side ------------------------------------------------------------------

    def _receive(self, exchange: _Exchange) -> None:
        """A request arrived (after latency and any pause)."""
        request = exchange.request
        endpoint = request.endpoint
        if self._stopped:
            _settle(exchange.future, NetworkError(f"{endpoint}: connection reset"))
            return
        handler = self._handlers.get((request.service, endpoint))
        if handler is None:
            error = BadRequestError(
                f"{endpoint} to {self.address}: no handler for service {request.service!r}"
            )
            self._respond(exchange, error)
            return
        task = asyncio.get_running_loop().create_task(
            self._handle(exchange, handler), name=f"{self.address} {endpoint}"
        )
        self._serving.add(task)
        task.add_done_callback(self._serving.discard)

    async def _handle(self, exchange: _Exchange, handler: Handler) -> None:
        endpoint = exchange.request.endpoint
        outcome: _Outcome
        try:
            result = handler(exchange.request)
            if inspect.isawaitable(result):
                result = await result
            if not isinstance(result, Response):
                raise TypeError(f"handler returned {type(result).__name__}, not a Response")
            outcome = result
        except ApplicationError as error:
            outcome = Response.application_error(error.type, error.message)
        except TChannelError as error:  # sent as an error frame with its code
            outcome = error_for_code(error.code, error.message)
        except asyncio.CancelledError:
            _settle(exchange.future, NetworkError(f"{endpoint}: connection reset"))
            raise
        except Exception as error:
            log.exception("%s: handler of %s failed", self.address, endpoint)
            self.network._handler_failed(self.address, endpoint, error)
            outcome = UnexpectedError(f"{endpoint} to {self.address}: unexpected error")
        self._respond(exchange, outcome)

    def _respond(self, exchange: _Exchange, outcome: _Outcome) -> None:
        if isinstance(outcome, Response):
            size = len(outcome.arg2) + len(outcome.arg3)
        else:  # an error frame: its message
            size = len(outcome.message)
        self.network._transmit(
            self.address,
            exchange.caller.address,
            lambda: _settle(exchange.future, outcome),
            size,
            exchange.request.endpoint,
        )


def _settle(future: asyncio.Future[Response], outcome: _Outcome) -> None:
    if future.done():  # the caller gave up or its transport stopped
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
