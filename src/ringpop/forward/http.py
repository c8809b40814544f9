"""Handle-or-proxy for HTTP requests, ringpop-node style (``/proxy/req``, spec §5.8).

A request whose key belongs to another node is packed into a TChannel call to that
node's ``/proxy/req``: arg2 is a JSON "head" (url, headers, method, httpVersion,
our ring checksum, the keys), arg3 the raw body. The owner checks the ring
checksum (and optionally key ownership and its load), hands the request to the
application's handler and answers with ``{"statusCode", "headers"}`` + body.

Failures are retried on ``retry_schedule`` after looking the keys up again: a new
owner means a reroute, ourselves means handling locally, several owners abort
(``keys-diverged``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec

from ringpop.errors import RingpopError
from ringpop.events import (
    ChecksumsDiffer,
    EventEmitter,
    RequestProxied,
    RetryAborted,
    RetryAttempted,
    RetryFailed,
    RetryRerouted,
    RetryScheduled,
    RetrySucceeded,
)
from ringpop.membership.node import SwimNode
from ringpop.messages import MessageError
from ringpop.options import Options
from ringpop.receiving import receive
from ringpop.tchannel import Request, Response, TChannelError
from ringpop.tchannel.api import CODE_APPLICATION_ERROR
from ringpop.tchannel.errors import CallTimeoutError, DeclinedError, NetworkError, UnhealthyError
from ringpop.transport import Transport

__all__ = [
    "HttpHandler",
    "HttpRequest",
    "HttpResponse",
    "ProxyError",
    "RequestProxy",
]

log = logging.getLogger(__name__)

SERVICE = "ringpop"
ENDPOINT = "/proxy/req"


class HttpRequest(msgspec.Struct):
    """A framework-neutral HTTP request.

    ``url`` is what the request line carried (path and query, e.g. ``/a?b=1``);
    header names are lower-case, repeated headers joined with ``", "`` (as node's
    ``req.headers``). On the owner, a request that arrived through ``/proxy/req``
    has ``source`` set to the ringpop address of the node that forwarded it and
    ``keys`` to the keys it was forwarded for.
    """

    method: str
    url: str
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    body: bytes = b""
    http_version: str = "1.1"
    source: str | None = None
    keys: tuple[str, ...] = ()

    @property
    def forwarded(self) -> bool:
        """Whether this request was forwarded to us by another node."""
        return self.source is not None


class HttpResponse(msgspec.Struct):
    """A framework-neutral HTTP response.

    Header names are lower-case; a list value is a header sent several times
    (``set-cookie``).
    """

    status: int = 200
    headers: dict[str, str | list[str]] = msgspec.field(default_factory=dict)
    body: bytes = b""


HttpHandler = Callable[[HttpRequest], Awaitable[HttpResponse]]


class ProxyError(RingpopError):
    """Forwarding failed; ``type`` is ringpop-node's error type, ``status`` the HTTP status,
    ``retry_after`` (seconds) what to tell the client when trying later may work."""

    def __init__(
        self, type: str, message: str, status: int = 500, *, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.type = type
        self.message = message
        self.status = status
        self.retry_after = retry_after

    def as_response(self) -> HttpResponse:
        """The HTTP answer for the original client: status and message body (as node),
        the error type in ``x-ringpop-error`` and, if set, ``retry-after``."""
        headers: dict[str, str | list[str]] = {
            "content-type": "text/plain; charset=utf-8",
            "x-ringpop-error": self.type,
        }
        if self.retry_after is not None:
            headers["retry-after"] = str(self.retry_after)
        return HttpResponse(self.status, headers, self.message.encode())


class _Head(msgspec.Struct, rename="camel"):
    """The arg2 of a ``/proxy/req`` call; every field may be missing or unusable (§1.1)."""

    url: str = "/"
    headers: dict[str, Any] = {}
    method: str = "GET"
    http_version: str = "1.1"
    ringpop_checksum: int | None = None
    ringpop_keys: list[str] = []
    """Non-string keys are dropped alone."""


class _ResponseHead(msgspec.Struct, rename="camel"):
    status_code: int = 200
    headers: dict[str, Any] = {}


_UNREACHABLE = (NetworkError, CallTimeoutError, DeclinedError, UnhealthyError)
"""Transport failures after which another owner may serve the request."""

_encode = msgspec.json.Encoder().encode


def _text(value: Any) -> str:
    # node's res.setHeader() accepts numbers, and they reach the JSON head as such.
    return value if isinstance(value, str) else str(value)


def _flat(headers: dict[str, Any]) -> dict[str, str]:
    """Request headers: lower-case names, repeated values joined with ", "."""
    flat: dict[str, str] = {}
    for name, value in headers.items():
        if value is None:
            continue
        text = ", ".join(map(_text, value)) if isinstance(value, list) else _text(value)
        key = name.lower()
        flat[key] = f"{flat[key]}, {text}" if key in flat else text
    return flat


def _response_headers(headers: dict[str, Any]) -> dict[str, str | list[str]]:
    """Response headers: lower-case names; lists (e.g. set-cookie) stay lists."""
    out: dict[str, str | list[str]] = {}
    for name, value in headers.items():
        if value.__class__ is str and name.islower() and name not in out:  # the usual case
            out[name] = value
            continue
        if value is None:
            continue
        key = name.lower()
        new: str | list[str] = (
            [_text(v) for v in value] if isinstance(value, list) else _text(value)
        )
        old = out.get(key)
        if old is None:
            out[key] = new
        else:
            out[key] = [
                *(old if isinstance(old, list) else [old]),
                *(new if isinstance(new, list) else [new]),
            ]
    return out


class _AttemptError(Exception):
    """One forwarding attempt failed (transport or remote error).

    ``unreachable``: the destination refused the connection, dropped it or did not
    answer in time (a transport failure), as opposed to answering with an error.
    """

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable
        self.ring_differs = message.startswith(_INVALID_CHECKSUM)
        """The owner refused because its ring differs from ours (a change is spreading)."""


_INVALID_CHECKSUM = "ringpop.request-proxy.invalid-checksum"
RING_SETTLE_DELAY = 0.05
"""While rings differ (a change is spreading), wait this long before trying again..."""
RING_SETTLE_TRIES = 20
"""...at most this many times per request (1 s) before the retry schedule applies."""


FAILOVER_DEPTH = 3
"""Owners tried for a key, in ``lookup_n`` order, before waiting for the ring."""


class RequestProxy:
    """The node-style forwarding of one ringpop node (sender and receiver)."""

    def __init__(
        self,
        node: SwimNode,
        channel: Transport,
        events: EventEmitter,
        options: Options,
        handler: HttpHandler | None = None,
    ) -> None:
        self.node = node
        self.channel = channel
        self.events = events
        self.options = options
        self.handler = handler
        self.inflight = 0
        self.event_loop_lag = 0.0
        self._lag_task: asyncio.Task[None] | None = None

    # -- sender --------------------------------------------------------------------------

    async def handle_or_proxy(
        self,
        keys: str | Sequence[str],
        request: HttpRequest,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        retry_schedule: Sequence[float] | None = None,
        skip_lookup_on_retry: bool | None = None,
    ) -> HttpResponse:
        """Serve ``request`` here if we own its key(s), else forward it to the owner.

        Errors become HTTP responses (``ProxyError.status`` and its message), so
        the return value can always be sent to the client.
        """
        key_list = [keys] if isinstance(keys, str) else list(keys)
        try:
            destination = self._owner(key_list)
            if destination == self.node.address:
                return await self._local(request)
            return await self.proxy(
                key_list,
                request,
                destination,
                timeout=timeout,
                max_retries=max_retries,
                retry_schedule=retry_schedule,
                skip_lookup_on_retry=skip_lookup_on_retry,
            )
        except ProxyError as error:
            return error.as_response()

    def _owner(self, keys: Sequence[str]) -> str:
        if not keys:
            raise ProxyError(
                "ringpop.request-proxy.keys-required", "at least one key is required", 400
            )
        ring = self.node.ring
        if len(keys) == 1:
            return ring.lookup(keys[0]) or self.node.address
        owners = {ring.lookup(key) or self.node.address for key in keys}
        if len(owners) > 1:
            raise ProxyError(
                "ringpop.request-proxy.keys-diverged",
                f"keys belong to different nodes: {', '.join(sorted(owners))}",
            )
        return owners.pop()

    async def _local(self, request: HttpRequest) -> HttpResponse:
        if self.handler is None:
            raise ProxyError("ringpop.request-proxy.no-handler", "no request handler is registered")
        try:
            return await self.handler(request)
        except Exception as error:
            log.exception(
                "%s: request handler failed for %s %s",
                self.node.address,
                request.method,
                request.url,
            )
            return HttpResponse(
                500, {"content-type": "text/plain; charset=utf-8"}, str(error).encode()
            )

    async def proxy(
        self,
        keys: Sequence[str],
        request: HttpRequest,
        destination: str,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        retry_schedule: Sequence[float] | None = None,
        skip_lookup_on_retry: bool | None = None,
        failover: bool | None = None,
    ) -> HttpResponse:
        """Forward ``request`` to ``destination`` with retries; raises :class:`ProxyError`.

        When the destination cannot be reached (connection refused or dropped,
        timeout) and ``failover`` allows it (default: the request's method is in
        ``options.proxy_failover_methods``), the request goes at once to the key's
        next owner in ``lookup_n`` order (ourselves included) instead of waiting on
        the retry schedule for the ring to drop the dead node. When nothing could
        serve it, 503 with ``Retry-After`` (``max-retries-exceeded``).
        """
        options = self.options
        if len(request.body) > options.body_limit:
            raise ProxyError(
                "ringpop.request-proxy.body-too-large",
                f"request body of {len(request.body)} bytes exceeds the limit of "
                f"{options.body_limit} bytes",
                413,
            )
        timeout = options.proxy_timeout if timeout is None else timeout
        retries = options.proxy_max_retries if max_retries is None else max_retries
        schedule = tuple(options.proxy_retry_schedule if retry_schedule is None else retry_schedule)
        skip_lookup = (
            options.skip_lookup_on_retry if skip_lookup_on_retry is None else skip_lookup_on_retry
        )
        if failover is None:
            failover = request.method.upper() in options.proxy_failover_methods
        key_tuple = tuple(keys)
        unreachable: set[str] = set()
        settle_tries = RING_SETTLE_TRIES
        attempt = 0  # retries of the schedule used
        tries = 0  # every retry, for the events
        while True:
            ring_differs = False
            try:
                response = await self._attempt(key_tuple, request, destination, timeout)
            except _AttemptError as error:
                last_error = str(error)
                ring_differs = error.ring_differs
                if error.unreachable:
                    unreachable.add(destination)
            else:
                if tries:
                    self.events.emit(RetrySucceeded(key_tuple, tries, destination))
                    self.node.stats.increment("requestProxy.retry.succeeded")
                return response
            if failover and destination in unreachable:
                alternate = self._alternate(key_tuple, unreachable)
                if alternate is not None:  # bounded: each pass adds one to `unreachable`
                    self.events.emit(RetryRerouted(key_tuple, tries, destination, alternate))
                    self.node.stats.increment("requestProxy.failover")
                    if alternate == self.node.address:
                        return await self._local(request)
                    destination = alternate
                    continue
            if ring_differs and settle_tries > 0 and not skip_lookup:
                # Rings differ for the moment gossip takes to spread a change: try again
                # soon (bounded) rather than after the schedule's seconds.
                settle_tries -= 1
                tries += 1
                self.events.emit(RetryScheduled(key_tuple, tries, RING_SETTLE_DELAY, last_error))
                await asyncio.sleep(RING_SETTLE_DELAY)
                owner = self._retry_destination(key_tuple, tries, unreachable, failover)
                if owner != destination:
                    self.events.emit(RetryRerouted(key_tuple, tries, destination, owner))
                    if owner == self.node.address:
                        return await self._local(request)
                    destination = owner
                self.events.emit(RetryAttempted(key_tuple, tries, destination))
                continue
            attempt += 1
            if attempt > retries:
                break
            tries += 1
            delay = schedule[min(attempt - 1, len(schedule) - 1)] if schedule else 0.0
            self.events.emit(RetryScheduled(key_tuple, tries, delay, last_error))
            self.node.stats.increment("requestProxy.retry.scheduled")
            await asyncio.sleep(delay)
            if not skip_lookup:
                owner = self._retry_destination(key_tuple, tries, unreachable, failover)
                if owner != destination:
                    self.events.emit(RetryRerouted(key_tuple, tries, destination, owner))
                    self.node.stats.increment("requestProxy.retry.reroute")
                    if owner == self.node.address:
                        return await self._local(request)
                    destination = owner
            self.events.emit(RetryAttempted(key_tuple, tries, destination))
        self.events.emit(RetryFailed(key_tuple, retries, last_error))
        self.node.stats.increment("requestProxy.retry.failed")
        raise ProxyError(
            "ringpop.request-proxy.max-retries-exceeded",
            f"Max number of retries exceeded. {retries} were attempted ({last_error})",
            503,
            retry_after=1,
        )

    def _retry_destination(
        self, keys: tuple[str, ...], tries: int, unreachable: set[str], failover: bool
    ) -> str:
        """The owner of ``keys`` now, or its first reachable next owner with failover;
        ``ProxyError`` (and a :class:`RetryAborted` event) when the keys diverged."""
        try:
            owner = self._owner(keys)
        except ProxyError as error:
            self.events.emit(RetryAborted(keys, tries, error.message))
            self.node.stats.increment("requestProxy.retry.aborted")
            raise
        if failover and owner in unreachable:
            owner = self._alternate(keys, unreachable) or owner
        return owner

    def _alternate(self, keys: tuple[str, ...], unreachable: set[str]) -> str | None:
        """The first of the first key's next owners that did not fail us, or ``None``."""
        for candidate in self.node.ring.lookup_n(keys[0], FAILOVER_DEPTH):
            if candidate not in unreachable:
                return candidate
        return None

    async def _attempt(
        self, keys: tuple[str, ...], request: HttpRequest, destination: str, timeout: float
    ) -> HttpResponse:
        head = _encode(
            {
                "url": request.url,
                "headers": request.headers,
                "method": request.method,
                "httpVersion": request.http_version,
                "ringpopChecksum": self.node.ring.checksum,
                "ringpopKeys": list(keys),
            }
        )
        started = time.monotonic()
        ok = False
        try:
            response = await self.channel.call(
                destination, SERVICE, ENDPOINT, head, request.body, timeout=timeout, scheme="raw"
            )
            if not response.ok:
                raise _AttemptError(_error_text(response.arg3))
            try:
                response_head = (
                    receive(response.arg2, _ResponseHead).message
                    if response.arg2.strip()
                    else _ResponseHead()
                )
            except MessageError as error:
                raise _AttemptError(f"bad response head from {destination}: {error}") from None
            ok = True
            return HttpResponse(
                response_head.status_code, _response_headers(response_head.headers), response.arg3
            )
        except TChannelError as error:
            raise _AttemptError(
                f"{destination}: {error}", unreachable=isinstance(error, _UNREACHABLE)
            ) from None
        finally:
            elapsed = time.monotonic() - started
            stats = self.node.stats
            stats.increment("requestProxy.send.success" if ok else "requestProxy.send.error")
            stats.timing("requestProxy.send", elapsed * 1000.0)
            if self.events.wants(RequestProxied):
                self.events.emit(RequestProxied(keys, destination, ENDPOINT, ok, elapsed))

    # -- receiver ------------------------------------------------------------------------

    async def serve(self, request: Request) -> Response:
        """The ``/proxy/req`` handler (register it on the channel for service ``ringpop``)."""
        node = self.node
        try:
            head = (
                node.guard.accept(request.remote, receive(request.arg2, _Head))
                if request.arg2.strip()
                else _Head()
            )
        except MessageError as error:
            return Response.application_error(
                "ringpop.request-proxy.bad-head", f"cannot read the request head: {error}"
            )
        local = node.ring.checksum
        if head.ringpop_checksum is not None and head.ringpop_checksum != local:
            node.stats.increment("requestProxy.checksumsDiffer")
            self.events.emit(ChecksumsDiffer(local, head.ringpop_checksum, request.remote))
            if self.options.enforce_consistency:
                return _error_response(
                    "ringpop.request-proxy.invalid-checksum",
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
                if self.options.enforce_key_consistency:
                    return _error_response(
                        "ringpop.request-proxy.invalid-key",
                        "Expected the local node to resolve to the forwarded key.\n"
                        f"A lookup resulted in {owner} instead of {node.address}.",
                    )
        if self.options.backpressure_enabled and (
            self.inflight >= self.options.max_inflight_requests
            or self.event_loop_lag > self.options.max_event_loop_lag
        ):
            node.stats.increment("requestProxy.backpressure")
            return Response(
                _encode({"statusCode": 429, "headers": {}}),
                _encode(
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
            _flat(head.headers),
            request.arg3,
            head.http_version,
            request.remote,
            tuple(head.ringpop_keys),
        )
        self.inflight += 1
        try:
            response = await self.handler(http_request)
        except Exception as error:
            log.exception(
                "%s: request handler failed for %s %s", node.address, head.method, head.url
            )
            response = HttpResponse(
                500, {"content-type": "text/plain; charset=utf-8"}, str(error).encode()
            )
        finally:
            self.inflight -= 1
        node.stats.increment("requestProxy.recv")
        return Response(
            _encode({"statusCode": response.status, "headers": response.headers}), response.body
        )

    def start_lag_sampler(self) -> None:
        """Measure event-loop lag for backpressure (only when it is enabled)."""
        if self.options.backpressure_enabled and self._lag_task is None:
            self._lag_task = self.node.spawn(self._sample_lag())

    async def _sample_lag(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.options.lag_sample_interval
        while True:
            started = loop.time()
            await asyncio.sleep(interval)
            self.event_loop_lag = max(0.0, loop.time() - started - interval)


def _error_response(type: str, message: str, **fields: Any) -> Response:
    return Response(
        b"", _encode({"type": type, "message": message, **fields}), CODE_APPLICATION_ERROR
    )


def _error_text(body: bytes) -> str:
    try:
        error = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body.decode("utf-8", "replace")
    if isinstance(error, dict):
        return f"{error.get('type', 'error')}: {error.get('message', '')}"
    return str(error)
