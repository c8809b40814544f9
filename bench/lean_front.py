"""A lean HTTP front for the forwarding benchmark: ``handle_or_proxy`` without a framework.

The same service as ``examples/objects`` (``GET /objects/{id}`` answered by the owner
with ``{"id", "handled_by", "forwarded", "forwarded_by"}``), on a minimal HTTP/1.1
server (below) calling :meth:`Ringpop.handle_or_proxy` directly; the
owner's HTTP handler builds the answer from the :class:`HttpRequest` itself. It
measures what ringpop's forwarding costs without a web framework around it::

    python bench/lean_front.py --listen=127.0.0.1:3000 --hosts=hosts.json --http=127.0.0.1:4000
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import cast

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import msgspec  # noqa: E402

from ringpop import HttpRequest, HttpResponse, Ringpop  # noqa: E402
from ringpop.discovery import HostsFile  # noqa: E402

log = logging.getLogger("lean_front")

# -- a minimal HTTP/1.1 server -------------------------------------------------------------
#
# It serves HttpRequest -> HttpResponse handlers (the types Ringpop.handle_or_proxy takes
# and returns) with as little work per request as possible: the head is split with bytes
# methods, bodies need a content-length (chunked uploads get 411), keep-alive and
# pipelining work (answers go out in request order), each answer is one write. A
# benchmark tool, not a web server: no TLS, no 100-continue, heads up to 64 KiB.

Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]

MAX_HEAD = 65536
_REASONS = {
    200: b"OK",
    201: b"Created",
    204: b"No Content",
    400: b"Bad Request",
    404: b"Not Found",
    411: b"Length Required",
    413: b"Content Too Large",
    429: b"Too Many Requests",
    500: b"Internal Server Error",
    503: b"Service Unavailable",
}
_SKIP = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})


def _encode_response(response: HttpResponse, keep_alive: bool) -> bytes:
    status = response.status
    lines = [b"HTTP/1.1 %d %s" % (status, _REASONS.get(status, b"Status"))]
    for name, value in response.headers.items():
        if name.lower() in _SKIP:
            continue
        if isinstance(value, str):
            lines.append(f"{name}: {value}".encode("latin-1"))
        else:
            lines.extend(f"{name}: {item}".encode("latin-1") for item in value)
    body = response.body
    lines.append(b"content-length: %d" % len(body))
    if not keep_alive:
        lines.append(b"connection: close")
    lines.append(b"\r\n")
    return b"\r\n".join(lines) + body


class HttpServerProtocol(asyncio.Protocol):
    """One client connection."""

    def __init__(self, handler: Handler, max_body: int) -> None:
        self.handler = handler
        self.max_body = max_body
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.pending: deque[tuple[HttpRequest, bool]] = deque()
        self.busy = False
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.pending.clear()

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while not self.closing:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD:
                    self._fail(400, b"request head too large")
                    return
                break
            lines = bytes(buffer[:end]).split(b"\r\n")
            try:
                method, target, version = lines[0].decode("latin-1").split(" ", 2)
            except ValueError:
                self._fail(400, b"bad request line")
                return
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, _, value = line.decode("latin-1").partition(":")
                key = name.strip().lower()
                value = value.strip()
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
            if "transfer-encoding" in headers:
                self._fail(411, b"chunked request bodies are not supported")
                return
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                self._fail(400, b"bad content-length")
                return
            if length > self.max_body:
                self._fail(413, b"request body too large")
                return
            start = end + 4
            if len(buffer) < start + length:
                break
            body = bytes(buffer[start : start + length])
            del buffer[: start + length]
            connection = headers.get("connection", "").lower()
            keep_alive = (
                connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
            )
            request = HttpRequest(method, target, headers, body, version[5:])
            self.pending.append((request, keep_alive))
            if not keep_alive:
                self.closing = True
        if not self.busy and self.pending:
            self.busy = True
            asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self.pending:
                request, keep_alive = self.pending.popleft()
                try:
                    response = await self.handler(request)
                except Exception:
                    log.exception("handler failed on %s %s", request.method, request.url)
                    response = HttpResponse(500, {}, b"internal error")
                transport = self.transport
                if transport is None:
                    return
                transport.write(_encode_response(response, keep_alive))
                if not keep_alive:
                    transport.close()
                    return
        finally:
            self.busy = False

    def _fail(self, status: int, message: bytes) -> None:
        self.closing = True
        self.pending.clear()
        if self.transport is not None:
            self.transport.write(_encode_response(HttpResponse(status, {}, message), False))
            self.transport.close()


async def serve(
    handler: Handler, host: str, port: int, *, max_body: int = 1_048_576
) -> asyncio.Server:
    """Listen on ``host:port`` and serve ``handler``."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: HttpServerProtocol(handler, max_body), host, port, backlog=1024
    )


# -- the front ---------------------------------------------------------------------------------

PREFIX = "/objects/"
encode = msgspec.json.Encoder().encode
JSON = {"content-type": "application/json"}


async def run(args: argparse.Namespace) -> int:
    rp = Ringpop("objects", args.listen)

    async def owner(request: HttpRequest) -> HttpResponse:
        path = request.url.partition("?")[0]
        body = {
            "id": path[len(PREFIX) :] if path.startswith(PREFIX) else None,
            "handled_by": rp.whoami(),
            "forwarded": request.forwarded,
            "forwarded_by": request.source,
        }
        return HttpResponse(200, dict(JSON), encode(body))

    rp.set_http_handler(owner)

    async def front(request: HttpRequest) -> HttpResponse:
        if not request.url.startswith(PREFIX):
            return HttpResponse(200, dict(JSON), encode({"whoami": rp.whoami()}))
        key = request.url[len(PREFIX) :].partition("?")[0]
        return await rp.handle_or_proxy(key, request)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await rp.start()
    await rp.bootstrap(HostsFile(args.hosts))
    host, _, port = args.http.rpartition(":")
    server = await serve(front, host, int(port), max_body=rp.options.body_limit)
    print(f"ready {rp.whoami()} http://{args.http}", flush=True)
    await stop.wait()
    await rp.self_evict()
    server.close()
    await rp.close(self_evict=False)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", required=True)
    parser.add_argument("--hosts", required=True)
    parser.add_argument("--http", required=True)
    args = parser.parse_args(argv)
    import uvloop

    return uvloop.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
