"""Handle-or-forward for ``aiohttp.web`` applications.

* :func:`middleware` makes an aiohttp middleware. It runs after routing, so the key
  function gets the ``web.Request`` with its ``match_info``. Requests owned here and
  requests with no key (``None``) go to the handler untouched; requests owned
  elsewhere are read (up to ``options.body_limit``, else 413 without forwarding),
  sent to the owner with :meth:`Ringpop.handle_or_proxy`, and the owner's answer
  is returned.
* :class:`AiohttpHandler` is the ringpop HTTP handler that serves requests forwarded
  to this node: it builds an ``aiohttp.web.Request`` for the forwarded request and
  dispatches it through the application's router and middlewares, as if it had
  arrived directly, then collects the response (``web.Response``,
  ``StreamResponse`` and ``FileResponse`` alike). Such requests carry a
  :class:`~ringpop.integrations.ForwardInfo` (see :func:`forward_info`), so the
  middleware serves them here.

:func:`setup` does both::

    from ringpop.integrations.aiohttp import setup

    app = web.Application()
    app.router.add_get("/objects/{id}", get_object)
    setup(app, rp, key=lambda request: request.match_info.get("id"))

WebSocket upgrades are not forwarded (they are served where they arrive when the
key function returns ``None`` for them). Dispatching a forwarded request needs
aiohttp internals (``Application._make_request``, ``Application._handle``, which the
aiohttp server itself uses); they are isolated in
:mod:`ringpop.integrations._aiohttp_shim`, pinned to a version range and checked by
the test suite against the installed aiohttp.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias, Unpack

from aiohttp import web
from multidict import CIMultiDict

from ringpop.forward import ForwardOptions, ForwardOverrides, HttpRequest, HttpResponse
from ringpop.integrations import _aiohttp_shim as shim
from ringpop.integrations._common import (
    FRAMING_HEADERS,
    ForwardInfo,
    KeyResult,
    NotReady,
    RateLimitedLog,
    Unmatched,
    check_unmatched,
    collect_response_headers,
    forward_request_headers,
    on_unmatched,
    plain,
)
from ringpop.integrations.flow import ForwardingFlow

if TYPE_CHECKING:
    from aiohttp.typedefs import Middleware

    from ringpop.ringpop import Ringpop

__all__ = [
    "FORWARD_INFO",
    "AiohttpHandler",
    "ForwardInfo",
    "RequestKeyFunc",
    "forward_info",
    "header_key",
    "match_info_key",
    "middleware",
    "setup",
]

log = logging.getLogger(__name__)

RequestKeyFunc: TypeAlias = Callable[[web.Request], KeyResult | Awaitable[KeyResult]]
Handler: TypeAlias = Callable[[web.Request], Awaitable[web.StreamResponse]]

FORWARD_INFO: Any = (
    web.RequestKey("ringpop.forward_info", ForwardInfo)
    if hasattr(web, "RequestKey")  # aiohttp >= 3.12; older versions use str keys
    else "ringpop.forward_info"
)
"""Request storage key of the :class:`ForwardInfo` of a request ringpop dispatched."""


def forward_info(request: web.BaseRequest) -> ForwardInfo | None:
    """The :class:`ForwardInfo` of a request; ``None`` if it arrived from a client."""
    info = request.get(FORWARD_INFO)
    return info if isinstance(info, ForwardInfo) else None


def match_info_key(name: str, *, unmatched: Unmatched = "warn") -> RequestKeyFunc:
    """Key from a route's path parameter: ``match_info_key("id")`` for ``/objects/{id}``.

    aiohttp's router has matched the request already, so this is the route's own
    parameter. Routes without it give ``None`` (not sharded, e.g. ``/ready``).
    Requests that match no route at all follow ``unmatched`` (see
    :data:`~ringpop.integrations.Unmatched`; the app answers them 404 anyway).
    """
    policy = check_unmatched(unmatched)
    limiter = RateLimitedLog(log)

    def key(request: web.Request) -> str | None:
        match_info = request.match_info
        if match_info.http_exception is not None:
            on_unmatched(policy, request.path, [f"routes with {{{name}}}"], limiter)
            return None
        return match_info.get(name)

    return key


def header_key(name: str) -> RequestKeyFunc:
    """Key from a request header (``None`` when absent)."""

    def key(request: web.Request) -> str | None:
        return request.headers.get(name)

    return key


# -- the middleware ------------------------------------------------------------------------


_Context: TypeAlias = tuple[web.Request, Handler]


class _Flow(ForwardingFlow[_Context, web.StreamResponse]):
    """The shared handle-or-forward flow on aiohttp's request and response types."""

    def subject(self, context: _Context) -> web.Request:
        return context[0]

    async def passthrough(self, context: _Context) -> web.StreamResponse:
        request, handler = context
        return await handler(request)

    async def read_body(self, context: _Context, limit: int) -> bytes | None:
        return await read_body(context[0], limit)

    def to_request(self, context: _Context, body: bytes) -> HttpRequest:
        return to_http_request(context[0], body)

    async def respond(self, context: _Context, response: HttpResponse) -> web.StreamResponse:
        return to_web_response(response)


def middleware(
    ringpop: Ringpop,
    key: RequestKeyFunc,
    *,
    not_ready: NotReady = "refuse",
    options: ForwardOptions | Mapping[str, Any] | None = None,
    **overrides: Unpack[ForwardOverrides],
) -> Middleware:
    """An aiohttp middleware doing handle-or-forward on ``key(request)``.

    ``key`` returns a key, several keys (they must share an owner, else 500
    ``keys-diverged``) or ``None`` (not sharded). ``not_ready``: what to do with
    sharded requests before ringpop is ready, ``"refuse"`` (503, default) or
    ``"serve"``. ``options`` (a :class:`~ringpop.forward.ForwardOptions`), or its
    fields as keyword arguments, override the ringpop forwarding options.
    """
    flow = _Flow(ringpop, key, not_ready, ForwardOptions.of(options, overrides))

    @web.middleware
    async def ringpop_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if FORWARD_INFO in request:
            return await handler(request)
        return await flow.dispatch((request, handler))

    return ringpop_middleware


def setup(
    app: web.Application,
    ringpop: Ringpop,
    key: RequestKeyFunc,
    *,
    not_ready: NotReady = "refuse",
    options: ForwardOptions | Mapping[str, Any] | None = None,
    **overrides: Unpack[ForwardOverrides],
) -> None:
    """Add the middleware to ``app`` (first) and serve forwarded requests with ``app``.

    Call before the application starts (aiohttp freezes its middleware list).
    """
    app.middlewares.insert(
        0,
        middleware(
            ringpop, key, not_ready=not_ready, options=ForwardOptions.of(options, overrides)
        ),
    )
    ringpop.set_http_handler(AiohttpHandler(app))


async def read_body(request: web.BaseRequest, limit: int) -> bytes | None:
    """The request body, or ``None`` when it is longer than ``limit`` bytes."""
    length = request.content_length
    if length is not None and length > limit:
        return None
    if not request.body_exists:
        return b""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(65536)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def to_http_request(request: web.BaseRequest, body: bytes) -> HttpRequest:
    """The :class:`HttpRequest` for an aiohttp request and its body.

    Header values are the client's bytes one character a byte (Latin-1, as ASGI's
    and ringpop-node's): aiohttp's own decoding (UTF-8, surrogates for other bytes)
    made a header such as ``café`` in Latin-1 impossible to send on (a 500)."""
    version = request.version
    headers = ((k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers)
    return HttpRequest(
        request.method,
        request.raw_path,
        forward_request_headers(headers, len(body)),
        body,
        f"{version.major}.{version.minor}",
    )


def to_web_response(response: HttpResponse) -> web.Response:
    """An aiohttp response for an :class:`HttpResponse`."""
    headers: CIMultiDict[str] = CIMultiDict()
    add = headers.add
    for name, value in response.headers.items():
        if name.lower() in FRAMING_HEADERS:
            continue
        if value.__class__ is str:
            add(name, value)
        else:
            for item in value:
                add(name, item)
    return web.Response(status=response.status, body=response.body, headers=headers)


# -- serving forwarded requests ---------------------------------------------------------------


class AiohttpHandler:
    """A ringpop HTTP handler that serves requests with an ``aiohttp.web`` application.

    ``rp.set_http_handler(AiohttpHandler(app))``: each forwarded request becomes a
    ``web.Request`` (method, path, query, headers, body, HTTP version; no peer
    address) carrying its :class:`ForwardInfo` under :data:`FORWARD_INFO`, goes
    through the app's router and middlewares, and the response is collected.
    ``HTTPException`` raised by a handler is its response; other exceptions give 500.
    The app must be running (503 before it starts).
    """

    def __init__(self, app: web.Application) -> None:
        self.app = app

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        app = self.app
        if not app.frozen:
            return plain(503, "the aiohttp application is not running yet")
        dispatch = shim.Dispatch()
        try:
            message = shim.request_message(
                request.method, request.url, request.http_version, request.headers
            )
        except ValueError as error:  # yarl: e.g. an unclosed IPv6 bracket
            return plain(400, f"the forwarded request's URL is not usable: {error}")
        web_request = shim.make_request(app, message, request.body, dispatch)
        web_request[FORWARD_INFO] = ForwardInfo.of(request)
        try:
            response = await shim.handle(app, web_request)
        except web.HTTPException as error:
            response = error
        except Exception as error:
            log.exception("aiohttp app failed on forwarded %s %s", request.method, request.url)
            return plain(500, f"the application failed: {error}")
        if not isinstance(response, web.StreamResponse):
            log.error("aiohttp handler returned %r instead of a response", response)
            return plain(500, "the handler did not return a response")
        writer = dispatch.writer
        try:
            await response.prepare(web_request)
            await response.write_eof()
        except Exception as error:
            log.exception("aiohttp response failed on forwarded %s %s", request.method, request.url)
            return plain(500, f"the response could not be produced: {error}")
        finally:
            shim.finish(web_request)
        headers = collect_response_headers(iter(writer.headers.items()))
        if writer.compression_dropped:
            headers.pop("content-encoding", None)
        return HttpResponse(response.status, headers, b"".join(writer.chunks))
