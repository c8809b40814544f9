"""A SWIM node: the pure membership core composed with its asyncio drivers (§6-§9, §15).

:class:`SwimNode` is a thin composition, and the public face the rest of ringpop
uses. The state and every rule live in the sans-IO
:class:`~ringpop.membership.core.MembershipCore` (``node.core``); the drivers
beside it do the IO, one file per role:

* :mod:`.runtime` / :mod:`.deadlines` - the injected clock, the emitter, and the
  one loop timer armed at the core's next deadline;
* :mod:`.gossip` - the protocol-period loop; :mod:`.ping` - the ping sender;
  :mod:`.pingreq` - the ping-req sender;
* :mod:`.joinsender` - joins; :mod:`.fullsync` - reverse full syncs;
  :mod:`.evict` - self-eviction.

Joining (:mod:`.join`), partition healing (:mod:`.heal`, :mod:`.fastheal`), flap
damping (:mod:`.damper`) and the endpoint handlers (:mod:`.protocol`) are drivers
too, and operate on a node. Everything the node does is reported as typed events
on :attr:`SwimNode.events` (:mod:`.events`); the stats are their subscriber.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from ringpop.clock import Clock, SystemClock
from ringpop.eventbus import EventEmitter
from ringpop.membership.core import MembershipCore
from ringpop.membership.events import Contacted, MembershipEvicted, MembershipUpdated
from ringpop.membership.evict import Hook, SelfEviction, SelfEvictionError
from ringpop.membership.fullsync import FullSync
from ringpop.membership.gossip import GossipLoop
from ringpop.membership.joinsender import JoinSender
from ringpop.membership.member import Member
from ringpop.membership.memberlist import Applied
from ringpop.membership.network import Network
from ringpop.membership.ping import PingSender
from ringpop.membership.pingreq import PingReqSender
from ringpop.membership.runtime import Runtime
from ringpop.membership.status import GONE, REACHABLE, Status
from ringpop.messages import Change, JoinResponse
from ringpop.options import Options
from ringpop.ring import HashRing
from ringpop.stats import Stats
from ringpop.stats.recorder import StatsRecorder

__all__ = ["AppliedListener", "EvictionListener", "SelfEvictionError", "SwimNode"]

log = logging.getLogger(__name__)

AppliedListener = Callable[[list[Applied]], None]
EvictionListener = Callable[[list[Member]], None]


class _ContactListeners(list[Callable[[str], None]]):
    """``node.contact_listeners.append(f)``, kept for compatibility: each listener
    becomes a callback on :class:`~.events.Contacted`."""

    def __init__(self, events: EventEmitter) -> None:
        super().__init__()
        self._events = events

    def append(self, listener: Callable[[str], None]) -> None:
        super().append(listener)
        self._events.on(Contacted, lambda event: listener(event.address))


class SwimNode:
    """One ringpop member: the membership core plus the loops that keep it true."""

    def __init__(
        self,
        address: str,
        network: Network,
        *,
        app: str = "ringpop",
        options: Options | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        labels: Mapping[str, str] | None = None,
        ring: HashRing | None = None,
        stats: Stats | None = None,
        events: EventEmitter | None = None,
    ) -> None:
        """``events`` is the emitter membership reports on. By default a new one, to
        which ``stats`` is subscribed through a
        :class:`~ringpop.stats.recorder.StatsRecorder`; a given emitter is its owner's
        to record (the facade passes its own, with one recorder on it)."""
        self.address = address
        self.app = app
        self.network = network
        self.options = options = options if options is not None else Options()
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.rng = rng if rng is not None else random.Random()
        self.events = events if events is not None else EventEmitter()
        """Membership's typed events (:mod:`.events`)."""
        self.stats = stats if stats is not None else Stats(address)
        self._recorder = StatsRecorder(self.stats)
        if events is None:
            self._recorder.attach(self.events)
        self.core = core = MembershipCore(
            address,
            events=self.events,
            clock=self.clock,
            rng=self.rng,
            options=options,
            labels=labels,
            ring=ring,
        )
        """The sans-IO state and rules (:mod:`.core`)."""
        self.members = core.members
        self.disseminator = core.disseminator
        self.guard = core.guard
        """Limits on what peers may make us track (:mod:`.limits`)."""
        self.timers = core.timers
        self.lifeguard = core.lifeguard
        """Whether Lifeguard runs (:mod:`.lifeguard`); off, everything is the spec's."""
        self.health = core.health
        """The local health multiplier (stays 0 with Lifeguard off)."""
        self.suspicions = core.suspicions
        self.ring = core.ring
        self._rt = rt = Runtime(
            core, network=network, clock=self.clock, rng=self.rng, events=self.events, app=app
        )
        self._pinger = PingSender(rt)
        self._joins = JoinSender(rt)
        self._gossip = GossipLoop(rt, self._pinger, PingReqSender(rt))
        self._full_sync = FullSync(rt, self._joins)
        self._eviction = SelfEviction(rt, self._gossip, self._pinger)
        self.pre_evict_hooks: list[Hook] = self._eviction.pre_hooks
        self.post_evict_hooks: list[Hook] = self._eviction.post_hooks
        self._ready = False
        self._ready_event: asyncio.Event | None = None
        self.on_join_request: Callable[[str], None] | None = None
        """Called by the join handler with the joiner's address (bootstrap uses it:
        a peer that joins us is up, so a backing-off bootstrap can retry with it)."""
        self.contact_listeners: list[Callable[[str], None]] = _ContactListeners(self.events)
        """Compatibility: prefer ``node.events.on(Contacted, ...)``."""

    # -- state -----------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Whether bootstrap finished; pings and ping-reqs are refused before."""
        return self._ready

    @property
    def local(self) -> Member:
        """The local member."""
        return self.core.members.local

    @property
    def checksum(self) -> int:
        """The membership checksum (§12)."""
        return self.core.members.checksum

    @property
    def protocol_rate(self) -> float:
        """Current gossip period in seconds (§8.1)."""
        return self._gossip.rate.rate

    @property
    def ping_count(self) -> int:
        """Pings sent by the gossip loop and admin ticks (for stats and tests)."""
        return self._gossip.ping_count

    def tick_durations(self) -> list[float]:
        """The last protocol period durations in seconds (for ``/admin/stats``)."""
        return self._gossip.rate.durations()

    def mark_ready(self) -> None:
        """Bootstrap is done: accept pings, start the gossip loop if configured."""
        if self._ready:
            return
        self._ready = True
        self._full_sync.ready_at = self.clock.monotonic()
        if self._ready_event is not None:
            self._ready_event.set()
        log.info("%s ready with %d members", self.address, len(self.members))
        if self.options.auto_gossip:
            self.start_gossip()

    async def wait_ready(self) -> None:
        """Wait until :meth:`mark_ready` has run."""
        if self._ready:
            return
        if self._ready_event is None:
            self._ready_event = asyncio.Event()
        await self._ready_event.wait()

    def add_listener(self, listener: AppliedListener) -> None:
        """Call ``listener(applied)`` after every processed batch of changes.

        Compatibility: prefer ``node.events.on(MembershipUpdated, ...)``."""
        self.events.on(MembershipUpdated, lambda event: listener(event.applied))

    def add_eviction_listener(self, listener: EvictionListener) -> None:
        """Call ``listener(members)`` after members were evicted from the list (§9).

        Compatibility: prefer ``node.events.on(MembershipEvicted, ...)``."""
        self.events.on(MembershipEvicted, lambda event: listener(event.evicted))

    def note_contact(self, address: str) -> None:
        """``address`` sent us a join, ping or ping-req.

        The core notes when (:meth:`MembershipCore.heard_from`).

        From a member we do not hold alive or suspect (faulty, tombstone, leave, or
        unknown: evicted, or new) this is news: :class:`~.events.Contacted` is
        emitted (the fast healer heals with members it holds down), and from a member
        held faulty or tombstone a partition is over, so the gossip period restarts
        at the minimum (:meth:`reset_protocol_rate`; from an evicted one, the heal
        that the fast healer starts resets it). A contact from a reachable member is
        no news and costs nothing (the ping hot path).
        """
        core = self.core
        member = core.members.get(address)
        if member is not None:
            core.heard_from(address, self.clock.monotonic())
            status = member.status
            if status in REACHABLE:
                return
            if status in GONE:
                self.reset_protocol_rate()
        self._rt.notify(Contacted, address)

    # -- the apply pipeline (the core, at the clock's now) ---------------------------

    def apply_changes(
        self,
        changes: Sequence[Change],
        *,
        disseminate: bool = True,
        peer: str = "",
        strict: bool = False,
        join_list: bool = False,
    ) -> list[Applied]:
        """Apply changes received from ``peer`` (§6); see
        :meth:`MembershipCore.apply_changes`. Returns what was accepted."""
        return self._rt.apply(
            changes, disseminate=disseminate, peer=peer, strict=strict, join_list=join_list
        )

    def process(
        self, applied: list[Applied], *, disseminate: bool = True, timers: bool = True
    ) -> None:
        """Effects of accepted changes (§6.2); see :meth:`MembershipCore.process`."""
        now = self.clock.monotonic()
        self._rt.run(self.core.process(applied, now, disseminate=disseminate, timers=timers))

    def declare(self, address: str, status: Status, incarnation: int) -> list[Applied]:
        """Make a local declaration about another member (§6.4) and process it."""
        now = self.clock.monotonic()
        return self._rt.run(self.core.declare(address, status, incarnation, now)).applied

    def set_local_status(self, status: Status) -> Applied:
        """Change our own status (leave, alive, faulty), reincarnating (§6.3)."""
        step = self._rt.run(self.core.set_local_status(status, self.clock.monotonic()))
        return step.applied[0]

    def set_local_labels(self, labels: Mapping[str, str]) -> Applied:
        """Replace our labels, reincarnating (§16)."""
        step = self._rt.run(self.core.set_local_labels(labels, self.clock.monotonic()))
        return step.applied[0]

    def reap(self) -> list[Applied]:
        """Declare every faulty member a tombstone now (``/admin/reap``)."""
        return self._rt.run(self.core.reap(self.clock.monotonic())).applied

    # -- the ring, for the layers above (instead of reaching into ``node.ring``) ----------

    def lookup(self, key: str | bytes) -> str | None:
        """The member that owns ``key`` in our ring (``None``: the ring is empty)."""
        return self.core.ring.lookup(key)

    def lookup_n(self, key: str | bytes, n: int) -> list[str]:
        """The ``n`` members that own ``key`` in our ring, preferred first."""
        return self.core.ring.lookup_n(key, n)

    @property
    def ring_checksum(self) -> int:
        """The ring checksum (§12.2)."""
        return self.core.ring.checksum

    # -- gossip (§8) -----------------------------------------------------------------

    @property
    def gossiping(self) -> bool:
        """Whether the gossip loop runs."""
        return self._gossip.running

    def start_gossip(self) -> None:
        """Start the protocol-period loop (no-op if it runs); starts a fresh round."""
        self._gossip.start()

    async def stop_gossip(self) -> None:
        """Stop the loop; an in-flight ping may still finish in the background."""
        await self._gossip.stop()

    def reset_protocol_rate(self) -> None:
        """Forget the measured periods and gossip at the minimum period again, now.

        For the end of a partition (a contact from a member held faulty, a heal
        attempt that reached its target): while members across it were unreachable
        every failed probe took a ping plus a ping-req timeout, which stretched the
        period to 2 x their median (§8.1), ~13 s; left alone, it would take a minute
        of slow periods to shrink again, while refutations need gossip within the
        suspect period.
        """
        self._gossip.reset_rate()

    async def tick(self) -> bool:
        """Run one protocol period (see :meth:`GossipLoop.tick`); was a member probed?"""
        return await self._gossip.tick()

    async def send_ping(
        self,
        address: str,
        *,
        timeout: float | None = None,
        changes: list[Change] | None = None,
        apply_response: bool = True,
    ) -> bool:
        """Ping ``address`` (§8.3); see :meth:`PingSender.send_ping`. Success?"""
        return await self._pinger.send_ping(
            address, timeout=timeout, changes=changes, apply_response=apply_response
        )

    # -- joins and full syncs (§4.1, §7.5) -----------------------------------------------

    def join_request(self) -> bytes:
        """Our ``/protocol/join`` body."""
        return self._joins.join_request()

    async def send_join(self, address: str, *, timeout: float) -> JoinResponse:
        """Send a join to ``address``; its response. Raises :class:`CallError`."""
        return await self._joins.send_join(address, timeout=timeout)

    def start_reverse_full_sync(self, address: str) -> bool:
        """Ask ``address`` for its membership (§7.5); ``False`` when 5 already run."""
        return self._full_sync.start_reverse(address)

    def maybe_startup_sync(self, address: str, checksum: int) -> bool:
        """Pull ``address``'s membership if we are new and our views still differ
        (see :meth:`FullSync.maybe_startup_sync`). Returns whether one started."""
        return self._full_sync.maybe_startup_sync(address, checksum)

    @property
    def reverse_syncs_running(self) -> int:
        """Reverse full syncs in flight."""
        return self._full_sync.running

    # -- self-eviction (§15) ---------------------------------------------------------------

    async def self_evict(self) -> int:
        """Leave gracefully (see :meth:`SelfEviction.run`); how many members were told."""
        return await self._eviction.run()

    # -- lifecycle ---------------------------------------------------------------------------

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coroutine`` as a background task owned (and cancelled) by the node."""
        return self._rt.spawn(coroutine)

    async def stop(self) -> None:
        """Stop gossip, timers and background work. The state stays readable."""
        self._rt.closed = True
        await self._gossip.stop()
        await self._rt.close()
