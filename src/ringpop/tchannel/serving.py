"""The peer's calls on one connection: run the handler, answer through the core.

:class:`Serving` is the half of :class:`~ringpop.tchannel.connection.Connection`
that serves requests (a mixin, so the hot path pays no extra call): it checks a
request can be taken (channel accepting, id not in use, under
``max_concurrent_requests``, a handler registered), runs plain handlers at once
and coroutine handlers in a task bounded by the request's ttl, cancels them on
a cancel frame, and turns results and exceptions into responses or error frames
encoded by the core.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Protocol

from ringpop.tchannel.api import Endpoint, Request, Response, dump_json, load_json
from ringpop.tchannel.budget import ReceiveBudget
from ringpop.tchannel.core import ConnectionCore
from ringpop.tchannel.deadlines import Deadlines
from ringpop.tchannel.errors import ApplicationError, BadRequestError, ErrorCode, TChannelError
from ringpop.tchannel.fragments import CompleteMessage
from ringpop.tchannel.frames import Cancel
from ringpop.tchannel.options import ChannelOptions

if TYPE_CHECKING:
    from ringpop.tchannel.connection import Connection

__all__ = ["ConnectionHost", "Serving"]

log = logging.getLogger("ringpop.tchannel")


class ConnectionHost(Protocol):
    """What a connection needs from the channel that owns it."""

    options: ChannelOptions

    def init_headers(self) -> dict[str, str]:
        """Headers of our init request/response."""
        ...

    #: Registered endpoints by (service, arg1).
    handlers: dict[tuple[str, bytes], Endpoint]
    #: False once the channel is closing (new calls are declined).
    accepting: bool
    #: The buffer the loop reads into, shared by the channel's connections.
    receive_buffer: memoryview
    #: The bound on unfinished messages over all the channel's connections.
    receive_budget: ReceiveBudget

    def connection_ready(self, conn: Connection) -> None:
        """The handshake of ``conn`` completed."""
        ...

    def connection_closed(self, conn: Connection) -> None:
        """``conn`` is gone."""
        ...


class Serving:
    """Serving the peer's calls; mixed into ``Connection``, which sets these attributes."""

    _host: ConnectionHost
    _options: ChannelOptions
    _loop: asyncio.AbstractEventLoop
    _inbound: dict[int, asyncio.Task[None]]
    _cancel_reasons: dict[int, tuple[int, str]]
    _serve_deadlines: Deadlines
    core: ConnectionCore
    peer: str
    socket_peer: str
    closed: bool

    def _write(self, data: bytes) -> None:
        raise NotImplementedError

    def _on_request(self, message: CompleteMessage) -> None:
        first = message.first
        fid = first.id
        tracing = first.tracing
        if not self._host.accepting:
            self._send_error(fid, ErrorCode.DECLINED, "channel is closing", tracing)
            return
        if fid in self._inbound:
            self._send_error(fid, ErrorCode.BAD_REQUEST, f"duplicate request id {fid}", tracing)
            return
        if len(self._inbound) >= self._options.max_concurrent_requests:
            self._send_error(fid, ErrorCode.BUSY, "too many concurrent requests", tracing)
            return
        service = first.service  # type: ignore[union-attr]
        endpoint = self._host.handlers.get((service, message.arg1))
        if endpoint is None:
            method = message.arg1.decode("utf-8", "replace")
            self._send_error(
                fid,
                ErrorCode.BAD_REQUEST,
                f'no handler for service "{service}" and method "{method}"',
                tracing,
            )
            return
        ttl = first.ttl / 1000.0  # type: ignore[union-attr]
        request = Request(
            service,
            message.arg1,
            message.arg2,
            message.arg3,
            first.headers,
            self.peer or self.socket_peer,
            ttl,
            tracing,
            fid,
            first.checksum_type,
        )
        if endpoint.plain:
            self._serve_now(request, endpoint)
        else:
            self._inbound[fid] = self._loop.create_task(self._serve(request, endpoint))

    @staticmethod
    def _invoke(request: Request, endpoint: Endpoint) -> Any:
        """Call the handler: its result, or an awaitable of it."""
        if endpoint.json:
            try:
                body = load_json(request.arg3)
            except ValueError as exc:
                raise BadRequestError(f"invalid JSON body: {exc}") from None
            return endpoint.handler(request, body)
        return endpoint.handler(request)

    @staticmethod
    def _response(endpoint: Endpoint, result: Any) -> Response:
        if type(result) is Response:
            return result
        if endpoint.json:
            return Response(b"", dump_json(result))
        raise TypeError(f"handler returned {result!r:.80}, not a Response")

    def _serve_now(self, request: Request, endpoint: Endpoint) -> None:
        """Run a plain-function handler right away; await it in a task only if it must."""
        try:
            result = self._invoke(request, endpoint)
            if inspect.isawaitable(result):
                task = self._loop.create_task(self._serve(request, endpoint, result))
                self._inbound[request.id] = task
                return
            response = self._response(endpoint, result)
        except Exception as exc:
            self._handler_failed(request, exc)
            return
        self._respond(request, response)

    async def _serve(
        self, request: Request, endpoint: Endpoint, started: Awaitable[Any] | None = None
    ) -> None:
        """Run a handler as a task, bounded by the request's ttl."""
        fid = request.id
        deadlines = self._serve_deadlines
        deadlines.add(fid, request.ttl)
        try:
            try:
                if started is not None:
                    result = await started
                elif endpoint.json:
                    try:
                        body = load_json(request.arg3)
                    except ValueError as exc:
                        raise BadRequestError(f"invalid JSON body: {exc}") from None
                    result = await endpoint.handler(request, body)
                else:
                    result = await endpoint.handler(request)
                response = result if type(result) is Response else self._response(endpoint, result)
            except asyncio.CancelledError:
                reason = self._cancel_reasons.pop(fid, None)
                if reason is None:
                    raise
                self._send_error(fid, reason[0], reason[1], request.tracing)
                return
            except Exception as exc:
                self._handler_failed(request, exc)
                return
        finally:
            deadlines.discard(fid)
            self._inbound.pop(fid, None)
            if self._cancel_reasons:
                self._cancel_reasons.pop(fid, None)
        self._respond(request, response)

    def _handler_failed(self, request: Request, exc: Exception) -> None:
        """Answer for a handler that raised: app error, its error frame, or unexpected
        (also when the error itself cannot be sent as it is: the caller always hears)."""
        try:
            if isinstance(exc, ApplicationError):
                self._respond(request, Response.application_error(exc.type, exc.message))
                return
            if isinstance(exc, TChannelError):
                self._send_error(request.id, exc.code, exc.message or str(exc), request.tracing)
                return
        except Exception as failed:  # e.g. an error code outside 0..255
            exc = failed
        log.error("handler for %s %r failed", request.service, request.endpoint, exc_info=exc)
        self._send_error(
            request.id, ErrorCode.UNEXPECTED, f"{type(exc).__name__}: {exc}", request.tracing
        )

    def _respond(self, request: Request, response: Response) -> None:
        """Send ``response`` to ``request`` (as echoed, checksum type echoed for 1/3)."""
        if self.closed:
            return
        self._write(self.core.send_response(request, response))

    def _handler_expired(self, fid: int) -> None:
        task = self._inbound.get(fid)
        if task is not None and not task.done():
            self._cancel_reasons[fid] = (ErrorCode.TIMEOUT, "request timed out (ttl expired)")
            task.cancel()

    def _on_cancel(self, frame: Cancel) -> None:
        task = self._inbound.get(frame.id)
        if task is not None and not task.done():
            why = f": {frame.why}" if frame.why else ""
            self._cancel_reasons[frame.id] = (ErrorCode.CANCELLED, f"request cancelled{why}")
            task.cancel()

    def _send_error(self, fid: int, code: int, message: str, tracing: bytes) -> None:
        self._write(self.core.send_error(fid, code, message, tracing))
