"""In-process clusters: several Ringpop nodes on one event loop, talking over real TCP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import pytest

from ringpop import HttpRequest, HttpResponse, Options, Ringpop
from ringpop.events import Event

E = TypeVar("E", bound=Event)

FAST = Options(min_protocol_period=0.05, proxy_retry_schedule=(0.0, 0.05, 0.1))


@dataclass
class Member:
    """A node of an in-process cluster, with what its HTTP handler saw."""

    rp: Ringpop
    seen: list[HttpRequest] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    delay: float = 0.0
    fail: Exception | None = None

    @property
    def address(self) -> str:
        return self.rp.whoami()

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]

    async def handle(self, request: HttpRequest) -> HttpResponse:
        self.seen.append(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        status = int(request.headers.get("x-want-status", "200"))
        return HttpResponse(
            status,
            {
                "x-handled-by": self.address,
                "x-source": request.source or "-",
                "set-cookie": ["a=1", "b=2"],
                "content-type": "application/octet-stream",
            },
            request.body,
        )


async def start_members(count: int, options: Options | Sequence[Options] = FAST) -> list[Member]:
    """``count`` members in one ring; ``options`` for all, or one each."""
    each = [options] * count if isinstance(options, Options) else list(options)
    nodes = [Ringpop("forward-test", "127.0.0.1:0", options=o) for o in each]
    members = [Member(rp) for rp in nodes]
    for member in members:
        member.rp.set_http_handler(member.handle)
        member.rp.events.on(Event, member.events.append)
    addresses = [await rp.start() for rp in nodes]
    await asyncio.gather(*(rp.bootstrap(addresses) for rp in nodes))
    await until(lambda: all(len(m.rp.node.ring.servers()) == count for m in members))
    await until(lambda: len({m.rp.node.ring.checksum for m in members}) == 1)
    return members


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``predicate`` every 20 ms for at most ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)


@pytest.fixture
async def trio() -> AsyncIterator[list[Member]]:
    members = await start_members(3)
    try:
        yield members
    finally:
        await asyncio.gather(*(m.rp.close(self_evict=False) for m in members))


def key_owned_by(members: list[Member], owner: Member, prefix: str = "key") -> str:
    """A key that ``owner`` owns in the current rings."""
    ring = members[0].rp.node.ring
    for i in range(10_000):
        key = f"{prefix}-{i}"
        if ring.lookup(key) == owner.address:
            return key
    raise AssertionError("no key found")
