"""A simulated ringpop cluster: full :class:`~ringpop.Ringpop` nodes on a MemoryNetwork.

Every node is built by the production constructor, ``Ringpop(app, transport=...)``,
over a :class:`~ringpop.testing.memnet.MemoryTransport`, with seeded randomness and
the event loop's clock (:class:`~ringpop.clock.LoopClock`): membership, the hash
ring, partition healing, flap damping, forwarding, the admin endpoints, events and
stats, exactly what a real node runs. Run it under ``looptime`` (a fast-forwarding
loop) and minutes of cluster life take a fraction of a second; with the same seed a
run replays event for event. See ``docs/testing.md``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable
from typing import NamedTuple

from ringpop.clock import LoopClock
from ringpop.discovery import StaticHosts
from ringpop.events import MembershipChanged
from ringpop.membership.damper import Damper
from ringpop.membership.heal import Healer
from ringpop.membership.join import JoinResult
from ringpop.membership.member import change_to_wire, member_change
from ringpop.membership.node import SwimNode
from ringpop.membership.status import Status
from ringpop.options import Options
from ringpop.ringpop import Ringpop
from ringpop.testing.memnet import MemoryNetwork, MemoryTransport

__all__ = ["Observation", "SimCluster", "sim_address"]


def sim_address(index: int) -> str:
    """Node ``index`` on its own IP (so every other host is a preferred join target)."""
    return f"10.0.{index // 250}.{index % 250 + 1}:3000"


class Observation(NamedTuple):
    """``observer`` accepted ``subject`` as ``status`` at ``time`` (seconds since start)."""

    time: float
    observer: str
    subject: str
    status: str
    incarnation: int


class SimCluster:
    """``size`` nodes with seeded randomness; every node knows every address.

    ``options`` are every node's; ``latency``/``jitter`` the network's (seconds, one
    way), ``loss`` its loss probability per message. ``record=False`` keeps no
    :attr:`observations` (at thousands of nodes they would be millions). Times
    (:attr:`observations`, :meth:`wait_for`) are loop seconds since construction.
    Nodes start (serve their endpoints) on :meth:`start` or
    :meth:`bootstrap`; :attr:`nodes`, :attr:`healers` and :attr:`dampers` are
    readable from then on.
    """

    def __init__(
        self,
        size: int,
        *,
        seed: int = 1,
        options: Options | None = None,
        latency: float = 0.002,
        jitter: float = 0.002,
        loss: float = 0.0,
        app: str = "ringpop",
        record: bool = True,
    ) -> None:
        self.seed = seed
        self.app = app
        self.record = record
        self.options = options if options is not None else Options()
        self.loop = asyncio.get_running_loop()
        self.origin = self.loop.time()
        self.network = MemoryNetwork(
            latency=latency, jitter=jitter, loss=loss, rng=random.Random(seed)
        )
        self.clock = LoopClock()
        self.addresses = [sim_address(i) for i in range(size)]
        self.provider = StaticHosts(self.addresses)
        self.transports: dict[str, MemoryTransport] = {}
        self.ringpops: dict[str, Ringpop] = {}
        """Every node's facade, by address."""
        self.observations: list[Observation] = []
        """Every membership change every node applied, in order (if ``record``)."""
        self.restarts: dict[str, int] = {}
        """How many times each address was restarted (:meth:`restart`)."""
        self._watchers: list[Callable[[str, MembershipChanged], None]] = []
        for address in self.addresses:
            self._build(address, f"{seed}/{address}")

    def _build(self, address: str, rng_seed: str) -> Ringpop:
        transport = self.network.transport(address)
        rp = Ringpop(
            self.app,
            transport=transport,
            options=self.options,
            clock=self.clock,
            rng=random.Random(rng_seed),
        )
        if self.record:
            rp.events.on(MembershipChanged, self._recorder(address))
        rp.events.on(MembershipChanged, lambda event: self._notify(address, event))
        self.transports[address] = transport
        self.ringpops[address] = rp
        return rp

    def _recorder(self, observer: str) -> Callable[[MembershipChanged], None]:
        def record(event: MembershipChanged) -> None:
            now = self.now()
            for update in event.updates:
                self.observations.append(
                    Observation(now, observer, update.address, update.status, update.incarnation)
                )

        return record

    def watch(self, watcher: Callable[[str, MembershipChanged], None]) -> None:
        """Call ``watcher(observer, event)`` for every batch any node (restarted ones
        too) applies, as it happens."""
        self._watchers.append(watcher)

    def _notify(self, observer: str, event: MembershipChanged) -> None:
        for watcher in self._watchers:
            watcher(observer, event)

    # -- the parts ---------------------------------------------------------------------

    @property
    def nodes(self) -> dict[str, SwimNode]:
        """Every node's membership node (after :meth:`start`)."""
        return {a: rp.node for a, rp in self.ringpops.items()}

    @property
    def healers(self) -> dict[str, Healer]:
        """Every node's partition healer (after :meth:`start`)."""
        return {a: rp.healer for a, rp in self.ringpops.items()}

    @property
    def dampers(self) -> dict[str, Damper]:
        """Every node's flap damper (after :meth:`start`, with damping on)."""
        return {a: rp.damper for a, rp in self.ringpops.items() if rp.damper is not None}

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

    async def start(self) -> None:
        """Start every node: each serves its endpoints (not yet joined)."""
        for rp in self.ringpops.values():
            await rp.start()

    async def bootstrap(self, addresses: Iterable[str] | None = None) -> list[JoinResult]:
        """Start every node, then bootstrap the given ones (default: all) concurrently."""
        await self.start()
        chosen = self.addresses if addresses is None else list(addresses)
        return list(
            await asyncio.gather(*(self.ringpops[a].bootstrap(self.provider) for a in chosen))
        )

    async def warm_start(self) -> None:
        """Start every node already converged, without the cost of a cold start.

        Each node gets the full membership through the code path a join response
        takes (``SwimNode.apply_changes(..., disseminate=False)``, then the
        bootstrap's ``mark_ready``), as if it had joined a
        seed (the first node) that already knew everyone alive at their first
        incarnation; then what ``Ringpop.bootstrap`` does once joined (the same
        method): the healer and damper start, the ownership tracker is seeded,
        ``Ready`` is emitted. Nothing is sent: the
        cluster starts with one checksum and nothing to piggyback (a node's own
        alive, which a bootstrap keeps as news, is known to all here). Each node's
        gossip order and phase come from its seeded randomness.
        """
        await self.start()
        rps = [self.ringpops[a] for a in self.addresses]
        seed = rps[0].node.members
        source, source_incarnation = seed.local_address, seed.local.incarnation
        membership = [
            change_to_wire(
                member_change(
                    rp.node.members.local, source=source, source_incarnation=source_incarnation
                )
            )
            for rp in rps
        ]
        for rp in rps:
            node = rp.node
            node.apply_changes(membership, disseminate=False, peer=source, join_list=True)
            node.disseminator.clear()  # its own alive too: every node already holds it
            rp.healer.provider = self.provider
            node.mark_ready()
            rp._joined()  # the rest of Ringpop.bootstrap once joined (private to the facade)

    async def crash(self, address: str) -> None:
        """The node dies silently: its traffic is dropped and its loops stop."""
        self.network.crash(address)
        await self.ringpops[address].node.stop()

    async def restart(self, address: str, *, graceful: bool = True) -> JoinResult:
        """Restart the node at ``address``: a new process, the same address.

        ``graceful`` closes it with self-eviction (SIGTERM), otherwise it dies
        silently first (kill -9). The new node (new incarnation, its own seeded
        randomness) bootstraps from the cluster's hosts; returns its join result.
        """
        old = self.ringpops[address]
        if not graceful:
            self.network.crash(address)
        await old.close(self_evict=graceful)
        self.network.recover(address)
        generation = self.restarts[address] = self.restarts.get(address, 0) + 1
        rp = self._build(address, f"{self.seed}/{address}/{generation}")
        return await rp.bootstrap(self.provider)

    async def stop(self) -> None:
        """Close every node (no self-eviction) and its transport."""
        for rp in self.ringpops.values():
            await rp.close(self_evict=False)

    # -- views -------------------------------------------------------------------------

    def live(self, exclude: Iterable[str] = ()) -> list[str]:
        """The addresses, without ``exclude``."""
        excluded = set(exclude)
        return [a for a in self.addresses if a not in excluded]

    def checksums(self, addresses: Iterable[str] | None = None) -> set[int]:
        """The distinct membership checksums of these nodes (default: all)."""
        chosen = self.addresses if addresses is None else addresses
        return {self.ringpops[a].node.checksum for a in chosen}

    def converged(self, addresses: Iterable[str] | None = None) -> bool:
        """One checksum, and every node knows all of them alive."""
        chosen = list(self.addresses if addresses is None else addresses)
        if len(self.checksums(chosen)) != 1:
            return False
        view = self.ringpops[chosen[0]].node.members
        return all((m := view.get(a)) is not None and m.status == Status.ALIVE for a in chosen)

    def status_everywhere(self, subject: str, observers: Iterable[str]) -> set[str | None]:
        """What the observers think of ``subject`` (``None``: unknown/evicted)."""
        out: set[str | None] = set()
        for observer in observers:
            member = self.ringpops[observer].node.members.get(subject)
            out.add(None if member is None else member.status.value)
        return out

    def first_observation(self, observer: str, subject: str, status: str) -> float | None:
        """When ``observer`` first accepted ``subject`` as ``status``."""
        for seen in self.observations:
            if seen.observer == observer and seen.subject == subject and seen.status == status:
                return seen.time
        return None
