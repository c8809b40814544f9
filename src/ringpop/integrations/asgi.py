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
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import quote, unquote, urlsplit

from ringpop.forward import HttpRequest, HttpResponse
from ringpop.integrations._common import (
    UNMATCHED_ERROR,
    ForwardInfo,
    ForwardOptions,
    KeyResult,
    NotReady,
    RateLimitedLog,
    Unmatched,
    UnmatchedKeyError,
    check_unmatched,
    collect_response_headers,
    decide,
    forward_request_headers,
    on_unmatched,
    plain,
    resolve_keys,
    response_header_items,
)

if TYPE_CHECKING:
    from starlette.requests import Request as StarletteRequest

    from ringpop.ringpop import Ringpop

__all__ = [
    "SCOPE_KEY",
    "ASGIApp",
    "AsgiHandler",
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
ScopeKeyFunc: TypeAlias = Callable[[Scope], KeyResult | Awaitable[KeyResult]]
"""Gets the ASGI scope of a request (read-only: the body is not available)."""

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


# -- key functions ---------------------------------------------------------------------

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::(str|path|int))?\}")


def _compile(pattern: str, param: str | None) -> tuple[re.Pattern[str], str]:
    names: list[str] = []
    regex = ["^"]
    position = 0
    for match in _PARAM.finditer(pattern):
        regex.append(re.escape(pattern[position : match.start()]))
        name, kind = match.group(1), match.group(2) or "str"
        names.append(name)
        regex.append(
            f"(?P<{name}>{'.+' if kind == 'path' else '[0-9]+' if kind == 'int' else '[^/]+'})"
        )
        position = match.end()
    regex.append(re.escape(pattern[position:]) + "$")
    if not names:
        raise ValueError(f"path pattern {pattern!r} has no {{parameter}}")
    wanted = names[-1] if param is None else param
    if wanted not in names:
        raise ValueError(f"path pattern {pattern!r} has no parameter {wanted!r}")
    return re.compile("".join(regex)), wanted


def path_key(
    pattern: str | Sequence[str],
    param: str | None = None,
    *,
    unmatched: Unmatched = "warn",
) -> ScopeKeyFunc:
    """Key from a path parameter: ``path_key(["/counters/{name}", "/counters/{name}/incr"])``.

    ``pattern`` is one pattern or a list, tried in order, in Starlette's syntax
    (``{name}`` is one segment, ``{name:path}`` the rest of the path, ``{name:int}``
    digits). ``param`` names
    the parameter that is the key (default: each pattern's only or last one).
    ``unmatched`` says what happens to a path that matches no pattern (see
    :data:`~ringpop.integrations.Unmatched`): by default it is served where it
    arrived, not sharded, and a WARNING says so (rate-limited). To take the patterns
    from the application's own routes instead, use :func:`route_key`.
    """
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    if not patterns:
        raise ValueError("path_key needs at least one pattern")
    policy = check_unmatched(unmatched)
    compiled = [_compile(p, param) for p in patterns]
    limiter = RateLimitedLog(log)

    def key(scope: Scope) -> str | None:
        path = scope.get("path", "")
        for regex, wanted in compiled:
            match = regex.match(path)
            if match is not None:
                return match.group(wanted)
        on_unmatched(policy, path, patterns, limiter)
        return None

    return key


def route_key(
    app: Any, param: str | Sequence[str], *, unmatched: Unmatched = "warn"
) -> ScopeKeyFunc:
    """Key from the application's own routes (Starlette, FastAPI): the path parameter
    ``param`` of the route that matches the request, as the router will match it.

    ``route_key(app, "name")`` with ``@app.post("/counters/{name}/incr")`` keys that
    route on ``name``, and every other route that has a ``name`` parameter; routes
    without it (``/ready``, ``/metrics``) are not sharded. ``param`` may list several
    names (the first one a route has is the key). Requests that match no route at
    all follow ``unmatched`` (the application answers them 404 wherever they run).
    Pass the app or its router; routes added later are seen too.
    """
    from starlette.routing import Match

    names = [param] if isinstance(param, str) else list(param)
    if not names:
        raise ValueError("route_key needs at least one parameter name")
    policy = check_unmatched(unmatched)
    limiter = RateLimitedLog(log)

    def find(routes: Sequence[Any], scope: Scope) -> dict[str, Any] | None:
        for route in routes:
            match, child = route.matches(scope)
            if match != Match.FULL:
                continue
            params: dict[str, Any] = dict(child.get("path_params", {}))
            selected = _included_match(route, scope)
            if selected is not None:  # FastAPI's included routers match lazily
                params.update(selected)
                return params
            inner = getattr(route, "routes", None)
            if inner:  # a Mount: look inside with the scope it would pass on
                found = find(inner, {**scope, **child})
                if found is None:
                    continue
                params.update(found)
            return params
        return None

    def key(scope: Scope) -> str | None:
        router = getattr(app, "router", app)
        params = find(getattr(router, "routes", ()), scope)
        if params is None:
            on_unmatched(policy, scope.get("path", ""), [f"routes of {names}"], limiter)
            return None
        for name in names:
            if name in params:
                return str(params[name])
        return None

    return key


def _included_match(route: Any, scope: Scope) -> dict[str, Any] | None:
    """The path parameters a FastAPI included router (``include_router``; FastAPI
    >= 0.16x routes those lazily, its ``matches`` gives none) finds for ``scope``."""
    select = getattr(route, "_match", None)
    if select is None or not hasattr(route, "original_router"):
        return None
    try:
        _match, child, _route, _context = select(dict(scope))
    except (TypeError, ValueError):
        return None
    return dict(child.get("path_params", {}))


def header_key(name: str) -> ScopeKeyFunc:
    """Key from a request header (``None`` when absent)."""
    wanted = name.lower().encode("latin-1")

    def key(scope: Scope) -> str | None:
        for header, value in scope.get("headers", ()):
            if bytes(header).lower() == wanted:
                return bytes(value).decode("latin-1")
        return None

    return key


def request_key(
    func: Callable[[StarletteRequest], KeyResult | Awaitable[KeyResult]],
) -> ScopeKeyFunc:
    """Adapt a key function taking a Starlette ``Request`` (headers, query, path).

    The middleware runs before routing, so ``request.path_params`` is empty: use
    :func:`route_key` or :func:`path_key` for path parameters. The body cannot be read here.
    """
    from starlette.requests import Request

    def key(scope: Scope) -> KeyResult | Awaitable[KeyResult]:
        return func(Request(scope))

    return key


# -- the middleware -------------------------------------------------------------------------


class RingpopMiddleware:
    """ASGI middleware: serve requests whose key is ours, forward the others.

    ``key`` receives the ASGI scope and returns a key, several keys (they must
    share an owner, else 500 ``keys-diverged``) or ``None`` (not sharded).
    ``not_ready`` says what to do with sharded requests before ringpop is ready:
    ``"refuse"`` (503, default) or ``"serve"`` here. ``timeout``, ``max_retries``,
    ``retry_schedule`` and ``skip_lookup_on_retry`` override the ringpop options.
    """

    def __init__(
        self,
        app: ASGIApp,
        ringpop: Ringpop,
        key: ScopeKeyFunc,
        *,
        not_ready: NotReady = "refuse",
        timeout: float | None = None,
        max_retries: int | None = None,
        retry_schedule: Sequence[float] | None = None,
        skip_lookup_on_retry: bool | None = None,
    ) -> None:
        if not_ready not in ("refuse", "serve"):
            raise ValueError(f"not_ready must be 'refuse' or 'serve', not {not_ready!r}")
        self.app = app
        self.ringpop = ringpop
        self.key = key
        self.not_ready: NotReady = not_ready
        self.forward_options = ForwardOptions(
            timeout, max_retries, retry_schedule, skip_lookup_on_retry
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or SCOPE_KEY in scope:
            await self.app(scope, receive, send)
            return
        try:
            keys = await resolve_keys(self.key, scope)
        except UnmatchedKeyError as error:
            if not error.reject:
                raise
            response = plain(404, str(error))
            response.headers["x-ringpop-error"] = UNMATCHED_ERROR
            await send_response(send, response, scope)
            return
        if keys is None:
            await self.app(scope, receive, send)
            return
        decision = decide(self.ringpop, keys, self.not_ready)
        if decision == "local":
            await self.app(scope, receive, send)
            return
        if decision == "not-ready":
            response = plain(503, "ringpop is not ready: the node is still joining its cluster")
            response.headers["retry-after"] = "1"
            await send_response(send, response, scope)
            return
        limit = self.ringpop.options.body_limit
        body = await read_body(scope, receive, limit)
        if body is None:
            await send_response(
                send,
                plain(413, f"request body exceeds the limit of {limit} bytes"),
                scope,
            )
            return
        options = self.forward_options
        response = await self.ringpop.handle_or_proxy(
            keys,
            to_http_request(scope, body),
            timeout=options.timeout,
            max_retries=options.max_retries,
            retry_schedule=options.retry_schedule,
            skip_lookup_on_retry=options.skip_lookup_on_retry,
        )
        await send_response(send, response, scope)


def wrap(
    app: ASGIApp,
    ringpop: Ringpop,
    key: ScopeKeyFunc,
    *,
    not_ready: NotReady = "refuse",
    timeout: float | None = None,
    max_retries: int | None = None,
    retry_schedule: Sequence[float] | None = None,
    skip_lookup_on_retry: bool | None = None,
) -> RingpopMiddleware:
    """``app`` wrapped in :class:`RingpopMiddleware`, also serving forwarded requests.

    Sets ringpop's HTTP handler to an :class:`AsgiHandler` of the wrapped app, so
    requests forwarded here go through every layer of ``app``.
    """
    wrapped = RingpopMiddleware(
        app,
        ringpop,
        key,
        not_ready=not_ready,
        timeout=timeout,
        max_retries=max_retries,
        retry_schedule=retry_schedule,
        skip_lookup_on_retry=skip_lookup_on_retry,
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


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The request body, or ``None`` when it is longer than ``limit`` bytes."""
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
            break
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
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in response_header_items(response)
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
            headers.append((name.encode("latin-1"), value.encode("latin-1")))
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": request.http_version,
            "method": request.method.upper(),
            "scheme": self.scheme,
            "path": unquote(path),
            "raw_path": path.encode("latin-1", "replace"),
            "query_string": query.encode("latin-1", "replace"),
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
        scope = self.scope_for(request)
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
