"""The ASGI and aiohttp integrations in one process: adapters, middlewares, key helpers.

End-to-end runs between processes are in ``test_cluster.py``; here each piece is
driven directly (the forwarding itself still goes over TCP between in-process nodes).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from aiohttp import web
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ringpop import HttpRequest, HttpResponse, Options, Ringpop
from ringpop.integrations import ForwardInfo, ForwardOptions
from ringpop.integrations import aiohttp as rp_aiohttp
from ringpop.integrations import asgi as rp_asgi
from tests.forward.conftest import Member, key_owned_by

Scope = MutableMapping[str, Any]

# -- ASGI: serving forwarded requests -----------------------------------------------------

THIS_FILE_BYTES = Path(__file__).read_bytes()  # what the /file route serves


def starlette_app() -> Starlette:
    async def show(request: Request) -> Response:
        info = rp_asgi.forward_info(request)
        return JSONResponse(
            {
                "x": request.path_params["x"],
                "path": request.url.path,
                "raw_path": request.scope["raw_path"].decode(),
                "query": request.url.query,
                "method": request.method,
                "headers": dict(request.headers),
                "body": (await request.body()).decode("latin-1"),
                "source": info.source if info else None,
                "keys": list(info.keys) if info else None,
            },
            status_code=201,
            headers={"x-extra": "1"},
        )

    async def stream(request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            for i in range(5):
                await asyncio.sleep(0)
                yield f"chunk{i};".encode()

        return StreamingResponse(chunks(), media_type="text/plain")

    async def cookies(request: Request) -> Response:
        response = Response(b"")
        response.set_cookie("a", "1")
        response.set_cookie("b", "2")
        return response

    async def boom(request: Request) -> Response:
        raise RuntimeError("starlette boom")

    return Starlette(
        routes=[
            Route("/show/{x}", show, methods=["GET", "POST", "PUT"]),
            Route("/stream", stream),
            Route("/cookies", cookies),
            Route("/boom", boom),
        ]
    )


async def test_asgi_handler_serves_a_forwarded_request() -> None:
    handler = rp_asgi.AsgiHandler(starlette_app(), server=("127.0.0.1", 8000))
    request = HttpRequest(
        "PUT",
        "/show/a%20b?q=1&r=%C3%A9",
        {"x-one": "1", "content-type": "text/plain", "transfer-encoding": "chunked"},
        b"\x00\xffbody",
        source="127.0.0.1:3001",
        keys=("a b",),
    )
    response = await handler(request)
    assert response.status == 201
    assert response.headers["x-extra"] == "1"
    assert "content-length" not in response.headers  # framing is the entry's business
    shown = json.loads(response.body)
    assert shown["x"] == "a b"
    assert shown["path"] == "/show/a b"
    assert shown["raw_path"] == "/show/a%20b"
    assert shown["query"] == "q=1&r=%C3%A9"
    assert shown["method"] == "PUT"
    assert shown["headers"]["x-one"] == "1"
    assert "transfer-encoding" not in shown["headers"]
    assert shown["body"] == "\x00\xffbody"
    assert shown["source"] == "127.0.0.1:3001"
    assert shown["keys"] == ["a b"]


async def test_asgi_handler_collects_streams_cookies_and_failures() -> None:
    handler = rp_asgi.AsgiHandler(starlette_app())
    streamed = await handler(HttpRequest("GET", "/stream"))
    assert streamed.body == b"chunk0;chunk1;chunk2;chunk3;chunk4;"
    cookies = await handler(HttpRequest("GET", "/cookies"))
    cookie_headers = cookies.headers["set-cookie"]
    assert isinstance(cookie_headers, list)
    assert [c.split(";")[0] for c in cookie_headers] == ["a=1", "b=2"]
    failed = await handler(HttpRequest("GET", "/boom"))
    assert failed.status == 500
    missing = await handler(HttpRequest("GET", "/nowhere"))
    assert missing.status == 404
    absolute = await handler(HttpRequest("GET", "http://example.com/show/z?k=v"))
    assert json.loads(absolute.body)["path"] == "/show/z"


async def test_asgi_handler_with_a_broken_app() -> None:
    async def silent(scope: Scope, receive: Any, send: Any) -> None:
        return None

    async def half(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise RuntimeError("died mid-response")

    assert (await rp_asgi.AsgiHandler(silent)(HttpRequest("GET", "/"))).status == 500
    answer = await rp_asgi.AsgiHandler(half)(HttpRequest("GET", "/"))
    assert answer.status == 500
    assert b"died mid-response" in answer.body


async def test_asgi_handler_takes_what_go_and_node_peers_send() -> None:
    handler = rp_asgi.AsgiHandler(starlette_app())
    # a go peer decodes raw UTF-8 bytes; a node peer one byte a character (Latin-1)
    utf8 = await handler(HttpRequest("GET", "/show/x\u20ac?q=\u20ac", {"x-go": "\u20ac"}))
    assert utf8.status == 201
    shown = json.loads(utf8.body)
    assert shown["headers"]["x-go"] == "\u20ac".encode().decode("latin-1")  # the raw bytes
    assert shown["raw_path"] == "/show/x\u20ac"
    latin = await handler(HttpRequest("GET", "/show/x", {"x-node": "\xe9"}))
    assert json.loads(latin.body)["headers"]["x-node"] == "\xe9"
    unusable = await handler(HttpRequest("GET", "http://[bad/show/x"))
    assert unusable.status == 400
    assert b"URL" in unusable.body
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    # an owner's answer with a header beyond Latin-1 (a go owner's UTF-8) reaches the client
    answer = HttpResponse(200, {"x-go": "\u20ac", "x-node": "\xe9"}, b"ok")
    await rp_asgi.send_response(send, answer, {"method": "GET"})
    headers = dict(sent[0]["headers"])
    assert (headers[b"x-go"], headers[b"x-node"]) == ("\u20ac".encode(), b"\xe9")


# -- ASGI: key helpers -----------------------------------------------------------------------


def test_path_key() -> None:
    key = rp_asgi.path_key("/objects/{id}")
    assert key({"path": "/objects/abc"}) == "abc"
    assert key({"path": "/objects/abc/more"}) is None
    assert key({"path": "/other"}) is None
    nested = rp_asgi.path_key("/u/{user}/files/{name:path}", "user")
    assert nested({"path": "/u/ann/files/a/b.txt"}) == "ann"
    assert rp_asgi.path_key("/n/{n:int}")({"path": "/n/42"}) == "42"
    assert rp_asgi.path_key("/n/{n:int}")({"path": "/n/x"}) is None
    with pytest.raises(ValueError, match="no parameter"):
        rp_asgi.path_key("/a/{b}", "c")
    with pytest.raises(ValueError, match="no \\{parameter\\}"):
        rp_asgi.path_key("/plain")


def test_header_and_request_keys() -> None:
    scope = {
        "type": "http",
        "path": "/x",
        "query_string": b"tenant=t9",
        "headers": [(b"x-shard-key", b"user:7")],
    }
    assert rp_asgi.header_key("X-Shard-Key")(scope) == "user:7"
    assert rp_asgi.header_key("x-other")(scope) is None
    by_query = rp_asgi.request_key(lambda request: request.query_params.get("tenant"))
    assert by_query(scope) == "t9"


# -- ASGI: the middleware ---------------------------------------------------------------------


def asgi_client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://entry")


async def test_asgi_middleware_forwards_and_passes_through(trio: list[Member]) -> None:
    a, b, _ = trio
    local_hits: list[str] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        local_hits.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"local"})

    wrapped = rp_asgi.RingpopMiddleware(app, a.rp, rp_asgi.path_key("/k/{key}"))
    mine, theirs = key_owned_by(trio, a), key_owned_by(trio, b)
    async with asgi_client(wrapped) as client:
        assert (await client.get(f"/k/{mine}")).text == "local"
        assert (await client.get("/unsharded")).text == "local"
        answer = await client.post(
            f"/k/{theirs}?q=1", content=b"\x01\x02", headers={"x-want-status": "207"}
        )
        assert answer.status_code == 207
        assert answer.content == b"\x01\x02"
        assert answer.headers["x-handled-by"] == b.address
        assert answer.headers.get_list("set-cookie") == ["a=1", "b=2"]
        assert int(answer.headers["content-length"]) == 2
        seen = b.seen[-1]
        assert (seen.method, seen.url, seen.source) == ("POST", f"/k/{theirs}?q=1", a.address)
        assert seen.headers["host"] == "entry"
        assert seen.headers["content-length"] == "2"
        head = await client.head(f"/k/{theirs}")
        assert head.status_code == 200
        assert head.content == b""
    assert local_hits == [f"/k/{mine}", "/unsharded"]


async def test_asgi_middleware_limits_refusals_and_diverged_keys(trio: list[Member]) -> None:
    a, b, c = trio

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        raise AssertionError("must not be reached")

    two = [key_owned_by(trio, b), key_owned_by(trio, c)]
    wrapped = rp_asgi.RingpopMiddleware(
        app, a.rp, lambda scope: two if scope["path"] == "/two" else key_owned_by(trio, b)
    )
    limit = a.rp.options.body_limit

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(limit // 65536 + 2):
            yield b"z" * 65536

    async with asgi_client(wrapped) as client:
        too_big = await client.put("/k", content=b"x" * (limit + 1))
        assert too_big.status_code == 413
        streamed = await client.put("/k", content=chunks())
        assert streamed.status_code == 413
        diverged = await client.get("/two")
        assert diverged.status_code == 500
        assert diverged.headers["x-ringpop-error"] == "ringpop.request-proxy.keys-diverged"
    assert not b.seen
    assert not c.seen


async def test_asgi_middleware_forwards_nothing_for_a_client_gone_mid_body(
    trio: list[Member],
) -> None:
    a, b, _ = trio

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        raise AssertionError("must not be reached")

    wrapped = rp_asgi.RingpopMiddleware(app, a.rp, lambda scope: key_owned_by(trio, b))
    messages = [
        {"type": "http.request", "body": b"half", "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[Any] = []

    async def receive() -> Any:
        return messages.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http", "method": "PUT", "path": "/k", "raw_path": b"/k", "query_string": b"",
        "headers": [(b"content-length", b"100")],
    }  # fmt: skip
    await wrapped(scope, receive, send)
    assert not b.seen  # half a body never reaches the owner
    assert sent == []  # nobody to answer
    messages[:] = [{"type": "http.request", "body": b"whole", "more_body": False}]
    scope["headers"] = [(b"content-length", b"5"), (b"transfer-encoding", b"chunked")]
    await wrapped(scope, receive, send)
    assert b.seen[-1].body == b"whole"
    assert b.seen[-1].headers["content-length"] == "5"


async def test_asgi_middleware_before_ready() -> None:
    rp = Ringpop("integrations-test", "127.0.0.1:0")
    await rp.start()
    try:
        served: list[str] = []

        async def app(scope: Scope, receive: Any, send: Any) -> None:
            served.append(scope["path"])
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

        refusing = rp_asgi.RingpopMiddleware(app, rp, rp_asgi.path_key("/k/{key}"))
        serving = rp_asgi.RingpopMiddleware(
            app, rp, rp_asgi.path_key("/k/{key}"), not_ready="serve"
        )
        async with asgi_client(refusing) as client:
            answer = await client.get("/k/1")
            assert answer.status_code == 503
            assert answer.headers["retry-after"] == "1"
            assert (await client.get("/free")).status_code == 200
        async with asgi_client(serving) as client:
            assert (await client.get("/k/1")).status_code == 200
        assert served == ["/free", "/k/1"]
        with pytest.raises(ValueError, match="not_ready"):
            rp_asgi.RingpopMiddleware(app, rp, rp_asgi.path_key("/k/{k}"), not_ready="x")  # type: ignore[arg-type]
    finally:
        await rp.close()


async def test_asgi_forwarded_scope_is_never_forwarded_again(trio: list[Member]) -> None:
    a, b, _ = trio
    hits: list[ForwardInfo | None] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        hits.append(rp_asgi.forward_info(scope))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"here"})

    rp_asgi.wrap(app, a.rp, rp_asgi.path_key("/k/{key}"))  # a serves /proxy/req with app
    # b sends a its own key over /proxy/req: a's middleware serves it, whatever a's ring says
    theirs = key_owned_by(trio, b)
    answer = await b.rp.proxy.proxy(
        [theirs], HttpRequest("GET", f"/k/{theirs}"), a.address, ForwardOptions(max_retries=0)
    )
    assert answer.body == b"here"
    assert hits == [ForwardInfo(b.address, (theirs,))]
    assert not b.seen  # not sent back to its owner


# -- aiohttp: serving forwarded requests ------------------------------------------------------


def aiohttp_app() -> web.Application:
    async def show(request: web.Request) -> web.Response:
        info = rp_aiohttp.forward_info(request)
        return web.json_response(
            {
                "x": request.match_info["x"],
                "path": request.path,
                "raw_path": request.raw_path,
                "query": dict(request.query),
                "method": request.method,
                "headers": dict(request.headers),
                "body": (await request.read()).decode("latin-1"),
                "source": info.source if info else None,
                "mw": request.get("mw"),
                "remote": request.remote,
                "version": f"{request.version.major}.{request.version.minor}",
            },
            status=202,
        )

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/plain"})
        await response.prepare(request)
        for i in range(3):
            await response.write(f"part{i};".encode())
        await response.write_eof()
        return response

    async def compressed(request: web.Request) -> web.Response:
        response = web.Response(text="squeeze me " * 100)
        response.enable_compression()
        return response

    async def cookies(request: web.Request) -> web.Response:
        response = web.Response(text="c")
        response.set_cookie("a", "1")
        response.set_cookie("b", "2")
        return response

    async def not_found(request: web.Request) -> web.Response:
        raise web.HTTPNotFound(text="nope")

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/elsewhere")

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("aiohttp boom")

    async def form(request: web.Request) -> web.Response:
        data = await request.post()
        return web.json_response({k: str(v) for k, v in data.items()})

    async def file(request: web.Request) -> web.FileResponse:
        return web.FileResponse(Path(__file__))

    async def sub_hello(request: web.Request) -> web.Response:
        return web.Response(text=f"sub {request.match_info['name']}")

    @web.middleware
    async def tag(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        request["mw"] = "ran"
        response = await handler(request)
        response.headers["x-middleware"] = "yes"
        return response

    app = web.Application(middlewares=[tag])
    app.router.add_route("*", "/show/{x}", show)
    app.router.add_get("/stream", stream)
    app.router.add_get("/gzip", compressed)
    app.router.add_get("/cookies", cookies)
    app.router.add_get("/404", not_found)
    app.router.add_get("/302", moved)
    app.router.add_get("/boom", boom)
    app.router.add_post("/form", form)
    app.router.add_get("/file", file)
    sub = web.Application()
    sub.router.add_get("/hello/{name}", sub_hello)
    app.add_subapp("/sub", sub)
    return app


@pytest.fixture
async def running_aiohttp_app() -> AsyncIterator[web.Application]:
    app = aiohttp_app()
    runner = web.AppRunner(app)
    await runner.setup()  # running (frozen) without listening anywhere
    try:
        yield app
    finally:
        await runner.cleanup()


@pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")
async def test_aiohttp_handler_serves_a_forwarded_request(
    running_aiohttp_app: web.Application,
) -> None:
    handler = rp_aiohttp.AiohttpHandler(running_aiohttp_app)
    response = await handler(
        HttpRequest(
            "PATCH",
            "/show/a%20b?q=1&r=%C3%A9",
            {"x-one": "1", "host": "entry:80", "transfer-encoding": "chunked"},
            b"\x00\xffdata",
            "1.0",
            source="127.0.0.1:3001",
            keys=("a b",),
        )
    )
    assert response.status == 202
    assert response.headers["x-middleware"] == "yes"
    shown = json.loads(response.body)
    assert shown["x"] == "a b"
    assert shown["path"] == "/show/a b"
    assert shown["raw_path"] == "/show/a%20b?q=1&r=%C3%A9"
    assert shown["query"] == {"q": "1", "r": "é"}
    assert shown["method"] == "PATCH"
    assert shown["headers"]["x-one"] == "1"
    assert shown["headers"]["host"] == "entry:80"
    assert "transfer-encoding" not in shown["headers"]
    assert shown["body"] == "\x00\xffdata"
    assert shown["source"] == "127.0.0.1:3001"
    assert shown["mw"] == "ran"
    assert shown["remote"] is None
    assert shown["version"] == "1.0"


async def test_aiohttp_handler_takes_what_go_and_node_peers_send(
    running_aiohttp_app: web.Application,
) -> None:
    handler = rp_aiohttp.AiohttpHandler(running_aiohttp_app)
    utf8 = await handler(HttpRequest("GET", "/show/x?q=\u20ac", {"x-go": "\u20ac"}))
    assert utf8.status == 202
    assert json.loads(utf8.body)["headers"]["x-go"] == "\u20ac"
    unusable = await handler(HttpRequest("GET", "http://[bad/show/x"))
    assert unusable.status == 400
    assert b"URL" in unusable.body


async def test_aiohttp_handler_response_kinds(running_aiohttp_app: web.Application) -> None:
    handler = rp_aiohttp.AiohttpHandler(running_aiohttp_app)
    streamed = await handler(HttpRequest("GET", "/stream"))
    assert streamed.body == b"part0;part1;part2;"
    assert "transfer-encoding" not in streamed.headers
    squeezed = await handler(HttpRequest("GET", "/gzip", {"accept-encoding": "gzip"}))
    assert squeezed.headers["content-encoding"] == "gzip"
    assert gzip.decompress(squeezed.body) == b"squeeze me " * 100
    cookies = await handler(HttpRequest("GET", "/cookies"))
    cookie_headers = cookies.headers["set-cookie"]
    assert isinstance(cookie_headers, list)
    assert [c.split(";")[0] for c in cookie_headers] == ["a=1", "b=2"]
    not_found = await handler(HttpRequest("GET", "/404"))
    assert (not_found.status, not_found.body) == (404, b"nope")
    moved = await handler(HttpRequest("GET", "/302"))
    assert (moved.status, moved.headers["location"]) == (302, "/elsewhere")
    boom = await handler(HttpRequest("GET", "/boom"))
    assert boom.status == 500
    assert (await handler(HttpRequest("GET", "/no/route"))).status == 404
    assert (await handler(HttpRequest("DELETE", "/stream"))).status == 405
    form = await handler(
        HttpRequest(
            "POST",
            "/form",
            {"content-type": "application/x-www-form-urlencoded"},
            b"a=1&b=two+words",
        )
    )
    assert json.loads(form.body) == {"a": "1", "b": "two words"}
    sub = await handler(HttpRequest("GET", "/sub/hello/ann"))
    assert sub.body == b"sub ann"
    served_file = await handler(HttpRequest("GET", "/file"))
    assert served_file.status == 200
    assert served_file.body == THIS_FILE_BYTES


async def test_aiohttp_handler_needs_a_running_app() -> None:
    answer = await rp_aiohttp.AiohttpHandler(aiohttp_app())(HttpRequest("GET", "/stream"))
    assert answer.status == 503


# -- aiohttp: the middleware -------------------------------------------------------------------


async def serve_aiohttp(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    return runner, f"http://127.0.0.1:{port}"


async def test_aiohttp_middleware_forwards_and_passes_through(trio: list[Member]) -> None:
    a, b, c = trio
    hits: list[str] = []

    async def local(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text="local")

    app = web.Application()
    app.router.add_route("*", "/k/{key}", local)
    app.router.add_get("/free", local)
    app.router.add_get("/two", local)
    two = [key_owned_by(trio, b), key_owned_by(trio, c)]

    def key(request: web.Request) -> list[str] | str | None:
        if request.path == "/two":
            return two
        return request.match_info.get("key")

    rp_aiohttp.setup(app, a.rp, key)
    runner, url = await serve_aiohttp(app)
    mine, theirs = key_owned_by(trio, a), key_owned_by(trio, b)
    limit = a.rp.options.body_limit
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{url}/k/{mine}") as answer:
                assert await answer.text() == "local"
            async with session.get(f"{url}/free") as answer:
                assert await answer.text() == "local"
            async with session.put(
                f"{url}/k/{theirs}?v=1", data=b"\xff\x00", headers={"x-want-status": "226"}
            ) as answer:
                assert answer.status == 226
                assert await answer.read() == b"\xff\x00"
                assert answer.headers["x-handled-by"] == b.address
                assert answer.headers.getall("set-cookie") == ["a=1", "b=2"]
            seen = b.seen[-1]
            assert (seen.method, seen.url, seen.source) == ("PUT", f"/k/{theirs}?v=1", a.address)
            async with session.put(f"{url}/k/{theirs}", data=b"x" * (limit + 1)) as answer:
                assert answer.status == 413
            async with session.get(f"{url}/two") as answer:
                assert answer.status == 500
                assert answer.headers["x-ringpop-error"] == "ringpop.request-proxy.keys-diverged"
    finally:
        await runner.cleanup()
    assert hits == [f"/k/{mine}", "/free"]
    assert len(b.seen) == 1


async def serve_forwarding_only(trio: list[Member]) -> tuple[web.AppRunner, str, str]:
    """An aiohttp app on the first node whose every request belongs to the second:
    its runner, host and port."""
    a, b, _ = trio

    async def local(request: web.Request) -> web.Response:
        raise AssertionError("must not be reached")

    app = web.Application()
    app.router.add_route("*", "/k/{key}", local)
    rp_aiohttp.setup(app, a.rp, lambda request: key_owned_by(trio, b))
    runner, url = await serve_aiohttp(app)
    host, port = url.removeprefix("http://").split(":")
    return runner, host, port


async def test_aiohttp_middleware_forwards_nothing_for_a_client_gone_mid_body(
    trio: list[Member],
) -> None:
    b = trio[1]
    runner, host, port = await serve_forwarding_only(trio)
    try:
        _, writer = await asyncio.open_connection(host, port)
        writer.write(b"PUT /k/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nhalf")
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.close()
        await asyncio.sleep(0.3)
    finally:
        await runner.cleanup()
    assert not b.seen


async def test_aiohttp_middleware_forwards_headers_byte_for_byte(trio: list[Member]) -> None:
    """A header of Latin-1 bytes (aiohttp decodes headers as UTF-8 with surrogates)
    could not be sent on: the client got a 500."""
    b = trio[1]
    runner, host, port = await serve_forwarding_only(trio)
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET /k/x HTTP/1.1\r\nHost: x\r\nX-A: caf\xe9\r\nConnection: close\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    finally:
        await runner.cleanup()
    assert answer.startswith(b"HTTP/1.1 200")
    assert b.seen[-1].headers["x-a"] == "caf\xe9"  # the byte 0xe9, one character


async def test_aiohttp_middleware_before_ready() -> None:
    rp = Ringpop("integrations-test", "127.0.0.1:0", options=Options())
    await rp.start()
    app = web.Application()

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/k/{key}", handler)
    rp_aiohttp.setup(app, rp, rp_aiohttp.match_info_key("key"))
    runner, url = await serve_aiohttp(app)
    try:
        async with aiohttp.ClientSession() as session, session.get(f"{url}/k/1") as answer:
            assert answer.status == 503
    finally:
        await runner.cleanup()
        await rp.close()
    with pytest.raises(ValueError, match="not_ready"):
        rp_aiohttp.middleware(rp, rp_aiohttp.header_key("x"), not_ready="never")  # type: ignore[arg-type]


@pytest.mark.cluster
def test_importing_ringpop_imports_no_framework() -> None:
    import subprocess

    code = (
        "import sys, ringpop, ringpop.integrations; from ringpop import Ringpop; "
        "print(sorted(m for m in ('aiohttp', 'starlette') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


# -- per-middleware forwarding options -------------------------------------------------------


@pytest.mark.parametrize("spelling", ["options", "keywords"])
async def test_middlewares_apply_their_forward_options(trio: list[Member], spelling: str) -> None:
    """A slow owner and a 0.2 s, no-retry, no-failover budget: 503 after one attempt."""
    a, b, _ = trio
    b.delay = 2.0
    theirs = key_owned_by(trio, b)
    budget: dict[str, Any] = {"timeout": 0.2, "max_retries": 0, "failover": False}
    given: dict[str, Any] = (
        {"options": ForwardOptions(**budget)} if spelling == "options" else budget
    )

    async def nothing(scope: Scope, receive: Any, send: Any) -> None:
        raise AssertionError("must not be reached")

    wrapped = rp_asgi.RingpopMiddleware(nothing, a.rp, rp_asgi.path_key("/k/{key}"), **given)
    assert wrapped.forward_options == ForwardOptions(**budget)
    async with asgi_client(wrapped) as client:
        started = time.monotonic()
        answer = await client.get(f"/k/{theirs}")
        assert answer.status_code == 503
        assert time.monotonic() - started < 1.5

    async def local(request: web.Request) -> web.Response:
        return web.Response(text="local")

    app = web.Application()
    app.router.add_get("/k/{key}", local)
    rp_aiohttp.setup(app, a.rp, rp_aiohttp.match_info_key("key"), **given)
    runner, url = await serve_aiohttp(app)
    try:
        async with aiohttp.ClientSession() as session:
            started = time.monotonic()
            async with session.get(f"{url}/k/{theirs}") as response:
                assert response.status == 503
            assert time.monotonic() - started < 1.5
    finally:
        await runner.cleanup()
    assert len(b.seen) == 2  # one attempt each, no retry, not failed over to c


async def test_middlewares_after_close_answer_503_closed(trio: list[Member]) -> None:
    """A request reaching the app while ringpop closes (shutdown) is answered, not a
    500: a closed node owns nothing and forwards nothing."""
    a, b, _ = trio
    mine, theirs = key_owned_by(trio, a), key_owned_by(trio, b)

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"local"})

    aio = web.Application()

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="local")

    aio.router.add_get("/k/{key}", handler)
    rp_aiohttp.setup(aio, a.rp, rp_aiohttp.match_info_key("key"))
    runner, url = await serve_aiohttp(aio)
    wrapped = rp_asgi.RingpopMiddleware(app, a.rp, rp_asgi.path_key("/k/{key}"))
    try:
        await a.rp.close(self_evict=False)
        async with asgi_client(wrapped) as client, aiohttp.ClientSession() as session:
            for key in (mine, theirs):
                answer = await client.get(f"/k/{key}")
                assert answer.status_code == 503
                assert answer.headers["x-ringpop-error"] == "ringpop.request-proxy.closed"
                async with session.get(f"{url}/k/{key}") as aio_answer:
                    assert aio_answer.status == 503
                    assert aio_answer.headers["x-ringpop-error"] == "ringpop.request-proxy.closed"
    finally:
        await runner.cleanup()


async def test_a_key_or_app_that_is_not_callable_is_refused_where_given(
    trio: list[Member],
) -> None:
    """``wrap(app, rp, key="/kv/{key}")`` was taken: every request then failed
    with a 500 ("'str' object is not callable")."""
    a = trio[0]

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        return None

    with pytest.raises(TypeError, match=r"key must be a function of the request.*path_key"):
        rp_asgi.RingpopMiddleware(app, a.rp, "/kv/{key}")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="key must be a function of the request"):
        rp_aiohttp.middleware(a.rp, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="app must be an ASGI application"):
        rp_asgi.RingpopMiddleware(None, a.rp, rp_asgi.path_key("/k/{key}"))  # type: ignore[arg-type]
