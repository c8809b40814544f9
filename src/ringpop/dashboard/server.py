"""The dashboard's HTTP side (aiohttp): one page, its script, a live stream and lookups.

======================  =============================================================
``GET /``               the page (``static/index.html``)
``GET /dashboard.js``   its script (``static/dashboard.js``, an ES module)
``GET /api/snapshot``   the latest snapshot (JSON)
``GET /api/events``     server-sent events: one ``snapshot`` event per polling round
``GET /api/ring/{id}``  a ring's layout (each member's stretches of the hash space)
``GET /api/lookup``     ``?key=K&n=3``: the owner as the viewpoint node reports it
                        (``/admin/lookup``) and the ``lookup_n`` preference list
======================  =============================================================

Every link is relative, so :func:`dashboard_app` can also be mounted inside an
application's own aiohttp app: ``app.add_subapp("/dashboard/", dashboard_app([seed]))``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ringpop.admin.client import AdminClient, AdminError
from ringpop.dashboard.poller import Poller
from ringpop.dashboard.ringlayout import SPACE, build_ring, key_hash

if TYPE_CHECKING:
    from ringpop.tlsconfig import TLSConfig

__all__ = ["POLLER", "dashboard_app", "serve"]

POLLER = web.AppKey("ringpop.dashboard.poller", Poller)
_TASK = web.AppKey("ringpop.dashboard.task", asyncio.Task[None])
_CLIENT = web.AppKey("ringpop.dashboard.client", AdminClient)
HEARTBEAT_S = 15.0
MAX_LOOKUP_N = 10


def _static(name: str) -> bytes:
    return (resources.files("ringpop.dashboard") / "static" / name).read_bytes()


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def dashboard_app(
    seeds: Sequence[str],
    *,
    interval: float = 1.0,
    timeout: float = 2.0,
    tls: TLSConfig | None = None,
) -> web.Application:
    """The dashboard of the cluster that ``seeds`` (``ip:port`` addresses) belong to.

    Polling starts with the application and stops at its cleanup. ``tls``: the
    cluster runs TLS (the admin client's CA and certificate).
    """
    app = web.Application()
    page, script = _static("index.html"), _static("dashboard.js")

    async def start(app: web.Application) -> None:
        client = AdminClient(timeout=timeout, tls=tls)
        poller = Poller(seeds, client, interval=interval, timeout=timeout)
        app[_CLIENT] = client
        app[POLLER] = poller
        app[_TASK] = asyncio.ensure_future(poller.run())

    async def stop(app: web.Application) -> None:
        task = app[_TASK]
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await app[_CLIENT].close()

    async def index(request: web.Request) -> web.Response:
        return web.Response(body=page, content_type="text/html", charset="utf-8")

    async def js(request: web.Request) -> web.Response:
        return web.Response(body=script, content_type="text/javascript", charset="utf-8")

    async def snapshot(request: web.Request) -> web.Response:
        return web.json_response(app[POLLER].view.snapshot, dumps=_dumps)

    async def ring(request: web.Request) -> web.Response:
        layout = app[POLLER].view.ring_layout(request.match_info["id"])
        if layout is None:
            raise web.HTTPNotFound(text="no such ring (it changed meanwhile)")
        return web.json_response(layout, dumps=_dumps)

    async def events(request: web.Request) -> web.StreamResponse:
        poller = app[POLLER]
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        queue = poller.subscribe()
        try:
            while True:
                try:
                    async with asyncio.timeout(HEARTBEAT_S):
                        snap = await queue.get()
                except TimeoutError:
                    await response.write(b": heartbeat\n\n")
                    continue
                await response.write(f"event: snapshot\ndata: {_dumps(snap)}\n\n".encode())
        except (ConnectionResetError, ConnectionError):
            pass
        finally:
            poller.unsubscribe(queue)
        return response

    async def lookup(request: web.Request) -> web.Response:
        return web.json_response(await _lookup(app[POLLER], request), dumps=_dumps)

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app.router.add_get("/", index)
    app.router.add_get("/dashboard.js", js)
    app.router.add_get("/api/snapshot", snapshot)
    app.router.add_get("/api/events", events)
    app.router.add_get("/api/ring/{id}", ring)
    app.router.add_get("/api/lookup", lookup)
    return app


async def _lookup(poller: Poller, request: web.Request) -> dict[str, Any]:
    key = request.query.get("key", "")
    if not key:
        raise web.HTTPBadRequest(text="key is required")
    try:
        n = max(1, min(MAX_LOOKUP_N, int(request.query.get("n", "3"))))
    except ValueError:
        raise web.HTTPBadRequest(text="n must be a number") from None
    viewpoint, servers, labels = poller.view.lookup_ring()
    if viewpoint is None:
        raise web.HTTPServiceUnavailable(text="no node answers: nothing to ask")
    ring = build_ring(servers, labels)
    preference = ring.lookup_n(key, n)
    answer: dict[str, Any] = {
        "key": key,
        "hash": key_hash(key),
        "space": SPACE,
        "node": viewpoint,
        "preference": preference,
    }
    try:
        answer["owner"] = await poller.client.lookup(viewpoint, key)
    except AdminError as error:
        answer["owner"] = None
        answer["error"] = error.message
    # A node hashing differently (ringpop-node without isCrossPlatform) disagrees here.
    answer["agrees"] = bool(preference) and answer["owner"] == preference[0]
    return answer


async def serve(
    seeds: Sequence[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    interval: float = 1.0,
    timeout: float = 2.0,
    tls: TLSConfig | None = None,
    started: asyncio.Future[str] | None = None,
) -> None:
    """Serve the dashboard until cancelled; ``started`` gets its URL once listening."""
    runner = web.AppRunner(
        dashboard_app(seeds, interval=interval, timeout=timeout, tls=tls),
        shutdown_timeout=1.0,
        access_log=None,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1] if runner.addresses else port
        url = f"http://{host}:{bound}/"
        if started is not None and not started.done():
            started.set_result(url)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
