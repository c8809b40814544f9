"""One node of the objects example: ``GET /objects/{id}`` answered by the owner of ``id``.

::

    python -m examples.objects.node --listen=127.0.0.1:3000 --hosts=hosts.json \\
        [--http=127.0.0.1:4000]

Ask any node: the answer is always produced by the owner of the id and says which
node that was, and whether (and by which node) the request was forwarded::

    $ curl -s localhost:4000/objects/abc
    {"id": "abc", "handled_by": "127.0.0.1:3002", "forwarded": true,
     "forwarded_by": "127.0.0.1:3000"}
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import msgspec
from aiohttp import web

from examples._node import run_main
from ringpop import Ringpop
from ringpop.integrations.aiohttp import forward_info, match_info_key, setup

__all__ = ["build_app", "main"]

encode = msgspec.json.Encoder().encode


def build_app(rp: Ringpop, args: argparse.Namespace | None = None) -> web.Application:
    """The HTTP front of one node."""

    async def get_object(request: web.Request) -> web.Response:
        info = forward_info(request)
        answer = {
            "id": request.match_info["id"],
            "handled_by": rp.whoami(),
            "forwarded": info is not None and info.forwarded,
            "forwarded_by": info.source if info is not None else None,
        }
        return web.Response(body=encode(answer), content_type="application/json")

    async def index(request: web.Request) -> web.Response:
        return web.json_response(
            {"whoami": rp.whoami(), "ready": rp.is_ready, "members": rp.members()}
        )

    app = web.Application()
    app.router.add_get("/objects/{id}", get_object)
    app.router.add_get("/", index)
    setup(app, rp, key=match_info_key("id"))
    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Run one node until SIGTERM."""
    return run_main("ringpop objects example node", "objects", build_app, argv)


if __name__ == "__main__":
    sys.exit(main())
