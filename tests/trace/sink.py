"""A TChannel sink service for trace tests: records every call it gets (real TCP)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from ringpop.tchannel import Channel, Request, Response


@dataclass(frozen=True)
class Delivery:
    """One call the sink received."""

    service: str
    endpoint: str
    arg2: bytes
    body: Any
    headers: dict[str, str]


class Sink:
    """Listens on 127.0.0.1; answers ok (or not ok while ``failing``) on ``endpoints``."""

    def __init__(self, service: str, *endpoints: str) -> None:
        self.channel = Channel("127.0.0.1:0")
        self.deliveries: list[Delivery] = []
        self.failing = False
        self.arrived = asyncio.Event()
        for endpoint in endpoints:
            self.channel.register(service, endpoint, self._serve)

    async def start(self) -> str:
        return await self.channel.listen()

    async def close(self) -> None:
        await self.channel.close(drain_timeout=0.5)

    async def _serve(self, request: Request) -> Response:
        self.deliveries.append(
            Delivery(
                request.service,
                request.endpoint,
                request.arg2,
                json.loads(request.arg3),
                dict(request.headers),
            )
        )
        self.arrived.set()
        if self.failing:
            return Response.application_error("sink.down", "not now")
        return Response(b"", b"")

    def bodies(self, endpoint: str) -> list[Any]:
        return [d.body for d in self.deliveries if d.endpoint == endpoint]

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:
        """Until ``predicate(self)`` holds (AssertionError after ``timeout`` s)."""
        async with asyncio.timeout(timeout):
            while not predicate(self):
                self.arrived.clear()
                await self.arrived.wait()
