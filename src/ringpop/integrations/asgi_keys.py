"""Key functions for :mod:`ringpop.integrations.asgi`: which key(s) an ASGI request is for.

Each gets the ASGI scope (read-only: the body is not available) and returns a key,
several keys or ``None`` (not sharded). :mod:`ringpop.integrations.asgi` re-exports them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from ringpop.integrations._common import (
    KeyResult,
    RateLimitedLog,
    Unmatched,
    check_unmatched,
    on_unmatched,
)

if TYPE_CHECKING:
    from starlette.requests import Request as StarletteRequest

__all__ = ["ScopeKeyFunc", "header_key", "path_key", "request_key", "route_key"]

log = logging.getLogger("ringpop.integrations.asgi")

Scope: TypeAlias = MutableMapping[str, Any]
ScopeKeyFunc: TypeAlias = Callable[[Scope], KeyResult | Awaitable[KeyResult]]
"""Gets the ASGI scope of a request (read-only: the body is not available)."""


_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::(str|path|int))?\}")


def _compile(pattern: str, param: str | None) -> tuple[re.Pattern[str], str]:
    names: list[str] = []
    regex = ["^"]
    position = 0
    for match in _PARAM.finditer(pattern):
        regex.append(re.escape(pattern[position : match.start()]))
        name, kind = match.group(1), match.group(2) or "str"
        names.append(name)
        regex.append(
            f"(?P<{name}>{'.+' if kind == 'path' else '[0-9]+' if kind == 'int' else '[^/]+'})"
        )
        position = match.end()
    regex.append(re.escape(pattern[position:]) + "$")
    if not names:
        raise ValueError(f"path pattern {pattern!r} has no {{parameter}}")
    wanted = names[-1] if param is None else param
    if wanted not in names:
        raise ValueError(f"path pattern {pattern!r} has no parameter {wanted!r}")
    return re.compile("".join(regex)), wanted


def path_key(
    pattern: str | Sequence[str],
    param: str | None = None,
    *,
    unmatched: Unmatched = "warn",
) -> ScopeKeyFunc:
    """Key from a path parameter: ``path_key(["/counters/{name}", "/counters/{name}/incr"])``.

    ``pattern`` is one pattern or a list, tried in order, in Starlette's syntax
    (``{name}`` is one segment, ``{name:path}`` the rest of the path, ``{name:int}``
    digits). ``param`` names
    the parameter that is the key (default: each pattern's only or last one).
    ``unmatched`` says what happens to a path that matches no pattern (see
    :data:`~ringpop.integrations.Unmatched`): by default it is served where it
    arrived, not sharded, and a WARNING says so (rate-limited). To take the patterns
    from the application's own routes instead, use :func:`route_key`.
    """
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    if not patterns:
        raise ValueError("path_key needs at least one pattern")
    policy = check_unmatched(unmatched)
    compiled = [_compile(p, param) for p in patterns]
    limiter = RateLimitedLog(log)

    def key(scope: Scope) -> str | None:
        path = scope.get("path", "")
        for regex, wanted in compiled:
            match = regex.match(path)
            if match is not None:
                return match.group(wanted)
        on_unmatched(policy, path, patterns, limiter)
        return None

    return key


def route_key(
    app: Any, param: str | Sequence[str], *, unmatched: Unmatched = "warn"
) -> ScopeKeyFunc:
    """Key from the application's own routes (Starlette, FastAPI): the path parameter
    ``param`` of the route that matches the request, as the router will match it.

    ``route_key(app, "name")`` with ``@app.post("/counters/{name}/incr")`` keys that
    route on ``name``, and every other route that has a ``name`` parameter; routes
    without it (``/ready``, ``/metrics``) are not sharded. ``param`` may list several
    names (the first one a route has is the key). Requests that match no route at
    all follow ``unmatched`` (the application answers them 404 wherever they run).
    Pass the app or its router; routes added later are seen too.
    """
    from starlette.routing import Match

    names = [param] if isinstance(param, str) else list(param)
    if not names:
        raise ValueError("route_key needs at least one parameter name")
    policy = check_unmatched(unmatched)
    limiter = RateLimitedLog(log)

    def find(routes: Sequence[Any], scope: Scope) -> dict[str, Any] | None:
        for route in routes:
            match, child = route.matches(scope)
            if match != Match.FULL:
                continue
            params: dict[str, Any] = dict(child.get("path_params", {}))
            selected = _included_match(route, scope)
            if selected is not None:  # FastAPI's included routers match lazily
                params.update(selected)
                return params
            inner = getattr(route, "routes", None)
            if inner:  # a Mount: look inside with the scope it would pass on
                found = find(inner, {**scope, **child})
                if found is None:
                    continue
                params.update(found)
            return params
        return None

    def key(scope: Scope) -> str | None:
        router = getattr(app, "router", app)
        params = find(getattr(router, "routes", ()), scope)
        if params is None:
            on_unmatched(policy, scope.get("path", ""), [f"routes of {names}"], limiter)
            return None
        for name in names:
            if name in params:
                return str(params[name])
        return None

    return key


def _included_match(route: Any, scope: Scope) -> dict[str, Any] | None:
    """The path parameters a FastAPI included router (``include_router``; FastAPI
    >= 0.16x routes those lazily, its ``matches`` gives none) finds for ``scope``."""
    select = getattr(route, "_match", None)
    if select is None or not hasattr(route, "original_router"):
        return None
    try:
        _match, child, _route, _context = select(dict(scope))
    except (TypeError, ValueError):
        return None
    return dict(child.get("path_params", {}))


def header_key(name: str) -> ScopeKeyFunc:
    """Key from a request header (``None`` when absent)."""
    wanted = name.lower().encode("latin-1")

    def key(scope: Scope) -> str | None:
        for header, value in scope.get("headers", ()):
            if bytes(header).lower() == wanted:
                return bytes(value).decode("latin-1")
        return None

    return key


def request_key(
    func: Callable[[StarletteRequest], KeyResult | Awaitable[KeyResult]],
) -> ScopeKeyFunc:
    """Adapt a key function taking a Starlette ``Request`` (headers, query, path).

    The middleware runs before routing, so ``request.path_params`` is empty: use
    :func:`route_key` or :func:`path_key` for path parameters. The body cannot be read here.
    """
    from starlette.requests import Request

    def key(scope: Scope) -> KeyResult | Awaitable[KeyResult]:
        return func(Request(scope))

    return key
