"""The observer: runs in the switch namespace, asks nodes for their views, sends load.

Started by :class:`tests.faults.cluster.Observer` as
``ip netns exec <switch> python -m tests.faults.observer``; speaks JSON lines on
stdin/stdout, one answer per request, in order:

* ``{"op": "stats", "addresses": [...], "timeout": s}`` -> ``{"nodes": {address:
  {"checksum": int, "members": {address: status}} or {"error": text}}}`` (``/admin/stats``
  over TChannel with :class:`ringpop.admin.client.AdminClient`, all at once);
* ``{"op": "load", "fronts": ["ip:port", ...], "rate": per_second}`` -> ``{}``: from now
  on send ``GET /objects/<random id>`` to the fronts in turn at that rate (``[]``
  stops); each answer within 2 s with a 2xx status is a success;
* ``{"op": "counters"}`` -> ``{"ok", "failed", "forwarded", "skipped"}``, totals since
  the start (the harness takes differences per phase);
* ``{"op": "quit"}`` -> ``{}``, then exits.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from typing import Any

import aiohttp

from ringpop.admin.client import AdminClient, AdminError

__all__ = ["main"]

REQUEST_TIMEOUT_S = 2.0
MAX_IN_FLIGHT = 64


class Load:
    """Forwarded-request load: GET /objects/<id> through the fronts, counted."""

    def __init__(self) -> None:
        self.counters = {"ok": 0, "failed": 0, "forwarded": 0, "skipped": 0}
        self._fronts: list[str] = []
        self._rate = 0.0
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    def configure(self, fronts: list[str], rate: float) -> None:
        """Send to ``fronts`` at ``rate`` requests per second from now on."""
        self._fronts = list(fronts)
        self._rate = rate
        if self._task is None and fronts and rate > 0:
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
            connector=aiohttp.TCPConnector(limit=MAX_IN_FLIGHT),
        )
        turn = 0
        while True:
            if not self._fronts or self._rate <= 0:
                await asyncio.sleep(0.1)
                continue
            front = self._fronts[turn % len(self._fronts)]
            turn += 1
            if len(self._in_flight) >= MAX_IN_FLIGHT:
                self.counters["skipped"] += 1
            else:
                task = asyncio.ensure_future(self._one(front))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
            await asyncio.sleep(1.0 / self._rate)

    async def _one(self, front: str) -> None:
        assert self._session is not None
        key = f"k{random.randrange(1_000_000)}"
        try:
            async with self._session.get(f"http://{front}/objects/{key}") as response:
                body = await response.read()
                if 200 <= response.status < 300:
                    self.counters["ok"] += 1
                    try:
                        if json.loads(body).get("forwarded"):
                            self.counters["forwarded"] += 1
                    except (ValueError, AttributeError):
                        pass
                else:
                    self.counters["failed"] += 1
        except (aiohttp.ClientError, TimeoutError, OSError):
            self.counters["failed"] += 1

    async def close(self) -> None:
        """Stop sending; abandon requests in flight."""
        if self._task is not None:
            self._task.cancel()
        for task in list(self._in_flight):
            task.cancel()
        if self._session is not None:
            await self._session.close()


async def _stats(client: AdminClient, addresses: list[str], timeout: float) -> dict[str, Any]:
    views = await client.stats_many(addresses, timeout=timeout)
    nodes: dict[str, Any] = {}
    for address, view in views.items():
        if isinstance(view, AdminError):
            nodes[address] = {"error": f"{view.kind}: {view.message}"}
        else:
            nodes[address] = {
                "checksum": view.membership_checksum,
                "members": {m.address: m.status for m in view.members},
            }
    return {"nodes": nodes}


async def _main() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    load = Load()
    async with AdminClient(timeout=1.0) as client:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                request = json.loads(line)
                op = request.get("op")
                answer: dict[str, Any] = {}
                if op == "stats":
                    answer = await _stats(
                        client, list(request["addresses"]), float(request.get("timeout", 1.0))
                    )
                elif op == "load":
                    load.configure(list(request["fronts"]), float(request["rate"]))
                elif op == "counters":
                    answer = dict(load.counters)
                elif op == "quit":
                    sys.stdout.write("{}\n")
                    sys.stdout.flush()
                    return
                else:
                    answer = {"error": f"unknown op {op!r}"}
                sys.stdout.write(json.dumps(answer) + "\n")
                sys.stdout.flush()
        finally:
            await load.close()


def main() -> int:
    """Serve requests from stdin until EOF or ``quit``."""
    asyncio.run(_main())
    return 0


if __name__ == "__main__":
    sys.exit(main())
