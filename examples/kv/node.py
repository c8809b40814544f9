"""One node of the sharded key-value store.

Every key lives on its owner (the ring decides); any node accepts any request and
forwards it there::

    PUT    /kv/{key}   body = value      201 created / 200 replaced
    GET    /kv/{key}                     200 value / 404
    DELETE /kv/{key}                     204 / 404
    GET    /kv                           this node's keys (JSON), not forwarded
    GET    /                             node info (JSON), not forwarded

Responses carry ``x-ringpop-owner`` (the node that stored or read the key) and
``x-ringpop-forwarded-by`` when another node forwarded the request. Values are
bytes, up to the forwarding body limit (1 MiB by default; larger: 413).
Data is in memory only: when a node leaves, its keys go with it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from aiohttp import web

from examples._node import run_main
from ringpop import Ringpop
from ringpop.integrations.aiohttp import forward_info, match_info_key, setup

__all__ = ["build_app", "main"]


def build_app(rp: Ringpop, args: argparse.Namespace | None = None) -> web.Application:
    """The HTTP front (and the store) of one node."""
    store: dict[str, tuple[bytes, str]] = {}

    def stamp(request: web.Request, response: web.Response) -> web.Response:
        response.headers["x-ringpop-owner"] = rp.whoami()
        info = forward_info(request)
        if info is not None and info.source is not None:
            response.headers["x-ringpop-forwarded-by"] = info.source
        return response

    async def put(request: web.Request) -> web.Response:
        key = request.match_info["key"]
        value = await request.read()
        existed = key in store
        store[key] = (value, request.content_type or "application/octet-stream")
        return stamp(request, web.Response(status=200 if existed else 201))

    async def get(request: web.Request) -> web.Response:
        key = request.match_info["key"]
        if key not in store:
            return stamp(request, web.Response(status=404, text=f"no such key: {key}\n"))
        value, content_type = store[key]
        return stamp(request, web.Response(body=value, content_type=content_type))

    async def delete(request: web.Request) -> web.Response:
        key = request.match_info["key"]
        if store.pop(key, None) is None:
            return stamp(request, web.Response(status=404, text=f"no such key: {key}\n"))
        return stamp(request, web.Response(status=204))

    async def keys(request: web.Request) -> web.Response:
        return web.json_response({"node": rp.whoami(), "keys": sorted(store)})

    async def index(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "whoami": rp.whoami(),
                "ready": rp.is_ready,
                "members": rp.members(),
                "keys": len(store),
            }
        )

    app = web.Application(client_max_size=rp.options.body_limit)
    app.router.add_put("/kv/{key}", put)
    app.router.add_get("/kv/{key}", get)
    app.router.add_delete("/kv/{key}", delete)
    app.router.add_get("/kv", keys)
    app.router.add_get("/", index)
    setup(app, rp, key=match_info_key("key"))
    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Run one node until SIGTERM."""
    return run_main("ringpop key-value example node", "kv", build_app, argv)


if __name__ == "__main__":
    sys.exit(main())
