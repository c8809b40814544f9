"""One node of the forwarding benchmark as a FastAPI or Starlette app on uvicorn.

``GET /objects/{id}`` answers from the owner of ``id`` with ``{"id", "handled_by",
"forwarded", "forwarded_by"}`` (as ``bench/lean_front.py`` and ``examples/objects``),
keyed with ``route_key``; bootstrap in the lifespan; uvloop and httptools when
installed (uvicorn's defaults)::

    python bench/asgi_front.py --framework fastapi --listen=127.0.0.1:3000 \\
        --hosts=hosts.json --http=127.0.0.1:4000
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import uvicorn
from fastapi import FastAPI, Request

from ringpop import Ringpop
from ringpop.integrations.asgi import forward_info, route_key, wrap
from ringpop.integrations.lifecycle import lifespan


def fastapi_app(rp: Ringpop, hosts: str) -> Any:
    # Request is imported at module level: FastAPI resolves the (string) annotations
    # of the endpoint in this module's globals.
    api = FastAPI(lifespan=lifespan(rp, hosts), openapi_url=None)

    @api.get("/objects/{id}")
    async def get_object(id: str, request: Request) -> dict[str, object]:
        info = forward_info(request)
        return {
            "id": id,
            "handled_by": rp.whoami(),
            "forwarded": info is not None and info.forwarded,
            "forwarded_by": info.source if info is not None else None,
        }

    return wrap(api, rp, key=route_key(api, "id"))


def starlette_app(rp: Ringpop, hosts: str) -> Any:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def get_object(request: Request) -> JSONResponse:
        info = forward_info(request)
        return JSONResponse(
            {
                "id": request.path_params["id"],
                "handled_by": rp.whoami(),
                "forwarded": info is not None and info.forwarded,
                "forwarded_by": info.source if info is not None else None,
            }
        )

    app = Starlette(routes=[Route("/objects/{id}", get_object)], lifespan=lifespan(rp, hosts))
    return wrap(app, rp, key=route_key(app, "id"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", choices=("fastapi", "starlette"), required=True)
    parser.add_argument("--listen", required=True)
    parser.add_argument("--hosts", required=True)
    parser.add_argument("--http", required=True)
    args = parser.parse_args()
    rp = Ringpop("objects", args.listen)
    build = fastapi_app if args.framework == "fastapi" else starlette_app
    host, _, port = args.http.rpartition(":")
    uvicorn.run(
        build(rp, args.hosts),
        host=host,
        port=int(port),
        access_log=False,
        log_level="warning",
        backlog=1024,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
