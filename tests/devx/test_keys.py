"""Finding 1: a key pattern that does not match cannot go unnoticed.

``path_key`` takes several patterns and an ``unmatched`` policy (warn by default,
rate-limited; local; reject = 404; raise); ``route_key`` keys on the app's own
routes (FastAPI/Starlette router match), ``match_info_key`` on aiohttp's. Through
real uvicorn processes: ``POST /counters/alpha/incr`` runs on alpha's owner
whichever node gets it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fastapi import APIRouter, FastAPI
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from ringpop import Ringpop
from ringpop.integrations import UnmatchedKeyError
from ringpop.integrations import aiohttp as rp_aiohttp
from ringpop.integrations.asgi import path_key, route_key, wrap
from tests.devx.uvinodes import uvicorn_cluster


def scope(path: str, method: str = "GET") -> dict[str, Any]:
    return {"type": "http", "path": path, "method": method, "root_path": "", "headers": []}


def test_path_key_takes_several_patterns() -> None:
    key = path_key(["/counters/{name}", "/counters/{name}/incr"])
    assert key(scope("/counters/alpha")) == "alpha"
    assert key(scope("/counters/alpha/incr")) == "alpha"


def test_unmatched_warns_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    key = path_key("/counters/{name}")
    with caplog.at_level(logging.WARNING):
        for _ in range(20):
            assert key(scope("/counters/alpha/incr")) is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "/counters/alpha/incr" in warnings[0]
    assert "NOT sharded" in warnings[0]


def test_unmatched_local_is_silent(caplog: pytest.LogCaptureFixture) -> None:
    key = path_key("/counters/{name}", unmatched="local")
    with caplog.at_level(logging.WARNING):
        assert key(scope("/health")) is None
    assert not caplog.records


def test_unmatched_raise_and_bad_policy() -> None:
    with pytest.raises(UnmatchedKeyError, match="/other"):
        path_key("/counters/{name}", unmatched="raise")(scope("/other"))
    with pytest.raises(ValueError, match="unmatched"):
        path_key("/counters/{name}", unmatched="ignore")  # type: ignore[arg-type]


async def test_unmatched_reject_answers_404() -> None:
    rp = Ringpop("keys-test", "127.0.0.1:0")
    await rp.bootstrap([])
    try:

        async def ok(request: Any) -> Any:
            from starlette.responses import PlainTextResponse

            return PlainTextResponse("ok")

        app = wrap(
            Starlette(routes=[Route("/c/{name}", ok), Route("/other", ok)]),
            rp,
            key=path_key("/c/{name}", unmatched="reject"),
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/c/x")).status_code == 200
            rejected = await client.get("/other")
        assert rejected.status_code == 404
        assert rejected.headers["x-ringpop-error"] == "ringpop.unmatched-key"
    finally:
        await rp.close()


def fastapi_app() -> FastAPI:
    api = FastAPI()

    @api.post("/counters/{name}/incr")
    async def incr(name: str) -> dict[str, str]:
        return {"name": name}

    @api.get("/counters/{name}")
    async def read(name: str) -> dict[str, str]:
        return {"name": name}

    @api.get("/ready")
    async def ready() -> dict[str, str]:
        return {}

    nested = APIRouter()

    @nested.get("/items/{name}")
    async def item(name: str) -> dict[str, str]:
        return {"name": name}

    api.include_router(nested, prefix="/v2")
    return api


def test_route_key_uses_the_routers_match(caplog: pytest.LogCaptureFixture) -> None:
    key = route_key(fastapi_app(), "name")
    assert key(scope("/counters/alpha/incr", "POST")) == "alpha"
    assert key(scope("/counters/beta")) == "beta"
    assert key(scope("/v2/items/gamma")) == "gamma"
    with caplog.at_level(logging.WARNING):
        assert key(scope("/ready")) is None  # a route without {name}: silently local
    assert not caplog.records
    with caplog.at_level(logging.WARNING):
        assert key(scope("/nowhere")) is None  # no route at all: warned
    assert len(caplog.records) == 1


def test_route_key_sees_mounts() -> None:
    async def endpoint(request: Any) -> Any:
        raise AssertionError

    inner = Starlette(routes=[Route("/objects/{id}", endpoint)])
    app = Starlette(routes=[Mount("/api", app=inner)])
    assert route_key(app, "id")(scope("/api/objects/7")) == "7"


async def test_aiohttp_match_info_key_rejects_requests_no_route_matches() -> None:
    rp = Ringpop("keys-test", "127.0.0.1:0")
    await rp.bootstrap([])

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text=request.match_info.get("id", "-"))

    app = web.Application()
    app.router.add_get("/objects/{id}", ok)
    app.router.add_get("/ready", ok)
    rp_aiohttp.setup(app, rp, key=rp_aiohttp.match_info_key("id", unmatched="reject"))
    try:
        async with TestClient(TestServer(app)) as client:
            assert (await client.get("/objects/7")).status == 200
            assert (await client.get("/ready")).status == 200  # a route without {id}
            rejected = await client.get("/nowhere")
            assert rejected.status == 404
            assert rejected.headers["x-ringpop-error"] == "ringpop.unmatched-key"
    finally:
        await rp.close()


def test_counters_are_sharded_through_uvicorn(tmp_path: Path) -> None:
    with uvicorn_cluster(tmp_path, 3) as nodes:
        served_by = set()
        for node in nodes:
            reply = httpx.post(f"{node.url}/counters/alpha/incr", timeout=10)
            assert reply.status_code == 200, reply.text
            served_by.add(reply.json()["node"])
        assert len(served_by) == 1  # the owner of "alpha", whichever node was asked
        final = httpx.get(f"{nodes[0].url}/counters/alpha", timeout=10).json()
        assert final["value"] == 3
