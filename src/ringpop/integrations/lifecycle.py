"""Start and stop ringpop inside a web server's lifecycle (uvicorn, FastAPI, Starlette).

* :func:`bootstrap_or_stop` bootstraps and gives up as soon as the process gets
  SIGTERM or SIGINT, even when the server (uvicorn) has its own handlers for them
  and waits for the application's startup to finish before acting on them;
* :func:`lifespan` is an ASGI lifespan (FastAPI's and Starlette's ``lifespan=``):
  bootstrap at startup, graceful self-eviction and close at shutdown;
* :func:`readiness` answers a Kubernetes readiness probe: 200 once the node has
  joined, 503 before that and after it started leaving.

Imports no web framework. ::

    rp = Ringpop("counters", "10.0.3.7:3000")
    app = FastAPI(lifespan=lifespan(rp, "/etc/ringpop/hosts.json"))
    app.router.routes.append(Route("/ready", readiness(rp)))
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from types import FrameType
from typing import TYPE_CHECKING, Any

from ringpop.membership.join import BootstrapError, JoinResult

if TYPE_CHECKING:
    from ringpop.ringpop import HostsSpec, Ringpop

__all__ = ["BootstrapInterruptedError", "bootstrap_or_stop", "lifespan", "readiness", "ready_state"]

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class BootstrapInterruptedError(BootstrapError):
    """Bootstrap was abandoned because the process was asked to stop (``signum``)."""

    def __init__(self, signum: int) -> None:
        name = signal.Signals(signum).name
        super().__init__(f"bootstrap interrupted by {name}", permanent=True)
        self.signum = signum


async def bootstrap_or_stop(
    rp: Ringpop, hosts: HostsSpec, *, discover: HostsSpec | None = None
) -> JoinResult:
    """``rp.bootstrap(hosts)``, abandoned at the first SIGTERM or SIGINT.

    The signal's previous handler still runs (uvicorn's, which marks the server as
    exiting); our own handler is there only while bootstrap runs and cancels it.
    Raises :class:`BootstrapInterruptedError` then, and :class:`BootstrapError` when
    bootstrap fails. Outside the main thread signals cannot be watched: it is
    then a plain ``rp.bootstrap``.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(rp.bootstrap(hosts, discover=discover))
    received: list[int] = []
    previous: dict[int, Any] = {}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        loop.call_soon_threadsafe(task.cancel)
        chained = previous.get(signum)
        if callable(chained):
            chained(signum, frame)

    if threading.current_thread() is threading.main_thread():
        for stop_signal in STOP_SIGNALS:
            previous[stop_signal] = signal.getsignal(stop_signal)
            signal.signal(stop_signal, on_signal)
    try:
        return await task
    except asyncio.CancelledError:
        if not received:
            raise
        log.warning("%s during bootstrap: stopping", _name(received[0]))
        raise BootstrapInterruptedError(received[0]) from None
    finally:
        for number, handler in previous.items():
            if signal.getsignal(number) is on_signal:
                signal.signal(number, handler)


def _name(signum: int) -> str:
    return signal.Signals(signum).name


def lifespan(
    rp: Ringpop,
    hosts: HostsSpec,
    *,
    discover: HostsSpec | None = None,
    drain: float = 0.0,
) -> Callable[[Any], contextlib.AbstractAsyncContextManager[None]]:
    """An ASGI lifespan: ``FastAPI(lifespan=lifespan(rp, hosts))``.

    Startup bootstraps with :func:`bootstrap_or_stop` (a failed or interrupted
    bootstrap fails the startup, so uvicorn exits instead of serving a node that
    is not in its cluster). Shutdown self-evicts, waits ``drain`` seconds so that
    the other members stop routing here (and load balancers see the readiness
    probe fail), then closes ringpop.
    """

    @contextlib.asynccontextmanager
    async def run(app: Any) -> AsyncIterator[None]:
        try:
            await bootstrap_or_stop(rp, hosts, discover=discover)
        except BaseException:
            await rp.close(self_evict=False)
            raise
        try:
            yield
        finally:
            if rp.is_ready:
                with contextlib.suppress(Exception):
                    await rp.self_evict()
                if drain > 0:
                    await asyncio.sleep(drain)
            await rp.close(self_evict=False)

    return run


def ready_state(rp: Ringpop) -> tuple[bool, dict[str, Any]]:
    """Whether ``rp`` should take traffic, and why (for probes and dashboards)."""
    if rp.is_leaving:
        return False, {"ready": False, "reason": "leaving the cluster (self-evicted or closed)"}
    if not rp.is_ready:
        return False, {"ready": False, "reason": "bootstrapping: not yet in its cluster"}
    node = rp.node
    return True, {
        "ready": True,
        "address": node.address,
        "members": len([m for m in node.members if m.is_reachable]),
        "ring_checksum": node.ring.checksum,
    }


Scope = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]


def readiness(rp: Ringpop) -> ASGIApp:
    """An ASGI app for a readiness probe: ``Route("/ready", readiness(rp))``.

    200 with a small JSON status when the node has joined its cluster, 503 (and the
    reason) while it bootstraps and once it leaves. Keep its path out of the key
    function's patterns: it must be answered by the node that was asked.
    """
    return _Readiness(rp)


class _Readiness:
    """An ASGI app object (not a function: Starlette routes treat functions as
    request handlers)."""

    def __init__(self, rp: Ringpop) -> None:
        self.rp = rp

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        ok, state = ready_state(self.rp)
        body = json.dumps(state).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200 if ok else 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
