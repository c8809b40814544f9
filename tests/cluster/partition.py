"""A cluster of in-process Ringpops on real TCP that can be split silently.

Every node listens on a port of its own but advertises the address of a
:class:`~tests.tchannel.silent_relay.SilentRelay` in front of it, so every
connection to it passes through that relay. A split makes the relays go quiet
for flows between the two sides (nothing is closed: packets "dropped", TCP
buffering whatever is written) and a heal lets them deliver again, as TCP would
retransmit. The run records every membership change each node applies, with the
time, to judge what happened (used by ``test_partition_heal.py`` and
``bench/partition.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

import msgspec

from ringpop import Ringpop
from ringpop.membership.member import Member
from ringpop.membership.memberlist import Applied
from ringpop.options import Options
from ringpop.tchannel import Channel
from tests.tchannel.silent_relay import SilentRelay

__all__ = ["PartitionCluster", "Seen", "SplitOutcome"]


class Seen(msgspec.Struct, frozen=True):
    """One change a node applied (``evicted`` for evictions)."""

    at: float
    observer: str
    subject: str
    status: str


class SplitOutcome(msgspec.Struct):
    """What a split-and-heal run did."""

    wrong: list[Seen]
    """Members of the observer's own side declared faulty/tombstone or evicted."""
    converged_after: float | None
    """Seconds from the heal to one checksum with every member alive (None: never)."""
    stale_closed: int
    """Connections aborted as stale, over all nodes."""
    fast_heals: int
    """Fast heals started, over all nodes."""


class PartitionCluster:
    """``size`` in-process nodes, each behind a relay; see the module docstring."""

    def __init__(self, size: int, options: Options) -> None:
        self.size = size
        self.options = options
        self.relays: list[SilentRelay] = []
        self.nodes: list[Ringpop] = []
        self.channels: list[Channel] = []
        self.seen: list[Seen] = []
        self._sides: dict[str, int] = {}

    @property
    def addresses(self) -> list[str]:
        return [relay.address for relay in self.relays]

    async def start(self, *, timeout: float = 20.0) -> None:
        """Start relays and nodes, bootstrap everyone, wait for one checksum."""
        for _ in range(self.size):
            relay = SilentRelay(("127.0.0.1", 0))
            await relay.start()
            relay.name = relay.address
            self.relays.append(relay)
        for relay in self.relays:
            channel = Channel(
                relay.address,
                bind="127.0.0.1:0",
                init_timeout=self.options.init_timeout,
                stale_period=self.options.stale_period,
            )
            node = Ringpop("partition", transport=channel, options=self.options)
            self.channels.append(channel)
            await node.start()
            host, port = channel.bind_address.split(":")
            relay.target = (host, int(port))
            self._watch(node)
            self.nodes.append(node)
        hosts = self.addresses
        await asyncio.gather(*(node.bootstrap(hosts) for node in self.nodes))
        await self.wait_converged(timeout)

    def _watch(self, node: Ringpop) -> None:
        observer = node.node.address

        def applied(items: list[Applied]) -> None:
            now = time.monotonic()
            for item in items:
                if not item.local:
                    self.seen.append(Seen(now, observer, item.new.address, item.new.status.value))

        def evicted(members: list[Member]) -> None:
            now = time.monotonic()
            self.seen.extend(Seen(now, observer, m.address, "evicted") for m in members)

        node.node.add_listener(applied)
        node.node.add_eviction_listener(evicted)

    def converged(self) -> bool:
        """One checksum, and every node sees every member alive."""
        checksums = {node.node.checksum for node in self.nodes}
        if len(checksums) != 1:
            return False
        return all(
            sum(1 for m in node.node.members if m.status == "alive") == self.size
            for node in self.nodes
        )

    async def wait_converged(self, timeout: float) -> float | None:
        """Seconds until :meth:`converged` (polled every 50 ms), or ``None``."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.converged():
                return time.monotonic() - started
            await asyncio.sleep(0.05)
        return None

    def split(self, sides: Sequence[Sequence[int]]) -> None:
        """Silence every flow between nodes of different ``sides`` (node indexes)."""
        self._sides = {self.addresses[i]: side for side, group in enumerate(sides) for i in group}
        sides_of = dict(self._sides)

        def blocked(source: str, target: str) -> bool:
            mine, theirs = sides_of.get(source), sides_of.get(target)
            return mine is not None and theirs is not None and mine != theirs

        for relay in self.relays:
            relay.set_blocked(blocked)

    def heal(self) -> None:
        """Every relay delivers again (what it held for live senders first)."""
        for relay in self.relays:
            relay.heal()

    def wrong_declarations(self) -> list[Seen]:
        """Faulty/tombstone/evicted about a member of the observer's own side."""
        sides = self._sides
        return [
            seen
            for seen in self.seen
            if seen.status in ("faulty", "tombstone", "evicted")
            and sides.get(seen.observer) is not None
            and sides.get(seen.observer) == sides.get(seen.subject)
        ]

    def given_up(self) -> bool:
        """Every node holds every member of the other side(s) faulty or tombstone."""
        sides = self._sides
        for node in self.nodes:
            mine = sides.get(node.node.address)
            for member in node.node.members:
                theirs = sides.get(member.address)
                if theirs != mine and member.status not in ("faulty", "tombstone"):
                    return False
        return True

    async def split_and_heal(
        self,
        sides: Sequence[Sequence[int]],
        duration: float,
        *,
        until_given_up: float = 0.0,
        quiet: float = 3.0,
        settle: float = 15.0,
    ) -> SplitOutcome:
        """Split for ``duration`` seconds, and then until every node has given the other
        side up (see :meth:`given_up`; at most ``until_given_up`` s more) and ``quiet``
        s have passed since; heal; wait up to ``settle`` s to converge, then one more
        second for late news (which would show as wrong declarations).

        Waiting until the sides have given each other up, plus the time for every
        call that crossed before to time out and its connection to be found stale
        (ping timeout 1.5 s + stale period 1.5 s), is the state of a split of 30 s
        with the default periods (issue 18's bench): no call crosses the split any
        more, so what could arrive at the heal is only what TCP held back.
        """
        self.split(sides)
        await asyncio.sleep(duration)
        if until_given_up > 0:
            for _ in range(int(until_given_up / 0.1)):
                if self.given_up():
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(quiet)
        self.heal()
        converged_after = await self.wait_converged(settle)
        await asyncio.sleep(1.0)
        return SplitOutcome(
            wrong=self.wrong_declarations(),
            converged_after=converged_after,
            stale_closed=sum(channel.stale_closed for channel in self.channels),
            fast_heals=sum(node.healer.fast.started for node in self.nodes),
        )

    async def close(self) -> None:
        """Stop every node (without self-eviction) and relay."""
        for node in self.nodes:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(node.close(self_evict=False), 5.0)
        for relay in self.relays:
            await relay.close()
