"""Handle-or-proxy for HTTP requests, ringpop-node style (``/proxy/req``, spec §5.8).

The sender looks the key(s) up (:mod:`~ringpop.forward.ownership`), serves requests
it owns with the application's handler and sends the others to the owner, retrying
through the shared :class:`~ringpop.forward.retrying.Retrier`: failures are retried on
``retry_schedule`` after looking the keys up again, a new owner means a reroute,
ourselves means handling locally, several owners abort (``keys-diverged``). The
receiver checks the ring checksum (and optionally key ownership and its load), hands
the request to the handler and answers with ``{"statusCode", "headers"}`` + body.
Instrumentation is the events of :mod:`ringpop.forward.events`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from ringpop.clock import Clock
from ringpop.eventbus import EventEmitter
from ringpop.forward.events import ChecksumsDiffer, ProxyOverloaded, ProxyServed
from ringpop.forward.http import (
    ENDPOINT,
    INVALID_CHECKSUM,
    SERVICE,
    Head,
    HttpHandler,
    HttpRequest,
    HttpResponse,
    ProxyError,
    ResponseHead,
    checked_request,
    encode,
    error_response,
    error_text,
    flat_headers,
    request_head,
    response_headers,
    run_handler,
)
from ringpop.forward.ownership import OwnershipError, key_list
from ringpop.forward.policy import DEFAULT_OPTIONS, ForwardOptions
from ringpop.forward.retrying import AttemptError, Retrier, RetriesExhaustedError
from ringpop.membership.node import SwimNode
from ringpop.messages import MessageError
from ringpop.options import Options
from ringpop.receiving import receive
from ringpop.tchannel import Request, Response, TChannelError, too_large
from ringpop.tchannel.errors import CallTimeoutError, DeclinedError, NetworkError, UnhealthyError
from ringpop.transport import Transport

__all__ = ["RequestProxy"]

log = logging.getLogger(__name__)

_UNREACHABLE = (NetworkError, CallTimeoutError, DeclinedError, UnhealthyError)
"""Transport failures after which another owner may serve the request."""

_TEXT = {"content-type": "text/plain; charset=utf-8"}


class RequestProxy:
    """The node-style forwarding of one ringpop node (sender and receiver)."""

    def __init__(
        self,
        node: SwimNode,
        channel: Transport,
        events: EventEmitter,
        options: Options,
        handler: HttpHandler | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.node = node
        self.channel = channel
        self.events = events
        self.options = options
        self.handler = handler
        self.clock: Clock = clock if clock is not None else node.clock
        self.retrier = Retrier(node.ring, node.address, events, self.clock, "node")
        self.inflight = 0
        self.event_loop_lag = 0.0
        self._lag_task: asyncio.Task[None] | None = None

    # -- sender --------------------------------------------------------------------------

    async def handle_or_proxy(
        self,
        keys: str | Sequence[str],
        request: HttpRequest,
        options: ForwardOptions = DEFAULT_OPTIONS,
    ) -> HttpResponse:
        """Serve ``request`` here if we own its key(s), else forward it to the owner.

        Errors become HTTP responses (``ProxyError.status`` and its message), so
        the return value can always be sent to the client. A request of the wrong
        types is a ``TypeError`` here, owned or not (:func:`checked_request`).
        """
        request = checked_request(request)
        wanted = key_list(keys)
        try:
            destination = self._owner(wanted)
            if destination == self.node.address:
                return await self._local(request)
            return await self.proxy(wanted, request, destination, options)
        except ProxyError as error:
            return error.as_response()

    def _owner(self, keys: Sequence[str]) -> str:
        try:
            return self.retrier.owner(keys)
        except OwnershipError as error:
            if error.no_keys:
                raise ProxyError("ringpop.request-proxy.keys-required", str(error), 400) from None
            raise ProxyError("ringpop.request-proxy.keys-diverged", str(error)) from None

    async def _local(self, request: HttpRequest) -> HttpResponse:
        if self.handler is None:
            raise ProxyError("ringpop.request-proxy.no-handler", "no request handler is registered")
        try:
            return await run_handler(self.handler, request)
        except Exception as error:
            log.exception(
                "%s: request handler failed for %s %s",
                self.node.address,
                request.method,
                request.url,
            )
            return HttpResponse(500, dict(_TEXT), str(error).encode())

    async def proxy(
        self,
        keys: Sequence[str],
        request: HttpRequest,
        destination: str,
        options: ForwardOptions = DEFAULT_OPTIONS,
    ) -> HttpResponse:
        """Forward ``request`` to ``destination`` with retries; raises :class:`ProxyError`.

        When the destination cannot be reached (connection refused or dropped,
        timeout) and ``options.failover`` allows it (default: the request's method is
        in ``Options.proxy_failover_methods``), the request goes at once to the key's
        next owner in ``lookup_n`` order (ourselves included) instead of waiting on
        the retry schedule for the ring to drop the dead node. When nothing could
        serve it, 503 with ``Retry-After`` (``max-retries-exceeded``).
        """
        config = self.options
        if len(request.body) > config.body_limit:
            raise ProxyError(
                "ringpop.request-proxy.body-too-large",
                f"request body of {len(request.body)} bytes exceeds the limit of "
                f"{config.body_limit} bytes",
                413,
            )
        timeout = config.proxy_timeout if options.timeout is None else options.timeout
        failover = options.failover
        if failover is None:
            failover = request.method.upper() in config.proxy_failover_methods
        key_tuple = tuple(keys)
        node = self.node
        channel = self.channel

        async def send(to: str) -> HttpResponse:
            try:
                arg2 = request_head(request, node.ring.checksum, key_tuple)
            except UnicodeEncodeError as error:  # lone surrogates: no JSON can carry them
                raise ProxyError(
                    "ringpop.request-proxy.bad-request",
                    f"the request's URL or headers cannot be sent: {error}",
                    400,
                ) from None
            try:
                response = await channel.call(
                    to, SERVICE, ENDPOINT, arg2, request.body, timeout=timeout, scheme="raw"
                )
            except ValueError as error:  # body_limit above what one call carries
                raise ProxyError("ringpop.request-proxy.body-too-large", str(error), 413) from None
            except TChannelError as error:
                if too_large(error):  # the owner's limit or the answer: fails every time
                    message = f"{to}: {error}"
                    raise ProxyError("ringpop.request-proxy.too-large", message, 502) from None
                raise AttemptError(
                    f"{to}: {error}",
                    unreachable=isinstance(error, _UNREACHABLE),
                    final=channel.closed,
                ) from None
            if not response.ok:
                message = error_text(response.arg3)
                raise AttemptError(message, ring_differs=message.startswith(INVALID_CHECKSUM))
            try:
                head = (
                    receive(response.arg2, ResponseHead).message
                    if response.arg2.strip()
                    else ResponseHead()
                )
            except MessageError as error:
                raise AttemptError(f"bad response head from {to}: {error}") from None
            return HttpResponse(head.status_code, response_headers(head.headers), response.arg3)

        async def local() -> HttpResponse:
            return await self._local(request)

        try:
            return await self.retrier.run(
                key_tuple,
                destination,
                send,
                options.proxy_policy(config),
                endpoint=ENDPOINT,
                failover=failover,
                local=local,
            )
        except OwnershipError as error:
            raise ProxyError("ringpop.request-proxy.keys-diverged", str(error)) from None
        except RetriesExhaustedError as error:
            raise ProxyError(
                "ringpop.request-proxy.max-retries-exceeded",
                f"Max number of retries exceeded. {error.retries} were attempted ({error.error})",
                503,
                retry_after=1,
            ) from None

    # -- receiver ------------------------------------------------------------------------

    async def serve(self, request: Request) -> Response:
        """The ``/proxy/req`` handler (register it on the channel for service ``ringpop``)."""
        node = self.node
        config = self.options
        try:
            head = (
                node.guard.accept(request.remote, receive(request.arg2, Head))
                if request.arg2.strip()
                else Head()
            )
        except MessageError as error:
            return Response.application_error(
                "ringpop.request-proxy.bad-head", f"cannot read the request head: {error}"
            )
        local = node.ring.checksum
        if head.ringpop_checksum is not None and head.ringpop_checksum != local:
            self.events.emit(ChecksumsDiffer(local, head.ringpop_checksum, request.remote))
            if config.enforce_consistency:
                return error_response(
                    INVALID_CHECKSUM,
                    "Expected the remote checksum to match local checksum.\n"
                    f"The expected checksum ({local}) did not match actual checksum "
                    f"({head.ringpop_checksum}).\n",
                    expected=local,
                    actual=head.ringpop_checksum,
                )
        for key in head.ringpop_keys:
            owner = node.ring.lookup(key)
            if owner is not None and owner != node.address:
                log.info("%s: forwarded key %r belongs to %s", node.address, key, owner)
                if config.enforce_key_consistency:
                    return error_response(
                        "ringpop.request-proxy.invalid-key",
                        "Expected the local node to resolve to the forwarded key.\n"
                        f"A lookup resulted in {owner} instead of {node.address}.",
                    )
        if config.backpressure_enabled and (
            self.inflight >= config.max_inflight_requests
            or self.event_loop_lag > config.max_event_loop_lag
        ):
            self.events.emit(ProxyOverloaded(request.remote, self.inflight, self.event_loop_lag))
            return Response(
                encode({"statusCode": 429, "headers": {}}),
                encode(
                    {
                        "type": "ringpop.request-proxy.too-many-requests",
                        "message": "Too many requests: the node is overloaded",
                    }
                ),
            )
        if self.handler is None:
            return Response.application_error(
                "ringpop.request-proxy.no-handler", "no request handler is registered"
            )
        http_request = HttpRequest(
            head.method,
            head.url,
            flat_headers(head.headers),
            request.arg3,
            head.http_version,
            request.remote,
            tuple(head.ringpop_keys),
        )
        self.inflight += 1
        try:
            response = await run_handler(self.handler, http_request)
        except Exception as error:
            log.exception(
                "%s: request handler failed for %s %s", node.address, head.method, head.url
            )
            response = HttpResponse(500, dict(_TEXT), str(error).encode())
        finally:
            self.inflight -= 1
        head_bytes = encode({"statusCode": response.status, "headers": response.headers})
        room = self.options.max_arg_size - len(ENDPOINT)
        size = len(head_bytes) + len(response.body)
        if size > room:  # not sendable: the caller would retry
            why = f"the response of {size} bytes is more than one call carries ({room})"
            log.warning("%s: %s %s: %s", node.address, head.method, head.url, why)
            response = HttpResponse(502, dict(_TEXT), why.encode())
            head_bytes = encode({"statusCode": response.status, "headers": response.headers})
        if self.events.wants(ProxyServed):
            self.events.emit(ProxyServed(request.remote, response.status))
        return Response(head_bytes, response.body)

    def start_lag_sampler(self) -> None:
        """Measure event-loop lag for backpressure (only when it is enabled)."""
        if self.options.backpressure_enabled and self._lag_task is None:
            self._lag_task = self.node.spawn(self._sample_lag())

    async def _sample_lag(self) -> None:
        clock = self.clock
        interval = self.options.lag_sample_interval
        while True:
            started = clock.monotonic()
            await clock.sleep(interval)
            self.event_loop_lag = max(0.0, clock.monotonic() - started - interval)
