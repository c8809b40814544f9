"""Handle-or-forward for ASGI applications (Starlette, FastAPI, any ASGI app).

Two pieces, both pure ASGI (no framework is imported):

* :class:`RingpopMiddleware` wraps the application. For every HTTP request it asks
  the key function for the request's key(s). Requests owned here, and requests with
  no key (``None``), go to the application untouched. Requests owned elsewhere are
  read (up to ``options.body_limit``, else 413 without forwarding), sent to the
  owner with :meth:`Ringpop.handle_or_proxy` (retries, reroute) and the owner's
  response is written back.
* :class:`AsgiHandler` is the ringpop HTTP handler that serves requests forwarded
  to this node (``/proxy/req``): it calls the ASGI application with a scope built
  from the forwarded request, as if it had arrived directly, and collects the
  response. The scope carries a :class:`~ringpop.integrations.ForwardInfo` under
  ``scope["ringpop"]``, which makes the middleware serve it here whatever the ring
  says (a request is forwarded at most once).

:func:`wrap` does both::

    from ringpop.integrations.asgi import path_key, wrap

    app = wrap(app, rp, key=path_key("/objects/{id}"))   # then serve app with uvicorn

With Starlette's ``add_middleware``, set the handler yourself on the outermost app::

    app.add_middleware(RingpopMiddleware, ringpop=rp, key=path_key("/kv/{key}"))
    rp.set_http_handler(AsgiHandler(app))

In a handler, :func:`forward_info` (scope or Starlette ``Request``) tells whether
the request was forwarded, and by which node. WebSocket and lifespan scopes pass
through untouched; forwarded requests carry no ``client`` address.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, TypeAlias, Unpack
from urllib.parse import quote, unquote, urlsplit

from ringpop.forward import ForwardOptions, ForwardOverrides, HttpRequest, HttpResponse
from ringpop.integrations._common import (
    ForwardInfo,
    NotReady,
    collect_response_headers,
    forward_request_headers,
    plain,
    raw_bytes,
    response_header_items,
)
from ringpop.integrations.asgi_keys import (
    ScopeKeyFunc,
    header_key,
    path_key,
    request_key,
    route_key,
)
from ringpop.integrations.flow import ForwardingFlow

if TYPE_CHECKING:
    from ringpop.ringpop import Ringpop

__all__ = [
    "SCOPE_KEY",
    "ASGIApp",
    "AsgiHandler",
    "ClientDisconnectedError",
    "ForwardInfo",
    "RingpopMiddleware",
    "ScopeKeyFunc",
    "forward_info",
    "header_key",
    "path_key",
    "request_key",
    "route_key",
    "wrap",
]

log = logging.getLogger(__name__)

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]

SCOPE_KEY = "ringpop"
"""Scope entry holding the :class:`ForwardInfo` of a request ringpop dispatched."""


def forward_info(scope_or_request: Mapping[str, Any] | Any) -> ForwardInfo | None:
    """The :class:`ForwardInfo` of a request (ASGI scope or Starlette ``Request``).

    ``None`` for a request that arrived directly from a client.
    """
    scope = scope_or_request
    if not isinstance(scope, Mapping):
        scope = getattr(scope_or_request, "scope", {})
    info = scope.get(SCOPE_KEY)
    return info if isinstance(info, ForwardInfo) else None


# -- the middleware (key functions: ringpop.integrations.asgi_keys) ------------------------

_Context: TypeAlias = tuple[Scope, Receive, Send]


class RingpopMiddleware(ForwardingFlow[_Context, None]):
    """ASGI middleware: serve requests whose key is ours, forward the others.

    ``key`` receives the ASGI scope and returns a key, several keys (they must
    share an owner, else 500 ``keys-diverged``) or ``None`` (not sharded).
    ``not_ready`` says what to do with sharded requests before ringpop is ready:
    ``"refuse"`` (503, default) or ``"serve"`` here. ``options`` (a
    :class:`~ringpop.forward.ForwardOptions`), or its fields as keyword arguments
    (``timeout``, ``max_retries``, ``retry_schedule``, ``reroute_retries``,
    ``failover``), override the ringpop forwarding options.
    """

    def __init__(
        self,
        app: ASGIApp,
        ringpop: Ringpop,
        key: ScopeKeyFunc,
        *,
        not_ready: NotReady = "refuse",
        options: ForwardOptions | Mapping[str, Any] | None = None,
        **overrides: Unpack[ForwardOverrides],
    ) -> None:
        if not callable(app):
            raise TypeError(f"app must be an ASGI application, not {app!r:.60}")
        super().__init__(ringpop, key, not_ready, ForwardOptions.of(options, overrides))
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or SCOPE_KEY in scope:
            await self.app(scope, receive, send)
            return
        try:
            await self.dispatch((scope, receive, send))
        except ClientDisconnectedError:
            # nobody to answer, and half a body must not reach the owner
            log.debug("client left while sending %s %s", scope.get("method"), scope.get("path"))

    def subject(self, context: _Context) -> Scope:
        return context[0]

    async def passthrough(self, context: _Context) -> None:
        await self.app(*context)

    async def read_body(self, context: _Context, limit: int) -> bytes | None:
        return await read_body(context[0], context[1], limit)

    def to_request(self, context: _Context, body: bytes) -> HttpRequest:
        return to_http_request(context[0], body)

    async def respond(self, context: _Context, response: HttpResponse) -> None:
        await send_response(context[2], response, context[0])


def wrap(
    app: ASGIApp,
    ringpop: Ringpop,
    key: ScopeKeyFunc,
    *,
    not_ready: NotReady = "refuse",
    options: ForwardOptions | Mapping[str, Any] | None = None,
    **overrides: Unpack[ForwardOverrides],
) -> RingpopMiddleware:
    """``app`` wrapped in :class:`RingpopMiddleware`, also serving forwarded requests.

    Sets ringpop's HTTP handler to an :class:`AsgiHandler` of the wrapped app, so
    requests forwarded here go through every layer of ``app``. ``options`` and the
    keyword ``overrides`` are :class:`RingpopMiddleware`'s.
    """
    wrapped = RingpopMiddleware(
        app, ringpop, key, not_ready=not_ready, options=ForwardOptions.of(options, overrides)
    )
    ringpop.set_http_handler(AsgiHandler(wrapped))
    return wrapped


# -- HTTP message plumbing ----------------------------------------------------------------


def _scope_headers(scope: Scope) -> Iterator[tuple[str, str]]:
    for name, value in scope.get("headers", ()):
        yield bytes(name).decode("latin-1"), bytes(value).decode("latin-1")


def to_http_request(scope: Scope, body: bytes) -> HttpRequest:
    """The :class:`HttpRequest` for an ASGI HTTP scope and its body."""
    raw_path = scope.get("raw_path")
    path = (
        bytes(raw_path).decode("latin-1")
        if raw_path
        else quote(scope.get("path", "/"), safe="/%:@!$&'()*+,;=-._~")
    )
    query = bytes(scope.get("query_string", b""))
    url = f"{path}?{query.decode('latin-1')}" if query else path
    return HttpRequest(
        scope.get("method", "GET"),
        url,
        forward_request_headers(_scope_headers(scope), len(body)),
        body,
        scope.get("http_version", "1.1"),
    )


class ClientDisconnectedError(Exception):
    """The client went away before its whole request body arrived."""


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The request body, or ``None`` when it is longer than ``limit`` bytes;
    :class:`ClientDisconnectedError` if the client leaves before the body's end."""
    for name, value in scope.get("headers", ()):
        if bytes(name).lower() == b"content-length":
            try:
                if int(value) > limit:
                    return None
            except ValueError:
                pass
            break
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnectedError("the client disconnected before the end of its body")
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(bytes(chunk))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def send_response(send: Send, response: HttpResponse, scope: Scope) -> None:
    """Write ``response`` to the client of ``scope``."""
    headers = [
        (raw_bytes(name), raw_bytes(value)) for name, value in response_header_items(response)
    ]
    body = response.body
    if response.status not in (204, 304) and not 100 <= response.status < 200:
        headers.append((b"content-length", str(len(body)).encode()))
    else:
        body = b""
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    if scope.get("method") == "HEAD":
        body = b""
    await send({"type": "http.response.body", "body": body, "more_body": False})


# -- serving forwarded requests -----------------------------------------------------------------


class AsgiHandler:
    """A ringpop HTTP handler that serves requests with an ASGI application.

    ``rp.set_http_handler(AsgiHandler(app))``: requests forwarded to this node (and
    requests a retry brought back here) are turned into an ASGI ``http`` scope
    (method, path, query, headers, body, HTTP version; ``scope["ringpop"]`` holds
    the :class:`ForwardInfo`) and the app's response is collected. ``server`` is
    reported as ``scope["server"]``; ``state`` is copied into ``scope["state"]``
    (for apps that use lifespan state). An app that fails before responding gives
    a 500.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        server: tuple[str, int] | None = None,
        scheme: str = "http",
        state: Mapping[str, Any] | None = None,
    ) -> None:
        self.app = app
        self.server = server
        self.scheme = scheme
        self.state = state

    def scope_for(self, request: HttpRequest) -> Scope:
        """The ASGI scope of a forwarded request."""
        url = request.url
        if url.startswith(("http://", "https://")):
            parts = urlsplit(url)
            path, query = parts.path or "/", parts.query
        else:
            path, _, query = url.partition("?")
            path = path or "/"
        headers: list[tuple[bytes, bytes]] = []
        for name, value in request.headers.items():
            if name == "transfer-encoding":
                continue
            headers.append((raw_bytes(name), raw_bytes(value)))
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": request.http_version,
            "method": request.method.upper(),
            "scheme": self.scheme,
            "path": unquote(path),
            "raw_path": raw_bytes(path),
            "query_string": raw_bytes(query),
            "root_path": "",
            "headers": headers,
            "client": None,
            "server": self.server,
            SCOPE_KEY: ForwardInfo.of(request),
        }
        if self.state is not None:
            scope["state"] = dict(self.state)
        return scope

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            scope = self.scope_for(request)
        except ValueError as error:  # urlsplit: e.g. an unclosed IPv6 bracket
            return plain(400, f"the forwarded request's URL is not usable: {error}")
        body_sent = False
        finished = asyncio.Event()
        status: int | None = None
        raw_headers: list[tuple[str, str]] = []
        chunks: list[bytes] = []
        complete = False

        async def receive() -> Message:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": request.body, "more_body": False}
            await finished.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal status, complete
            kind = message["type"]
            if kind == "http.response.start":
                if status is not None:
                    raise RuntimeError("http.response.start sent twice")
                status = int(message["status"])
                for name, value in message.get("headers", ()):
                    raw_headers.append(
                        (bytes(name).decode("latin-1"), bytes(value).decode("latin-1"))
                    )
            elif kind == "http.response.body":
                if status is None:
                    raise RuntimeError("http.response.body sent before http.response.start")
                chunk = message.get("body", b"")
                if chunk:
                    chunks.append(bytes(chunk))
                if not message.get("more_body", False):
                    complete = True
                    finished.set()

        try:
            await self.app(scope, receive, send)
        except Exception as error:
            log.exception("ASGI app failed on forwarded %s %s", request.method, request.url)
            if status is None or not complete:
                return plain(500, f"the application failed: {error}")
        finally:
            finished.set()
        if status is None:
            return plain(500, "the application returned without a response")
        if not complete:
            return plain(500, "the application did not finish its response")
        return HttpResponse(status, collect_response_headers(iter(raw_headers)), b"".join(chunks))
