"""A test node: ringpop + an HTTP front (aiohttp or ASGI) echoing what it received.

::

    python -m tests.forward.echo_node --listen=127.0.0.1:P --hosts=FILE
        --http=127.0.0.1:H [--framework=aiohttp|asgi] [--retry-schedule=0,0.5,1]
        [--max-retries=N] [--timeout=S] [--body-limit=B] [--suspect-period=MS]
        [--checksum-flavour=go|node] [--app=NAME]

Sharded routes (key = the path segment), any method: ``/echo/{key}`` and
``/objects/{key}`` (the route of ``interop/node/http-front.js``). The owner
answers with the request body as its body and:

* status: request header ``x-want-status`` (default 200);
* ``x-handled-by``: the owner's ringpop address; ``x-forwarded-by``: the node that
  forwarded the request (``-`` when it arrived directly);
* ``x-seen-method``, ``x-seen-url`` (path and query as the framework saw them),
  ``x-seen-headers`` (JSON of the request headers the framework saw);
* ``set-cookie: a=1`` and ``set-cookie: b=2`` (a repeated header);
* request header ``x-sleep: S`` makes it wait S seconds first;
* request header ``x-want-binary: 1`` answers :data:`BINARY` instead of the body.

Not sharded: ``GET /_test/info`` (whoami, ready, members, ring checksum, event
counts by type), ``POST /_test/fake-server?seconds=S`` (adds a made-up server to this
node's ring for S seconds, so its ring checksum differs from everybody's).

Prints ``ready <address> http://<http>`` once serving; SIGTERM self-evicts, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from ringpop import Options, Ringpop
from ringpop.discovery import HostsFile
from ringpop.events import Event

FAKE_SERVER = "127.0.0.1:1"
BINARY = bytes(range(256)) * 4

log = logging.getLogger("echo_node")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="echo_node")
    parser.add_argument("--listen", required=True)
    parser.add_argument("--hosts", required=True)
    parser.add_argument("--http", required=True)
    parser.add_argument("--framework", choices=("aiohttp", "asgi"), default="aiohttp")
    parser.add_argument("--app", default="forward-test")
    parser.add_argument("--retry-schedule", default=None)
    parser.add_argument("--max-retries", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=None)
    parser.add_argument("--body-limit", type=int, default=None)
    parser.add_argument("--suspect-period", type=int, default=5000)
    parser.add_argument("--checksum-flavour", choices=("go", "node"), default="go")
    parser.add_argument("--log-level", default="WARNING")
    return parser.parse_args(argv)


def options_from(args: argparse.Namespace) -> Options:
    changes: dict[str, Any] = {
        "suspect_period": args.suspect_period / 1000,
        "checksum_flavour": args.checksum_flavour,
        "min_protocol_period": 0.1,
        "ping_timeout": 0.5,
        "ping_req_timeout": 1.0,
    }
    if args.retry_schedule is not None:
        changes["proxy_retry_schedule"] = tuple(float(x) for x in args.retry_schedule.split(","))
    if args.max_retries is not None:
        changes["proxy_max_retries"] = args.max_retries
    if args.timeout is not None:
        changes["proxy_timeout"] = args.timeout
    if args.body_limit is not None:
        changes["body_limit"] = args.body_limit
    return Options(**changes)


class State:
    """What the control endpoints show and change."""

    def __init__(self, rp: Ringpop) -> None:
        self.rp = rp
        self.events: Counter[str] = Counter()
        rp.events.on(Event, self._count)

    def _count(self, event: Event) -> None:
        self.events[type(event).__name__] += 1

    def info(self) -> dict[str, Any]:
        rp = self.rp
        return {
            "whoami": rp.whoami(),
            "ready": rp.is_ready,
            "members": rp.members(),
            "ring": rp.node.ring.servers(),
            "checksum": rp.node.ring.checksum,
            "events": dict(self.events),
        }

    def fake_server(self, seconds: float) -> None:
        ring = self.rp.node.ring
        ring.add_server(FAKE_SERVER)
        asyncio.get_running_loop().call_later(seconds, ring.remove_server, FAKE_SERVER)


def echo_headers(
    whoami: str,
    source: str | None,
    method: str,
    url: str,
    headers: dict[str, str],
) -> Iterator[tuple[str, str]]:
    yield "x-handled-by", whoami
    yield "x-forwarded-by", source or "-"
    yield "x-seen-method", method
    yield "x-seen-url", url
    yield "x-seen-headers", json.dumps(headers, separators=(",", ":"))
    yield "set-cookie", "a=1"
    yield "set-cookie", "b=2"
    yield "content-type", headers.get("x-want-type", "application/octet-stream")


def build_aiohttp(rp: Ringpop, state: State) -> Any:
    from aiohttp import web
    from multidict import CIMultiDict

    from ringpop.integrations.aiohttp import forward_info, match_info_key, setup

    async def echo(request: web.Request) -> web.Response:
        if "x-sleep" in request.headers:
            await asyncio.sleep(float(request.headers["x-sleep"]))
        body = await request.read()
        info = forward_info(request)
        headers: CIMultiDict[str] = CIMultiDict()
        seen = {k.lower(): v for k, v in request.headers.items()}
        for name, value in echo_headers(
            rp.whoami(),
            info.source if info else None,
            request.method,
            request.raw_path,
            seen,
        ):
            headers.add(name, value)
        status = int(request.headers.get("x-want-status", "200"))
        if "x-want-binary" in request.headers:
            body = BINARY
        return web.Response(status=status, body=body, headers=headers)

    async def info(request: web.Request) -> web.Response:
        return web.json_response(state.info())

    async def fake(request: web.Request) -> web.Response:
        state.fake_server(float(request.query.get("seconds", "1")))
        return web.json_response(state.info())

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_route("*", "/echo/{key}", echo)
    app.router.add_route("*", "/objects/{key}", echo)  # interop/node/http-front.js's route
    app.router.add_get("/_test/info", info)
    app.router.add_post("/_test/fake-server", fake)
    setup(app, rp, key=match_info_key("key"))
    return app


def build_asgi(rp: Ringpop, state: State) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from ringpop.integrations.asgi import forward_info, path_key, wrap

    async def echo(request: Request) -> Response:
        if "x-sleep" in request.headers:
            await asyncio.sleep(float(request.headers["x-sleep"]))
        body = await request.body()
        info = forward_info(request)
        url = request.url.path
        if request.url.query:
            url += "?" + request.url.query
        seen = {k.lower(): v for k, v in request.headers.items()}
        response = Response(body, status_code=int(request.headers.get("x-want-status", "200")))
        for name, value in echo_headers(
            rp.whoami(), info.source if info else None, request.method, url, seen
        ):
            response.headers.append(name, value)
        return response

    async def info(request: Request) -> Response:
        return JSONResponse(state.info())

    async def fake(request: Request) -> Response:
        state.fake_server(float(request.query_params.get("seconds", "1")))
        return JSONResponse(state.info())

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    app = Starlette(
        routes=[
            Route("/echo/{key}", echo, methods=methods),
            Route("/objects/{key}", echo, methods=methods),
            Route("/_test/info", info),
            Route("/_test/fake-server", fake, methods=["POST"]),
        ]
    )
    return wrap(app, rp, key=path_key(["/echo/{key}", "/objects/{key}"], unmatched="local"))


async def run(args: argparse.Namespace) -> int:
    rp = Ringpop(args.app, args.listen, options=options_from(args))
    state = State(rp)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    host, _, port_text = args.http.rpartition(":")
    port = int(port_text)
    await rp.start()
    if args.framework == "aiohttp":
        from aiohttp import web

        runner = web.AppRunner(build_aiohttp(rp, state), access_log=None, shutdown_timeout=2)
        await runner.setup()
        await rp.bootstrap(HostsFile(args.hosts))
        site = web.TCPSite(runner, host, port)
        await site.start()
        print(f"ready {rp.whoami()} http://{args.http}", flush=True)
        await stop.wait()
        await rp.self_evict()
        await runner.cleanup()
    else:
        import uvicorn

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:  # we handle signals ourselves
                yield

        app = build_asgi(rp, state)
        await rp.bootstrap(HostsFile(args.hosts))
        server = Server(
            uvicorn.Config(app, host=host, port=port, lifespan="off", log_level="warning")
        )
        serving = asyncio.ensure_future(server.serve())
        while not server.started:
            if serving.done():
                serving.result()
                return 1
            await asyncio.sleep(0.02)
        print(f"ready {rp.whoami()} http://{args.http}", flush=True)
        await stop.wait()
        await rp.self_evict()
        server.should_exit = True
        await serving
    await rp.close(self_evict=False)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
