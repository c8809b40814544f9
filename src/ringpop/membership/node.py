"""A SWIM node: the pure membership core driven by asyncio (spec §6-§9, §15).

:class:`SwimNode` owns the member list, the disseminator, the transition timers and
the hash ring, and keeps them consistent: every batch of accepted changes goes
through :meth:`SwimNode.process` (record for dissemination, maxP, timers, ring,
listeners). Around that it runs the gossip loop (ping, then ping-req), the timer
driver and reverse full syncs, and it talks to peers only through a
:class:`~ringpop.membership.network.Network`.

Joining (:mod:`.join`), partition healing (:mod:`.heal`) and the endpoint handlers
(:mod:`.protocol`) live in their own modules and operate on a node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any

import msgspec.structs

from ringpop.clock import Clock, SystemClock
from ringpop.errors import RingpopError
from ringpop.membership.dissemination import Disseminator
from ringpop.membership.lifeguard import LocalHealth, Suspicions
from ringpop.membership.limits import InputGuard, InputLimits, LimitError
from ringpop.membership.member import Member
from ringpop.membership.memberlist import Applied, MemberList, ring_updates
from ringpop.membership.network import CallError, Network
from ringpop.membership.rules import declaration
from ringpop.membership.status import Status
from ringpop.membership.timers import TransitionTimers
from ringpop.messages import (
    Change,
    JoinRequest,
    JoinResponse,
    MessageError,
    PingReqRequest,
    PingReqResponse,
    PingRequest,
    PingResponse,
    encode,
)
from ringpop.options import Options
from ringpop.receiving import receive
from ringpop.ring import HashRing
from ringpop.stats import Stats

__all__ = ["AppliedListener", "EvictionListener", "SelfEvictionError", "SwimNode"]

log = logging.getLogger(__name__)

AppliedListener = Callable[[list[Applied]], None]
EvictionListener = Callable[[list[Member]], None]
Hook = Callable[[], Awaitable[None] | None]

_TIMING_SAMPLES = 10
_GONE = frozenset((Status.FAULTY, Status.TOMBSTONE))
_DOUBTED = frozenset((Status.SUSPECT, Status.FAULTY, Status.TOMBSTONE))
_REACHABLE = frozenset((Status.ALIVE, Status.SUSPECT))


class SelfEvictionError(RingpopError, RuntimeError):
    """Self-eviction was asked for while one is already running."""


class SwimNode:
    """One ringpop member: membership state plus the loops that keep it true."""

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
    ) -> None:
        self.address = address
        self.app = app
        self.network = network
        self.options = options = options if options is not None else Options()
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.rng = rng if rng is not None else random.Random()
        self.stats = stats if stats is not None else Stats(address)
        self.members = MemberList(
            address,
            clock=self.clock,
            rng=self.rng,
            labels=labels,
            checksum_flavour=options.checksum_flavour,
        )
        self.disseminator = Disseminator(self.members, piggyback_factor=options.piggyback_factor)
        self.guard = InputGuard(
            InputLimits(
                max_members=options.max_members,
                max_changes_per_message=options.max_changes_per_message,
                max_message_bytes=options.max_message_bytes,
                label_max_key_size=options.label_max_key_size,
                label_max_value_size=options.label_max_value_size,
                label_max_count=options.label_max_count,
            ),
            self.stats,
            self.clock,
        )
        """Limits on what peers may make us track (:mod:`.limits`)."""
        self.timers = TransitionTimers(
            suspect_period=options.suspect_period,
            faulty_period=options.faulty_period,
            tombstone_period=options.tombstone_period,
            local_address=address,
        )
        self.lifeguard = options.lifeguard_enabled
        """Whether Lifeguard runs (:mod:`.lifeguard`); off, everything is the spec's."""
        self.health = LocalHealth(options.lifeguard_max_multiplier)
        """The local health multiplier (stays 0 with Lifeguard off)."""
        self.suspicions = Suspicions(
            mult=options.lifeguard_suspicion_mult, confirmations=options.lifeguard_confirmations
        )
        self.ring = ring if ring is not None else HashRing(options.replica_points)
        local = self.members.local
        self.ring.add_server(address, None if local.identity == address else local.identity)
        # The local alive change is the one pending change after bootstrap (§7.6).
        self.disseminator.record(self.members.local_change())

        self._listeners: list[AppliedListener] = []
        self._eviction_listeners: list[EvictionListener] = []
        self._ready = False
        self._ready_event: asyncio.Event | None = None
        self.on_join_request: Callable[[str], None] | None = None
        """Called by the join handler with the joiner's address (bootstrap uses it:
        a peer that joins us is up, so a backing-off bootstrap can retry with it)."""
        self.contact_listeners: list[Callable[[str], None]] = []
        """Called with the source of every join, ping and ping-req we receive
        (the fast healer: a member we hold faulty that calls us is reachable)."""
        self._closed = False
        self._gossip_task: asyncio.Task[None] | None = None
        self._tick_lock: asyncio.Lock | None = None
        self._timer_handle: asyncio.TimerHandle | None = None
        self._timer_due: float | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._reverse_syncs = 0
        self._ready_at = 0.0
        self._last_startup_sync = float("-inf")
        self._startup_synced = False
        self._evicting = False
        self.pre_evict_hooks: list[Hook] = []
        self.post_evict_hooks: list[Hook] = []
        self._tick_durations: deque[float] = deque(maxlen=_TIMING_SAMPLES)
        self._protocol_rate = options.min_protocol_period
        self._rate_computed_at = float("-inf")
        self._period_wake: asyncio.Event | None = None
        self.ping_count = 0
        """Pings sent by the gossip loop and admin ticks (for stats and tests)."""

    # -- state -----------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Whether bootstrap finished; pings and ping-reqs are refused before."""
        return self._ready

    @property
    def local(self) -> Member:
        """The local member."""
        return self.members.local

    @property
    def checksum(self) -> int:
        """The membership checksum (§12)."""
        return self.members.checksum

    @property
    def protocol_rate(self) -> float:
        """Current gossip period in seconds (§8.1)."""
        return self._protocol_rate

    def tick_durations(self) -> list[float]:
        """The last protocol period durations in seconds (for ``/admin/stats``)."""
        return list(self._tick_durations)

    def mark_ready(self) -> None:
        """Bootstrap is done: accept pings, start the gossip loop if configured."""
        if self._ready:
            return
        self._ready = True
        self._ready_at = self.clock.monotonic()
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
        """Call ``listener(applied)`` after every processed batch of changes."""
        self._listeners.append(listener)

    def note_contact(self, address: str) -> None:
        """``address`` sent us a join, ping or ping-req (see :attr:`contact_listeners`).

        From a member we hold faulty or tombstone this means a partition is over: the
        gossip period restarts at the minimum (:meth:`reset_protocol_rate`). (From an
        evicted one, the heal that the fast healer starts resets it.)
        """
        member = self.members.get(address)
        if member is not None and member.status in _GONE:
            self.reset_protocol_rate()
        for listener in self.contact_listeners:
            listener(address)

    def add_eviction_listener(self, listener: EvictionListener) -> None:
        """Call ``listener(members)`` after members were evicted from the list (§9)."""
        self._eviction_listeners.append(listener)

    # -- the apply pipeline ----------------------------------------------------------

    def apply_changes(
        self,
        changes: Sequence[Change],
        *,
        disseminate: bool = True,
        peer: str = "",
        strict: bool = False,
    ) -> list[Applied]:
        """Apply changes received from ``peer`` (§6) and process what was accepted.

        The input limits come first (:mod:`.limits`): changes over them are dropped,
        and a message with too many changes is refused whole, returning ``[]`` (or,
        with ``strict``, raising :class:`~ringpop.membership.limits.LimitError`).
        """
        if peer and self.options.cautious_rumours:
            changes = self._cautious(changes, peer)
        try:
            allowed = self.guard.filter_changes(peer, changes, self.members)
        except LimitError:
            if strict:
                raise
            return []
        applied = self.members.apply(allowed)
        self.process(applied, disseminate=disseminate)
        if self.lifeguard:
            self._lifeguard_observe(allowed, applied)
        return applied

    def _cautious(self, changes: Sequence[Change], peer: str) -> Sequence[Change]:
        """Verdicts from a peer we hold unreachable, about members we can reach, as doubts.

        A peer we hold suspect, faulty or tombstone is, for us, on the other side of a
        partition that may just have ended; what it sends was decided over there. Its
        ``faulty``/``tombstone`` changes about another member we hold alive or suspect
        are taken as ``suspect`` at the same incarnation: the member refutes within the
        suspect period if it is alive, and is declared faulty by our own timer if not.
        Wire-neutral (``cautious_rumours``); see docs/membership.md#late-news.
        """
        sender = self.members.get(peer)
        if sender is None or sender.status not in _DOUBTED:
            return changes
        cautious: list[Change] | None = None
        for index, change in enumerate(changes):
            if not (change.tombstone or change.status in _GONE) or change.address == self.address:
                continue
            member = self.members.get(change.address)
            if member is None or member.status not in _REACHABLE:
                continue
            if cautious is None:
                cautious = list(changes)
            cautious[index] = msgspec.structs.replace(
                change, status=Status.SUSPECT.value, tombstone=False
            )
        return changes if cautious is None else cautious

    def process(
        self, applied: list[Applied], *, disseminate: bool = True, timers: bool = True
    ) -> None:
        """Effects of accepted changes (§6.2): dissemination, maxP, timers, ring, listeners.

        ``disseminate=False`` (bootstrap join lists, §7.6) still records changes about
        the local member, which are always news to others.
        """
        if not applied:
            return
        record = self.disseminator.record
        for item in applied:
            if disseminate or item.local:
                record(item.change)
            self.stats.increment(f"membership-update.{item.new.status}")
        self.disseminator.adjust_max_p()
        if timers:
            self.timers.on_applied(applied, self.clock.monotonic())
        if self.lifeguard:
            self._lifeguard_suspect_timers(applied)
        self._arm_timer()
        add, remove = ring_updates(applied)
        if add or remove:
            self.ring.add_remove_servers(add, remove)
        self.stats.gauge("checksum", self.members.checksum)
        self.stats.gauge("num-members", len(self.members))
        for listener in list(self._listeners):
            listener(applied)

    def declare(self, address: str, status: Status, incarnation: int) -> list[Applied]:
        """Make a local declaration about another member (§6.4) and process it."""
        applied = self.members.declare(address, status, incarnation)
        self.process(applied)
        return applied

    def set_local_status(self, status: Status) -> Applied:
        """Change our own status (leave, alive, faulty), reincarnating (§6.3)."""
        applied = self.members.set_local_status(status)
        self.process([applied])
        return applied

    def set_local_labels(self, labels: Mapping[str, str]) -> Applied:
        """Replace our labels, reincarnating (§16)."""
        applied = self.members.set_local_labels(labels)
        self.process([applied])
        return applied

    # -- Lifeguard (opt-in) -------------------------------------------------------------

    def _scaled(self, duration: float) -> float:
        """``duration`` stretched by the local health multiplier (Lifeguard on)."""
        return self.health.scale(duration) if self.lifeguard else duration

    def _health(self, delta: int) -> None:
        before = self.health.score
        after = self.health.apply(delta)
        if after != before:
            self.stats.gauge("lifeguard.lhm", after)
            log.debug("%s: local health multiplier %d -> %d", self.address, before, after)

    def _lifeguard_suspect_timers(self, applied: list[Applied]) -> None:
        """Suspect timers start at Lifeguard's max timeout (not ``suspect_period``)."""
        now = self.clock.monotonic()
        for item in applied:
            if item.local:
                continue
            member = item.new
            address = member.address
            if member.status != Status.SUSPECT:
                self.suspicions.drop(address)
                continue
            timer = self.timers.get(address)
            if timer is None or timer.state != Status.SUSPECT:
                continue
            current = self.suspicions.get(address)
            if current is None or item.old is None or item.old.status != Status.SUSPECT:
                current = self.suspicions.start(
                    address,
                    member.incarnation,
                    origin=item.change.source,
                    now=now,
                    members=len(self.members),
                    period=self.options.min_protocol_period,
                )
            else:  # a newer incarnation of the same suspicion: it goes on
                current.incarnation = member.incarnation
                current.confirm(item.change.source)
            self.timers.reschedule(address, current.due_at)

    def _lifeguard_observe(self, received: Sequence[Change], applied: list[Applied]) -> None:
        """Count suspicion confirmations and refutations in a batch from a peer."""
        if any(item.local for item in applied) and any(
            c.address == self.address and c.status in ("suspect", "faulty") for c in received
        ):
            self._health(+1)  # we had to refute a suspicion about ourselves
        for change in received:
            if change.status == "suspect" and self._confirm(
                change.address, change.incarnation_number, change.source
            ):
                # Pass the confirmation on (memberlist re-broadcasts it too).
                self.disseminator.record(change)

    def _confirm(self, address: str, incarnation: int, source: str) -> bool:
        """An independent suspicion of ``address``: shrink its timeout; was it new?"""
        member = self.members.get(address)
        if member is None or member.status != Status.SUSPECT:
            return False
        suspicion = self.suspicions.confirm(address, incarnation, source)
        if suspicion is None:
            return False
        self.stats.increment("lifeguard.confirmation")
        self.timers.reschedule(address, suspicion.due_at)
        self._arm_timer()
        return True

    def _suspect(self, target: Member) -> None:
        """Declare ``target`` suspect (§8.4); with Lifeguard, a member we already
        suspect gets our confirmation, gossiped as our own suspect change."""
        applied = self.declare(target.address, Status.SUSPECT, target.incarnation)
        if applied or not self.lifeguard:
            return
        member = self.members.get(target.address)
        if member is None or member.status != Status.SUSPECT:
            return
        if self._confirm(member.address, member.incarnation, self.address):
            change = declaration(
                self.members.local, member, member.address, Status.SUSPECT, member.incarnation
            )
            self.disseminator.record(change)

    # -- timers (§9) -----------------------------------------------------------------

    def _arm_timer(self) -> None:
        if self._closed:
            return
        due = self.timers.next_due()
        if due == self._timer_due and self._timer_handle is not None:
            return
        if self._timer_handle is not None:
            self._timer_handle.cancel()
            self._timer_handle = None
        self._timer_due = due
        if due is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop yet: armed again by the next change
            self._timer_due = None
            return
        delay = max(0.0, due - self.clock.monotonic())
        self._timer_handle = loop.call_later(delay, self._fire_timers)

    def _fire_timers(self) -> None:
        self._timer_handle = None
        self._timer_due = None
        applied, evicted = self.timers.expire(self.clock.monotonic(), self.members)
        self.process(applied, timers=False)
        if evicted:
            self.disseminator.adjust_max_p()
            for member in evicted:
                log.info("%s evicted %s", self.address, member.address)
            self.stats.gauge("checksum", self.members.checksum)
            self.stats.gauge("num-members", len(self.members))
            for eviction_listener in list(self._eviction_listeners):
                eviction_listener(evicted)
        self._arm_timer()

    # -- gossip (§8) -----------------------------------------------------------------

    @property
    def gossiping(self) -> bool:
        """Whether the gossip loop runs."""
        return self._gossip_task is not None and not self._gossip_task.done()

    def start_gossip(self) -> None:
        """Start the protocol-period loop (no-op if it runs); starts a fresh round."""
        if self.gossiping or self._closed:
            return
        self.members.restart_round()
        self._gossip_task = asyncio.get_running_loop().create_task(
            self._gossip_loop(), name=f"gossip {self.address}"
        )

    async def stop_gossip(self) -> None:
        """Stop the loop; an in-flight ping may still finish in the background."""
        task, self._gossip_task = self._gossip_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _gossip_loop(self) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(self.rng.uniform(0, self.options.min_protocol_period))
        while True:
            start = loop.time()
            try:
                await self.tick()
            except Exception:  # a bug in one period must not stop failure detection
                log.exception("%s: protocol period failed", self.address)
            end = loop.time()
            self._tick_durations.append(end - start)
            self.stats.timing("protocol.frequency", (end - start) * 1000)
            self._update_rate(end)
            # Start-to-start scheduling: per-period overhead does not accumulate (§8.1).
            await self._sleep_period(max(start + self._scaled(self._protocol_rate) - end, 0.0))

    async def _sleep_period(self, delay: float) -> None:
        """Sleep until the next period, or until :meth:`reset_protocol_rate` cuts it short."""
        wake = self._period_wake
        if wake is None:
            wake = self._period_wake = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await wake.wait()
        wake.clear()

    def reset_protocol_rate(self) -> None:
        """Forget the measured periods and gossip at the minimum period again, now.

        For the end of a partition (a contact from a member held faulty, a heal
        attempt that reached its target): while members across it
        were unreachable every failed probe took a ping plus a ping-req timeout, which
        stretched the period to 2 x their median (§8.1), ~13 s; left alone, it would
        take a minute of slow periods to shrink again, while refutations need gossip
        within the suspect period.
        """
        self._tick_durations.clear()
        self._rate_computed_at = float("-inf")
        if self._protocol_rate > self.options.min_protocol_period:
            self._protocol_rate = self.options.min_protocol_period
            if self._period_wake is not None:
                self._period_wake.set()

    def _update_rate(self, now: float) -> None:
        if now - self._rate_computed_at < self.options.protocol_rate_interval:
            return
        self._rate_computed_at = now
        if self._tick_durations:
            median = _median(self._tick_durations)
            self._protocol_rate = max(2 * median, self.options.min_protocol_period)

    async def tick(self) -> bool:
        """Run one protocol period: ping the next member, ping-req if that fails.

        Returns whether a member was probed. A tick while another runs is skipped.
        """
        if self._tick_lock is None:
            self._tick_lock = asyncio.Lock()
        if self._tick_lock.locked():
            return False
        async with self._tick_lock:
            target = self.members.next_ping_target()
            if target is None:
                return False
            self.ping_count += 1
            if await self.send_ping(target.address):
                if self.lifeguard:
                    self._health(-1)
                return True
            reached = await self._ping_req(target)
            if self.lifeguard and not reached:
                self._health(+1)  # no ack at all, direct or indirect
            return True

    async def send_ping(
        self,
        address: str,
        *,
        timeout: float | None = None,
        changes: list[Change] | None = None,
        apply_response: bool = True,
    ) -> bool:
        """Ping ``address`` (§8.3); apply the changes it answers with. Success?

        ``changes`` replaces the disseminator's changes (partition healing sends its
        own); piggyback counts are only bumped for disseminator changes.
        ``apply_response=False`` ignores the changes of the response, as ringpop-node
        and ringpop-go do for the pings of partition healing.
        """
        issued = self.disseminator.issue_as_sender() if changes is None else changes
        body = encode(
            PingRequest(
                checksum=self.members.checksum,
                changes=issued,
                source=self.address,
                source_incarnation_number=self.members.local.incarnation,
                app=self.app,
            )
        )
        self.stats.increment("ping.send")
        started = self.clock.monotonic()
        try:
            raw = await self.network.call(
                address,
                "/protocol/ping",
                body,
                timeout=self._scaled(self.options.ping_timeout) if timeout is None else timeout,
            )
            response = self.guard.accept(address, receive(raw, PingResponse))
        except (CallError, MessageError) as error:
            log.debug("%s: ping %s failed: %s", self.address, address, error)
            return False
        self.stats.timing("ping", (self.clock.monotonic() - started) * 1000)
        if changes is None:
            self.disseminator.commit(issued)
        if apply_response:
            self.apply_changes(response.changes, peer=address)
        return True

    async def _ping_req(self, target: Member) -> bool:
        """Probe ``target`` through up to k helpers (§8.4), node outcome rules.

        Returns whether a helper reached it.
        """
        helpers = self.members.random_pingable(self.options.ping_req_size, [target.address])
        if not helpers:
            # Nobody can help (e.g. a two-node cluster): suspect right away.
            self._suspect(target)
            return False
        issued = self.disseminator.issue_as_sender()
        body = encode(
            PingReqRequest(
                source=self.address,
                source_incarnation_number=self.members.local.incarnation,
                target=target.address,
                checksum=self.members.checksum,
                changes=issued,
            )
        )
        attempts = [
            self._spawn(self._send_ping_req(helper.address, body, issued)) for helper in helpers
        ]
        answered_false = False
        for next_done in asyncio.as_completed(attempts):
            status = await next_done
            if status is True:
                return True  # reachable through a helper; stragglers finish in the background
            if status is False:
                answered_false = True
        if answered_false:
            self._suspect(target)
        else:
            log.info("%s: ping-req about %s inconclusive", self.address, target.address)
        return False

    async def _send_ping_req(self, helper: str, body: bytes, issued: list[Change]) -> bool | None:
        """One ping-req: the helper's ``pingStatus``, or ``None`` on error."""
        self.stats.increment("ping-req.send")
        started = self.clock.monotonic()
        try:
            raw = await self.network.call(
                helper,
                "/protocol/ping-req",
                body,
                timeout=self._scaled(self.options.ping_req_timeout),
            )
            response = self.guard.accept(helper, receive(raw, PingReqResponse))
        except (CallError, MessageError) as error:
            log.debug("%s: ping-req via %s failed: %s", self.address, helper, error)
            return None
        self.stats.timing("ping-req", (self.clock.monotonic() - started) * 1000)
        self.disseminator.commit(issued)
        self.apply_changes(response.changes, peer=helper)
        return response.ping_status

    # -- joins and full syncs (§4.1, §7.5) -----------------------------------------------

    def join_request(self) -> bytes:
        """Our ``/protocol/join`` body."""
        local = self.members.local
        return encode(
            JoinRequest(
                app=self.app,
                source=self.address,
                incarnation_number=local.incarnation,
                labels=dict(local.labels),
            )
        )

    async def send_join(self, address: str, *, timeout: float) -> JoinResponse:
        """Send a join to ``address``; its response. Raises :class:`CallError`."""
        self.stats.increment("join.send")
        raw = await self.network.call(
            address, "/protocol/join", self.join_request(), timeout=timeout
        )
        try:
            return self.guard.accept(address, receive(raw, JoinResponse))
        except MessageError as error:
            raise CallError(f"bad join response from {address}: {error}") from None

    def start_reverse_full_sync(self, address: str) -> bool:
        """Ask ``address`` for its membership (§7.5); ``False`` when 5 already run."""
        if self._reverse_syncs >= self.options.max_reverse_full_syncs or self._closed:
            self.stats.increment("full-sync.reverse-skipped")
            return False
        self._reverse_syncs += 1
        self.stats.increment("full-sync.reverse")
        self._spawn(self._reverse_full_sync(address))
        return True

    def maybe_startup_sync(self, address: str, checksum: int) -> bool:
        """Pull ``address``'s membership if we are new and our views still differ.

        Called by the ping handler for every ping it did not answer with a full sync
        (§7.5 then starts no reverse full sync), with the requester's ``checksum``;
        the case that matters is a ping answered with changes although that checksum
        differs from ours. Members learned from bootstrap join responses are not
        disseminated (§7.6), so after a simultaneous start of many nodes each knows
        members that only a few others spread, and a node can stay a member short
        for seconds while everyone around it still has changes to send (so nobody
        full-syncs it). Until a ping first shows our checksum agreeing with the
        requester's, and for at most ``startup_sync_window`` seconds after becoming
        ready, such a ping starts a reverse full sync towards its sender (a plain
        join: wire-neutral), at most one per ``startup_sync_interval`` and within
        the limit of concurrent reverse full syncs. Returns whether one started.
        """
        options = self.options
        if not options.startup_sync_enabled or self._startup_synced:
            return False
        if checksum == self.members.checksum:
            self._startup_synced = True  # we have agreed with someone: done
            return False
        now = self.clock.monotonic()
        if now - self._ready_at > options.startup_sync_window:
            self._startup_synced = True
            return False
        if now - self._last_startup_sync < options.startup_sync_interval:
            return False
        self._last_startup_sync = now
        self.stats.increment("full-sync.startup")
        return self.start_reverse_full_sync(address)

    async def _reverse_full_sync(self, address: str) -> None:
        try:
            response = await self.send_join(address, timeout=self.options.reverse_full_sync_timeout)
            self.apply_changes(response.membership, peer=address)
        except CallError as error:
            log.info("%s: reverse full sync with %s failed: %s", self.address, address, error)
        finally:
            self._reverse_syncs -= 1

    @property
    def reverse_syncs_running(self) -> int:
        """Reverse full syncs in flight."""
        return self._reverse_syncs

    # -- self-eviction (§15) ---------------------------------------------------------------

    async def self_evict(self) -> int:
        """Leave gracefully: declare ourselves faulty and tell a few members.

        Runs the pre-evict hooks, marks the local member ``faulty`` (out of our own
        ring), pings ``min(maxP, ceil(0.4 x pingable))`` distinct pingable members in
        parallel so the change spreads, runs the post-evict hooks. Returns the number
        of pings that succeeded. A second call while one runs raises
        :class:`SelfEvictionError`.
        """
        if self._evicting:
            raise SelfEvictionError("ringpop is already executing a self-eviction")
        self._evicting = True
        try:
            await _run_hooks(self.pre_evict_hooks)
            await self.stop_gossip()
            self.set_local_status(Status.FAULTY)
            succeeded = 0
            if self.options.self_evict_ping_enabled:
                pingable = self.members.pingable_count
                count = min(
                    self.disseminator.max_p,
                    math.ceil(pingable * self.options.self_evict_ping_ratio),
                    pingable,
                )
                targets = self.members.random_pingable(count)
                results = await asyncio.gather(*(self.send_ping(m.address) for m in targets))
                succeeded = sum(results)
                log.info(
                    "%s self-evicted: told %d of %d members", self.address, succeeded, len(targets)
                )
            await _run_hooks(self.post_evict_hooks)
            return succeeded
        finally:
            self._evicting = False

    # -- lifecycle ---------------------------------------------------------------------------

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coroutine`` as a background task owned (and cancelled) by the node."""
        return self._spawn(coroutine)

    async def stop(self) -> None:
        """Stop gossip, timers and background work. The state stays readable."""
        self._closed = True
        await self.stop_gossip()
        if self._timer_handle is not None:
            self._timer_handle.cancel()
            self._timer_handle = None
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _median(values: Sequence[float]) -> float:
    """The median of a few samples (``statistics`` costs ~3 ms of start-up to import)."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


async def _run_hooks(hooks: list[Hook]) -> None:
    for hook in hooks:
        result = hook()
        if result is not None:
            await result
