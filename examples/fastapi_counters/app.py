"""The counters service: one FastAPI app, served by uvicorn, sharded by ringpop.

Configured by environment variables (one uvicorn process per node)::

    RINGPOP_LISTEN=127.0.0.1:3000 RINGPOP_HOSTS=hosts.json \\
        uvicorn examples.fastapi_counters.app:app --port 4000

``RINGPOP_APP`` (default ``counters``) is the cluster's app name;
``RINGPOP_OPTIONS`` optional JSON for :meth:`Options.from_mapping` (e.g.
``{"proxy_failover_methods": []}``). Every node
answers every request: a counter lives on the node owning its name and requests
reaching another node are forwarded there. ``/ready`` is the readiness probe and
``/metrics`` the Prometheus scrape endpoint; neither is sharded.
"""

from __future__ import annotations

import json
import os

from fastapi import FastAPI
from prometheus_client import make_asgi_app
from starlette.routing import Route

from ringpop import Options, Ringpop
from ringpop.integrations.asgi import route_key, wrap
from ringpop.integrations.lifecycle import lifespan, readiness
from ringpop.stats.prometheus import PrometheusBackend

__all__ = ["api", "app", "rp"]

metrics = PrometheusBackend()
rp = Ringpop(
    os.environ.get("RINGPOP_APP", "counters"),
    os.environ.get("RINGPOP_LISTEN", "127.0.0.1:3000"),
    options=Options.from_mapping(json.loads(os.environ.get("RINGPOP_OPTIONS", "{}"))),
    stats_backend=metrics,
)
api = FastAPI(
    title="counters",
    lifespan=lifespan(rp, os.environ.get("RINGPOP_HOSTS", "hosts.json"), drain=0.5),
)
counters: dict[str, int] = {}


@api.post("/counters/{name}/incr")
async def increment(name: str, by: int = 1) -> dict[str, object]:
    """Add ``by`` to counter ``name`` (runs on the owner of ``name`` only)."""
    counters[name] = counters.get(name, 0) + by
    return {"name": name, "value": counters[name], "node": rp.whoami()}


@api.get("/counters/{name}")
async def read(name: str) -> dict[str, object]:
    """Counter ``name`` (0 when never incremented)."""
    return {"name": name, "value": counters.get(name, 0), "node": rp.whoami()}


@api.put("/counters/{name}")
async def reset(name: str, value: int = 0) -> dict[str, object]:
    """Set counter ``name`` (idempotent: safe to retry on another node)."""
    counters[name] = value
    return {"name": name, "value": value, "node": rp.whoami()}


api.router.routes.append(Route("/ready", readiness(rp)))  # not a FastAPI endpoint: raw ASGI
api.mount("/metrics", make_asgi_app(metrics.registry))

# Key every route that has a {name} parameter on it, as FastAPI's router matches it.
app = wrap(api, rp, key=route_key(api, "name"))
