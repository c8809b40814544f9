"""The one seam between membership and the network.

The SWIM node sends "this body to that address's endpoint, answer within a
deadline" through a :class:`Network` and serves its endpoints as plain
``async (body) -> body`` functions. :class:`TChannelNetwork` carries them over a
:class:`~ringpop.transport.Transport` (service ``ringpop``, ``as=raw``, JSON bodies,
spec §1, tchannel.md §9): a real TChannel :class:`~ringpop.tchannel.Channel` in
production, ``ringpop.testing.memnet``'s in-memory transport in simulation.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

import msgspec

from ringpop.errors import RingpopError
from ringpop.tchannel import Request, Response, TChannelError
from ringpop.transport import Transport

__all__ = [
    "CallError",
    "EndpointHandler",
    "Network",
    "RemoteError",
    "TChannelNetwork",
]

log = logging.getLogger(__name__)

SERVICE = "ringpop"

EndpointHandler = Callable[[bytes], Awaitable[bytes]]
"""Serves one endpoint: request body in, response body out; raise :class:`RemoteError`
to answer with an application error."""


class CallError(RingpopError):
    """A call to a peer did not succeed: network error, timeout or error frame."""


class RemoteError(CallError):
    """The peer's handler answered with an application error ``{type, message}``."""

    def __init__(self, type: str, message: str) -> None:
        super().__init__(f"{type}: {message}")
        self.type = type
        self.message = message


class Network(Protocol):
    """How a node reaches its peers."""

    async def call(self, address: str, endpoint: str, body: bytes, *, timeout: float) -> bytes:
        """Send ``body`` to ``endpoint`` of the ringpop at ``address``; its response body.

        Raises :class:`CallError` (:class:`RemoteError` for application errors).
        """
        ...

    def serve(self, handlers: Mapping[str, EndpointHandler]) -> None:
        """Answer calls to these endpoints."""
        ...


class _ErrorBody(msgspec.Struct):
    type: str = "error"
    message: str = ""


_error_decoder = msgspec.json.Decoder(_ErrorBody)


class TChannelNetwork:
    """:class:`Network` over a :class:`~ringpop.transport.Transport` (TChannel's call model)."""

    def __init__(self, channel: Transport) -> None:
        self.channel = channel

    async def call(self, address: str, endpoint: str, body: bytes, *, timeout: float) -> bytes:
        try:
            response = await self.channel.call(
                address, SERVICE, endpoint, b"", body, timeout=timeout, scheme="raw"
            )
        except TChannelError as error:
            raise CallError(f"{endpoint} to {address}: {error}") from error
        except ValueError as error:  # an address gossip allows but TChannel cannot dial
            raise CallError(f"{endpoint} to {address}: {error}") from error
        if not response.ok:
            try:
                detail = _error_decoder.decode(response.arg3)
            except msgspec.DecodeError:
                detail = _ErrorBody("error", response.arg3.decode("utf-8", "replace"))
            raise RemoteError(detail.type, detail.message)
        return response.arg3

    def serve(self, handlers: Mapping[str, EndpointHandler]) -> None:
        for endpoint, handler in handlers.items():
            self.channel.register(SERVICE, endpoint, _adapt(endpoint, handler))


def _adapt(endpoint: str, handler: EndpointHandler) -> Callable[[Request], Awaitable[Response]]:
    async def serve(request: Request) -> Response:
        try:
            body = await handler(request.arg3)
        except RemoteError as error:
            return Response.application_error(error.type, error.message)
        return Response(b"", body)

    serve.__name__ = f"serve{endpoint.replace('/', '_').replace('-', '_')}"
    return serve
