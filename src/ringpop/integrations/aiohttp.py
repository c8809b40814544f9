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
key function returns ``None`` for them). The dispatcher uses aiohttp's
``Application._make_request`` and ``Application._handle``, which the aiohttp server
itself uses; it is tested against the installed aiohttp.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Awaitable, Callable, Sequence
from importlib import import_module
from typing import TYPE_CHECKING, Any, TypeAlias

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.base_protocol import BaseProtocol
from aiohttp.http_parser import RawRequestMessage
from aiohttp.http_writer import HttpVersion
from aiohttp.streams import EMPTY_PAYLOAD, StreamReader
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ringpop.forward import HttpRequest, HttpResponse
from ringpop.integrations._common import (
    FRAMING_HEADERS,
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
)

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


def middleware(
    ringpop: Ringpop,
    key: RequestKeyFunc,
    *,
    not_ready: NotReady = "refuse",
    timeout: float | None = None,
    max_retries: int | None = None,
    retry_schedule: Sequence[float] | None = None,
    skip_lookup_on_retry: bool | None = None,
) -> Middleware:
    """An aiohttp middleware doing handle-or-forward on ``key(request)``.

    ``key`` returns a key, several keys (they must share an owner, else 500
    ``keys-diverged``) or ``None`` (not sharded). ``not_ready``: what to do with
    sharded requests before ringpop is ready, ``"refuse"`` (503, default) or
    ``"serve"``. The other arguments override the ringpop forwarding options.
    """
    if not_ready not in ("refuse", "serve"):
        raise ValueError(f"not_ready must be 'refuse' or 'serve', not {not_ready!r}")
    options = ForwardOptions(timeout, max_retries, retry_schedule, skip_lookup_on_retry)

    @web.middleware
    async def ringpop_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if FORWARD_INFO in request:
            return await handler(request)
        try:
            keys = await resolve_keys(key, request)
        except UnmatchedKeyError as error:
            if not error.reject:
                raise
            rejected = plain(404, str(error))
            rejected.headers["x-ringpop-error"] = UNMATCHED_ERROR
            return to_web_response(rejected)
        if keys is None:
            return await handler(request)
        decision = decide(ringpop, keys, not_ready)
        if decision == "local":
            return await handler(request)
        if decision == "not-ready":
            response = plain(503, "ringpop is not ready: the node is still joining its cluster")
            response.headers["retry-after"] = "1"
            return to_web_response(response)
        limit = ringpop.options.body_limit
        body = await read_body(request, limit)
        if body is None:
            return to_web_response(plain(413, f"request body exceeds the limit of {limit} bytes"))
        answer = await ringpop.handle_or_proxy(
            keys,
            to_http_request(request, body),
            timeout=options.timeout,
            max_retries=options.max_retries,
            retry_schedule=options.retry_schedule,
            skip_lookup_on_retry=options.skip_lookup_on_retry,
        )
        return to_web_response(answer)

    return ringpop_middleware


def setup(
    app: web.Application,
    ringpop: Ringpop,
    key: RequestKeyFunc,
    *,
    not_ready: NotReady = "refuse",
    timeout: float | None = None,
    max_retries: int | None = None,
    retry_schedule: Sequence[float] | None = None,
    skip_lookup_on_retry: bool | None = None,
) -> None:
    """Add the middleware to ``app`` (first) and serve forwarded requests with ``app``.

    Call before the application starts (aiohttp freezes its middleware list).
    """
    app.middlewares.insert(
        0,
        middleware(
            ringpop,
            key,
            not_ready=not_ready,
            timeout=timeout,
            max_retries=max_retries,
            retry_schedule=retry_schedule,
            skip_lookup_on_retry=skip_lookup_on_retry,
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
    """The :class:`HttpRequest` for an aiohttp request and its body."""
    version = request.version
    return HttpRequest(
        request.method,
        request.raw_path,
        forward_request_headers(iter(request.headers.items()), len(body)),
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


class _CollectingWriter(AbstractStreamWriter):
    """Receives what a response writes and keeps the body."""

    def __init__(self) -> None:
        self.buffer_size = 0
        self.output_size = 0
        self.length: int | None = None
        self.chunks: list[bytes] = []
        self.status_line = ""
        self.headers: CIMultiDict[str] = CIMultiDict()
        self.eof = False
        self._compressor: Any = None
        self.compression_dropped = False

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        data = bytes(chunk)
        if self._compressor is not None and data:
            data = self._compressor.compress(data)
        self.collect(data)

    def collect(self, data: bytes) -> None:
        """Keep body bytes (already encoded)."""
        if data:
            self.chunks.append(data)
            self.output_size += len(data)

    async def write_eof(self, chunk: bytes = b"") -> None:
        if self.eof:
            return
        if chunk:
            await self.write(chunk)
        if self._compressor is not None:
            tail = self._compressor.flush()
            if tail:
                self.chunks.append(tail)
                self.output_size += len(tail)
        self.eof = True

    async def drain(self) -> None:
        return None

    def enable_compression(self, encoding: str = "deflate", strategy: int | None = None) -> None:
        if encoding == "gzip":
            wbits = 16 + zlib.MAX_WBITS
        elif encoding == "deflate":
            wbits = zlib.MAX_WBITS
        else:  # an encoding we cannot produce here: send the body as is
            self.compression_dropped = True
            return
        self._compressor = zlib.compressobj(
            wbits=wbits, strategy=zlib.Z_DEFAULT_STRATEGY if strategy is None else strategy
        )

    def enable_chunking(self) -> None:
        return None

    async def write_headers(self, status_line: str, headers: CIMultiDict[str]) -> None:
        self.status_line = status_line
        self.headers = CIMultiDict(headers)

    def send_headers(self) -> None:
        return None


# asyncio's loop.sendfile() copies through transport.write() for flow-controlled
# transports in this mode (both are asyncio internals, looked up defensively).
_SENDFILE_FALLBACK = getattr(
    getattr(import_module("asyncio.constants"), "_SendfileMode", None), "FALLBACK", None
)
if TYPE_CHECKING:
    _FlowControl = asyncio.Transport
else:
    _FlowControl = getattr(
        import_module("asyncio.transports"), "_FlowControlMixin", asyncio.Transport
    )


class _Transport(_FlowControl):
    """The connection a forwarded request does not have.

    Handlers see a transport that is open and has no peer; what is written to it
    directly (asyncio's ``sendfile`` fallback, used by ``FileResponse``) goes into
    the response body. On uvloop, ``sendfile`` is not implemented and aiohttp falls
    back to the response writer by itself.
    """

    _sendfile_compatible = _SENDFILE_FALLBACK

    def __init__(self, writer: _CollectingWriter, loop: asyncio.AbstractEventLoop) -> None:
        if _FlowControl is asyncio.Transport:
            super().__init__()
        else:  # _FlowControlMixin(extra, loop)
            super().__init__(None, loop)  # type: ignore[call-arg]
        self._writer = writer
        self._protocol: asyncio.BaseProtocol | None = None
        self._protocol_paused = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._writer.collect(bytes(data))

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        return None

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self._protocol is not None
        return self._protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def is_reading(self) -> bool:
        return False

    def pause_reading(self) -> None:
        return None

    def resume_reading(self) -> None:
        return None

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class _Protocol(BaseProtocol):
    """Stands in for the connection of a forwarded request (there is none)."""

    ssl_context = None
    peername = None
    sockname = None

    def __init__(self, loop: asyncio.AbstractEventLoop, transport: _Transport) -> None:
        super().__init__(loop)
        transport.set_protocol(self)
        self.transport = transport


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

    def _message(self, request: HttpRequest) -> RawRequestMessage:
        headers: CIMultiDict[str] = CIMultiDict()
        raw: list[tuple[bytes, bytes]] = []
        for name, value in request.headers.items():
            if name == "transfer-encoding":
                continue
            headers.add(name, value)
            raw.append((name.encode("latin-1"), value.encode("latin-1")))
        try:
            major, minor = (int(part) for part in request.http_version.split(".", 1))
        except ValueError:
            major, minor = 1, 1
        url = URL(request.url or "/", encoded=True)
        return RawRequestMessage(
            request.method.upper(),
            request.url or "/",
            HttpVersion(major, minor),
            CIMultiDictProxy(headers),
            tuple(raw),
            False,
            None,
            False,
            False,
            url,
        )

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        app = self.app
        if not app.frozen:
            return plain(503, "the aiohttp application is not running yet")
        loop = asyncio.get_running_loop()
        writer = _CollectingWriter()
        protocol = _Protocol(loop, _Transport(writer, loop))
        payload: StreamReader
        if request.body:
            payload = StreamReader(protocol, 2**16, loop=loop)
            payload.feed_data(request.body)
            payload.feed_eof()
        else:
            payload = EMPTY_PAYLOAD  # what aiohttp gives bodiless requests
        task = asyncio.current_task()
        assert task is not None
        web_request = app._make_request(
            self._message(request),
            payload,
            protocol,  # type: ignore[arg-type]  # only its transport facts are read
            writer,
            task,
        )
        web_request[FORWARD_INFO] = ForwardInfo.of(request)
        try:
            response = await app._handle(web_request)
        except web.HTTPException as error:
            response = error
        except Exception as error:
            log.exception("aiohttp app failed on forwarded %s %s", request.method, request.url)
            return plain(500, f"the application failed: {error}")
        if not isinstance(response, web.StreamResponse):
            log.error("aiohttp handler returned %r instead of a response", response)
            return plain(500, "the handler did not return a response")
        try:
            await response.prepare(web_request)
            await response.write_eof()
        except Exception as error:
            log.exception("aiohttp response failed on forwarded %s %s", request.method, request.url)
            return plain(500, f"the response could not be produced: {error}")
        finally:
            finish = getattr(web_request, "_finish", None)
            if finish is not None:
                finish()
        headers = collect_response_headers(iter(writer.headers.items()))
        if writer.compression_dropped:
            headers.pop("content-encoding", None)
        return HttpResponse(response.status, headers, b"".join(writer.chunks))
