"""One node of the forwarding benchmark as a FastAPI or Starlette app on uvicorn.

``GET /objects/{id}`` answers from the owner of ``id`` with ``{"id", "handled_by",
"forwarded", "forwarded_by"}`` (as ``bench/lean_front.py`` and ``examples/objects``),
keyed with ``route_key``; bootstrap in the lifespan; uvloop and httptools (uvicorn
falls back to asyncio and h11 without them: the script says which it runs).
``--alone`` serves the same app without ringpop's middleware (ringpop still joins,
so ``handled_by`` is filled in): the framework's own cost, for local ids only::

    python bench/asgi_front.py --framework fastapi --listen=127.0.0.1:3000 \\
        --hosts=hosts.json --http=127.0.0.1:4000
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from typing import Any

import uvicorn
from fastapi import FastAPI, Request

from ringpop import Ringpop
from ringpop.integrations.asgi import forward_info, route_key, wrap
from ringpop.integrations.lifecycle import lifespan


def fastapi_app(rp: Ringpop, hosts: str, *, alone: bool = False) -> Any:
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

    return api if alone else wrap(api, rp, key=route_key(api, "id"))


def starlette_app(rp: Ringpop, hosts: str, *, alone: bool = False) -> Any:
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
    return app if alone else wrap(app, rp, key=route_key(app, "id"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", choices=("fastapi", "starlette"), required=True)
    parser.add_argument("--listen", required=True)
    parser.add_argument("--hosts", required=True)
    parser.add_argument("--http", required=True)
    parser.add_argument(
        "--alone", action="store_true", help="no ringpop middleware (the framework alone)"
    )
    args = parser.parse_args()
    rp = Ringpop("objects", args.listen)
    build = fastapi_app if args.framework == "fastapi" else starlette_app
    host, _, port = args.http.rpartition(":")
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    print(f"uvicorn with http={http} loop={loop}", flush=True)
    uvicorn.run(
        build(rp, args.hosts, alone=args.alone),
        http=http,
        loop=loop,
        host=host,
        port=int(port),
        access_log=False,
        log_level="warning",
        backlog=1024,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
