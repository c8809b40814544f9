"""A simulated ringpop cluster: SwimNodes on a MemoryNetwork, in loop time."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable
from typing import NamedTuple

from ringpop.admin import admin_handlers
from ringpop.clock import LoopClock
from ringpop.discovery import StaticHosts
from ringpop.membership.heal import Healer
from ringpop.membership.join import JoinResult, bootstrap
from ringpop.membership.memberlist import Applied
from ringpop.membership.memnet import MemoryNetwork, MemoryTransport
from ringpop.membership.node import SwimNode
from ringpop.membership.protocol import protocol_handlers
from ringpop.membership.status import Status
from ringpop.options import Options


def sim_address(index: int) -> str:
    """Node ``index`` on its own IP (so every other host is a preferred join target)."""
    return f"10.0.{index // 250}.{index % 250 + 1}:3000"


class Event(NamedTuple):
    """``observer`` accepted ``subject`` as ``status`` at ``time`` (seconds since start)."""

    time: float
    observer: str
    subject: str
    status: str
    incarnation: int


class SimCluster:
    """``size`` nodes with seeded randomness; every node knows every address.

    Times (:attr:`events`, :meth:`wait_for`) are loop seconds since construction.
    """

    def __init__(
        self,
        size: int,
        *,
        seed: int = 1,
        options: Options | None = None,
        latency: float = 0.002,
        jitter: float = 0.002,
        admin: bool = False,
    ) -> None:
        self.seed = seed
        self.options = options if options is not None else Options()
        self.loop = asyncio.get_running_loop()
        self.origin = self.loop.time()
        self.network = MemoryNetwork(latency=latency, jitter=jitter, rng=random.Random(seed))
        self.clock = LoopClock()
        self.addresses = [sim_address(i) for i in range(size)]
        self.provider = StaticHosts(self.addresses)
        self.transports: dict[str, MemoryTransport] = {}
        self.nodes: dict[str, SwimNode] = {}
        self.healers: dict[str, Healer] = {}
        self.events: list[Event] = []
        for address in self.addresses:
            self._make(address, admin=admin)

    def _make(self, address: str, *, admin: bool) -> SwimNode:
        transport = self.network.transport(address)
        node = SwimNode(
            address,
            transport,
            options=self.options,
            clock=self.clock,
            rng=random.Random(f"{self.seed}/{address}"),
        )
        healer = Healer(node, self.provider)
        transport.serve(protocol_handlers(node))
        if admin:
            transport.serve(admin_handlers(node, healer))
        node.add_listener(self._recorder(address))
        self.transports[address] = transport
        self.nodes[address] = node
        self.healers[address] = healer
        return node

    def _recorder(self, observer: str) -> Callable[[list[Applied]], None]:
        def record(applied: list[Applied]) -> None:
            now = self.now()
            for item in applied:
                member = item.new
                self.events.append(
                    Event(now, observer, member.address, member.status.value, member.incarnation)
                )

        return record

    # -- time --------------------------------------------------------------------------

    def now(self) -> float:
        """Loop seconds since the cluster was built."""
        return round(self.loop.time() - self.origin, 6)

    async def wait_for(
        self, predicate: Callable[[], bool], *, timeout: float, step: float = 0.05
    ) -> float:
        """Poll ``predicate`` every ``step`` loop seconds; :meth:`now` when it holds."""
        deadline = self.now() + timeout
        while not predicate():
            if self.now() >= deadline:
                raise AssertionError(f"condition not reached within {timeout} s (at {self.now()})")
            await asyncio.sleep(step)
        return self.now()

    async def run_for(self, seconds: float) -> None:
        """Let the cluster live for ``seconds`` of loop time."""
        await asyncio.sleep(seconds)

    # -- lifecycle ---------------------------------------------------------------------

    async def bootstrap(self, addresses: Iterable[str] | None = None) -> list[JoinResult]:
        """Bootstrap the given nodes (default: all) concurrently."""
        chosen = self.addresses if addresses is None else list(addresses)
        return list(
            await asyncio.gather(*(bootstrap(self.nodes[a], self.provider) for a in chosen))
        )

    async def crash(self, address: str) -> None:
        """The node dies silently: its traffic is dropped and its loops stop."""
        self.network.crash(address)
        await self.nodes[address].stop()

    async def stop(self) -> None:
        """Stop every node and transport."""
        for address, node in self.nodes.items():
            await node.stop()
            self.transports[address].stop()

    # -- views -------------------------------------------------------------------------

    def live(self, exclude: Iterable[str] = ()) -> list[str]:
        excluded = set(exclude)
        return [a for a in self.addresses if a not in excluded]

    def checksums(self, addresses: Iterable[str] | None = None) -> set[int]:
        """The distinct membership checksums of these nodes (default: all)."""
        chosen = self.addresses if addresses is None else addresses
        return {self.nodes[a].checksum for a in chosen}

    def converged(self, addresses: Iterable[str] | None = None) -> bool:
        """One checksum, and every node knows all of them alive."""
        chosen = list(self.addresses if addresses is None else addresses)
        if len(self.checksums(chosen)) != 1:
            return False
        view = self.nodes[chosen[0]].members
        return all((m := view.get(a)) is not None and m.status == Status.ALIVE for a in chosen)

    def status_everywhere(self, subject: str, observers: Iterable[str]) -> set[str | None]:
        """What the observers think of ``subject`` (``None``: unknown/evicted)."""
        out: set[str | None] = set()
        for observer in observers:
            member = self.nodes[observer].members.get(subject)
            out.add(None if member is None else member.status.value)
        return out

    def first_event(self, observer: str, subject: str, status: str) -> float | None:
        """When ``observer`` first accepted ``subject`` as ``status``."""
        for event in self.events:
            if event.observer == observer and event.subject == subject and event.status == status:
                return event.time
        return None
