"""The aiohttp internals ringpop relies on still exist as used (fails loudly when an
aiohttp release changes them: then fix integrations/_aiohttp_shim.py and its pin)."""

from __future__ import annotations

import inspect
import re
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from aiohttp import web

from ringpop.integrations import _aiohttp_shim as shim

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def test_installed_aiohttp_is_in_the_supported_range() -> None:
    low, high = shim.SUPPORTED
    installed = _version(aiohttp.__version__)
    assert _version(low) <= installed < _version(high), (
        f"aiohttp {aiohttp.__version__} is outside {low},{high}: check the shim's private API"
    )


def test_pyproject_pins_the_same_range() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    pin = "aiohttp" + ",".join(shim.SUPPORTED)
    assert pin in project["optional-dependencies"]["aiohttp"]
    assert pin in project["optional-dependencies"]["test"]


def test_private_api_is_there_with_the_parameters_we_pass() -> None:
    owners = {"Application": web.Application, "BaseRequest": web.BaseRequest}
    for name, parameters in shim.PRIVATE_API.items():
        owner, attribute = name.split(".")
        method = getattr(owners[owner], attribute, None)
        assert callable(method), f"aiohttp {aiohttp.__version__} has no {name}"
        signature = inspect.signature(method)
        names = [p for p in signature.parameters if p != "self"]
        assert names[: len(parameters)] == list(parameters), (
            f"aiohttp {aiohttp.__version__} changed {name}{signature}"
        )
        required = [
            p.name
            for p in signature.parameters.values()
            if p.name != "self"
            and p.default is inspect.Parameter.empty
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.POSITIONAL_ONLY, p.KEYWORD_ONLY)
        ]
        assert set(required) <= set(parameters), f"{name} now requires {required}"
    assert inspect.iscoroutinefunction(web.Application._handle)


async def test_a_request_goes_through_router_and_middlewares() -> None:
    calls: list[str] = []

    @web.middleware
    async def mark(request: web.Request, handler: Handler) -> web.StreamResponse:
        calls.append("middleware")
        return await handler(request)

    async def hello(request: web.Request) -> web.Response:
        calls.append(f"handler {request.match_info['name']} {await request.text()}")
        return web.Response(text="hi", headers={"x-a": "1"})

    app = web.Application(middlewares=[mark])
    app.router.add_post("/hello/{name}", hello)
    app.freeze()
    dispatch = shim.Dispatch()
    message = shim.request_message("post", "/hello/bob?x=1", "1.1", {"x-b": "2"})
    request = shim.make_request(app, message, b"body", dispatch)
    assert (request.method, request.path, request.query_string) == ("POST", "/hello/bob", "x=1")
    response = await shim.handle(app, request)
    await response.prepare(request)
    await response.write_eof()
    shim.finish(request)
    assert calls == ["middleware", "handler bob body"]
    assert response.status == 200
    assert dispatch.writer.headers["x-a"] == "1"
    assert b"".join(dispatch.writer.chunks) == b"hi"
