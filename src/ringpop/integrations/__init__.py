"""Handle-or-forward for Python web frameworks.

* :mod:`ringpop.integrations.asgi` - a pure ASGI middleware (Starlette, FastAPI, any
  ASGI app) and :class:`~ringpop.integrations.asgi.AsgiHandler`, which serves forwarded
  requests with the same ASGI app;
* :mod:`ringpop.integrations.aiohttp` - the same for ``aiohttp.web``;
* :mod:`ringpop.integrations.lifecycle` - bootstrap that SIGTERM/SIGINT can stop, an
  ASGI lifespan (FastAPI, Starlette) and a readiness probe.

Both middlewares run one flow (:mod:`ringpop.integrations.flow`); each only adapts its
framework's request and response types. Per-middleware overrides of the forwarding
options are one :class:`~ringpop.forward.ForwardOptions` (re-exported here).

Key functions say what happens to requests they cannot key (``unmatched``): by
default such requests are served where they arrive and a WARNING says so.

Importing this package imports no web framework: each submodule imports its own
framework when it is imported itself. ::

    from ringpop.integrations.aiohttp import setup

    setup(app, rp, key=lambda request: request.match_info.get("id"))
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ringpop.integrations._common import ForwardInfo, ForwardOptions, Unmatched, UnmatchedKeyError

if TYPE_CHECKING:
    from ringpop.integrations import aiohttp, asgi, lifecycle

__all__ = [
    "ForwardInfo",
    "ForwardOptions",
    "Unmatched",
    "UnmatchedKeyError",
    "aiohttp",
    "asgi",
    "lifecycle",
]


def __getattr__(name: str) -> Any:
    if name in ("asgi", "aiohttp", "lifecycle"):
        module: ModuleType = importlib.import_module(f"ringpop.integrations.{name}")
        return module
    raise AttributeError(f"module 'ringpop.integrations' has no attribute {name!r}")
