"""The aiohttp internals that serving a forwarded request needs, in one place.

Why this module exists (and uses private API): a forwarded request has no HTTP
connection, yet it must go through the application's router and middlewares exactly
as if it had arrived directly. aiohttp has no public API for "dispatch this request
object through an Application": its own server does it with
``Application._make_request`` and ``Application._handle``, and a request is finished
with ``BaseRequest._finish``. Those, and the stand-ins for the connection a request
normally has (a stream writer, a transport, a protocol), are all here, so that
:mod:`ringpop.integrations.aiohttp` uses only public names.

Supported aiohttp versions: :data:`SUPPORTED` (pinned in pyproject.toml);
tests/forward/test_aiohttp_shim.py checks, against the installed aiohttp, that every
private name used here still exists with the parameters we pass, and fails loudly
(naming the attribute) when an aiohttp release changes them.
"""

from __future__ import annotations

import asyncio
import zlib
from importlib import import_module
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.base_protocol import BaseProtocol
from aiohttp.http_parser import RawRequestMessage
from aiohttp.http_writer import HttpVersion
from aiohttp.streams import EMPTY_PAYLOAD, StreamReader
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ringpop.integrations._common import raw_bytes

__all__ = [
    "PRIVATE_API",
    "SUPPORTED",
    "CollectingWriter",
    "Dispatch",
    "finish",
    "handle",
    "make_request",
    "request_message",
]

SUPPORTED = (">=3.9", "<3.15")
"""The aiohttp versions this shim is written and tested for (pyproject.toml pins them)."""

PRIVATE_API: dict[str, tuple[str, ...]] = {
    "Application._make_request": ("message", "payload", "protocol", "writer", "task"),
    "Application._handle": ("request",),
    "BaseRequest._finish": (),
}
"""The private aiohttp attributes used here and the parameters we pass them
(checked against the installed aiohttp by the test suite)."""


class CollectingWriter(AbstractStreamWriter):
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

    def __init__(self, writer: CollectingWriter, loop: asyncio.AbstractEventLoop) -> None:
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


def request_message(
    method: str, url: str, http_version: str, headers: dict[str, str]
) -> RawRequestMessage:
    """The parsed request line and headers aiohttp builds a request from."""
    multi: CIMultiDict[str] = CIMultiDict()
    raw: list[tuple[bytes, bytes]] = []
    for name, value in headers.items():
        if name == "transfer-encoding":
            continue
        multi.add(name, value)
        raw.append((raw_bytes(name), raw_bytes(value)))
    try:
        major, minor = (int(part) for part in http_version.split(".", 1))
    except ValueError:
        major, minor = 1, 1
    return RawRequestMessage(
        method.upper(),
        url or "/",
        HttpVersion(major, minor),
        CIMultiDictProxy(multi),
        tuple(raw),
        False,
        None,
        False,
        False,
        URL(url or "/", encoded=True),
    )


class Dispatch:
    """The connection stand-ins of one forwarded request: its writer and protocol."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.loop = loop
        self.writer = CollectingWriter()
        self.protocol = _Protocol(loop, _Transport(self.writer, loop))

    def payload(self, body: bytes) -> StreamReader:
        """The request body as aiohttp reads it."""
        if not body:
            return EMPTY_PAYLOAD  # what aiohttp gives bodiless requests
        payload = StreamReader(self.protocol, 2**16, loop=self.loop)
        payload.feed_data(body)
        payload.feed_eof()
        return payload


def make_request(
    app: web.Application, message: RawRequestMessage, body: bytes, dispatch: Dispatch
) -> web.Request:
    """A ``web.Request`` of ``app`` for ``message`` (``Application._make_request``)."""
    task = asyncio.current_task()
    assert task is not None
    return app._make_request(
        message,
        dispatch.payload(body),
        dispatch.protocol,  # type: ignore[arg-type]  # only its transport facts are read
        dispatch.writer,
        task,
    )


async def handle(app: web.Application, request: web.Request) -> web.StreamResponse:
    """Route ``request`` through ``app``'s router and middlewares (``Application._handle``)."""
    return await app._handle(request)


def finish(request: web.BaseRequest) -> None:
    """Release what the request holds (``BaseRequest._finish``, where it exists)."""
    release = getattr(request, "_finish", None)
    if release is not None:
        release()
