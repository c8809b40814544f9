"""The membership core: member state and its rules, with no IO (spec §6, §7, §9, Lifeguard).

:class:`MembershipCore` owns the member list, the disseminator, the input limits,
the §9 transition timers, Lifeguard's local health and suspicions, and the hash
ring, and keeps them consistent. Every method that changes them takes ``now`` (plain
seconds on the caller's monotonic clock) and returns a :class:`Step`: what was
applied, what was evicted, and the **next deadline**, the time at which the caller
must call :meth:`MembershipCore.expire`. The core never sleeps, never sends, never
reads a clock for its deadlines and draws randomness only from the injected
:class:`random.Random`; the asyncio drivers beside it (:mod:`.runtime`,
:mod:`.deadlines`, :mod:`.gossip`, :mod:`.ping`, :mod:`.pingreq`, :mod:`.joinsender`,
:mod:`.fullsync`, :mod:`.evict`) do the waiting and the talking.

What happens is reported as typed events (:mod:`.events`) on the injected emitter,
synchronously and in order: :class:`~.events.MembershipUpdated` after each
processed batch (stats ``membership-update.<status>``, ``checksum``,
``num-members``), :class:`~.events.MembershipEvicted`,
:class:`~.events.LocalHealthChanged`, :class:`~.events.SuspicionConfirmed`, and the
input limits' refusals. The emitter's callbacks run synchronously too, so a test
that drives the core with numbers sees every effect without an event loop.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

from ringpop.membership.dissemination import Disseminator
from ringpop.membership.events import (
    LocalHealthChanged,
    MembershipEvicted,
    MembershipUpdated,
    SuspicionConfirmed,
)
from ringpop.membership.latenews import doubt_late_news, log_verdicts, verdicts
from ringpop.membership.lifeguard import LocalHealth, Suspicions
from ringpop.membership.limits import InputGuard, InputLimits, LimitError
from ringpop.membership.member import Member
from ringpop.membership.memberlist import Applied, MemberList, ring_updates
from ringpop.membership.rules import declaration
from ringpop.membership.status import GONE, Status
from ringpop.membership.timers import TransitionTimers
from ringpop.messages import Change
from ringpop.options import Options
from ringpop.ring import HashRing

if TYPE_CHECKING:
    from ringpop.clock import Clock
    from ringpop.eventbus import EventEmitter

__all__ = ["MembershipCore", "Step"]

log = logging.getLogger(__name__)


class Step(NamedTuple):
    """The effects of one call into the core."""

    applied: list[Applied]
    """Changes accepted (already recorded, timed, in the ring and emitted)."""
    evicted: list[Member]
    """Members dropped from the list (tombstones that expired)."""
    deadline: float | None
    """When :meth:`MembershipCore.expire` must run next (``None``: no timer pending)."""


class MembershipCore:
    """Member list + dissemination + the apply pipeline + Lifeguard + §9 deadlines."""

    def __init__(
        self,
        address: str,
        *,
        events: EventEmitter,
        clock: Clock,
        rng: random.Random,
        options: Options | None = None,
        labels: Mapping[str, str] | None = None,
        ring: HashRing | None = None,
    ) -> None:
        """``clock`` only dates new local incarnations (wall ms, §6.3) and throttles
        log lines; every deadline is computed from the ``now`` the caller passes."""
        self.address = address
        self.options = options = options if options is not None else Options()
        self.events = events
        self.members = MemberList(
            address, clock=clock, rng=rng, labels=labels, checksum_flavour=options.checksum_flavour
        )
        self.disseminator = Disseminator(
            self.members,
            piggyback_factor=options.piggyback_factor,
            agreement_shortcut=options.agreement_shortcut,
        )
        self.guard = InputGuard(
            InputLimits(
                max_members=options.max_members,
                max_changes_per_message=options.max_changes_per_message,
                max_message_bytes=options.max_message_bytes,
                label_max_key_size=options.label_max_key_size,
                label_max_value_size=options.label_max_value_size,
                label_max_count=options.label_max_count,
            ),
            events,
            clock,
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
        self._heard: dict[str, float] = {}
        """When each member last spoke to us itself (:meth:`heard_from`)."""
        self._doubts: dict[str, int] = {}
        """Members whose verdicts we doubted, and the highest incarnation doubted."""
        self.ring = ring if ring is not None else HashRing(options.replica_points)
        local = self.members.local
        self.ring.add_server(address, None if local.identity == address else local.identity)
        # The local alive change is the one pending change after bootstrap (§7.6).
        self.disseminator.record(self.members.local_change())

    # -- reading ---------------------------------------------------------------------

    @property
    def local(self) -> Member:
        """The local member."""
        return self.members.local

    def next_deadline(self) -> float | None:
        """When the earliest transition timer expires (``None``: none pending)."""
        return self.timers.next_due()

    def is_gone(self, address: str) -> bool:
        """Whether we hold ``address`` faulty or tombstone."""
        member = self.members.get(address)
        return member is not None and member.status in GONE

    def scaled(self, duration: float) -> float:
        """``duration`` stretched by the local health multiplier (Lifeguard on)."""
        return self.health.scale(duration) if self.lifeguard else duration

    # -- the apply pipeline ----------------------------------------------------------

    def apply_changes(
        self,
        changes: Sequence[Change],
        now: float,
        *,
        disseminate: bool = True,
        peer: str = "",
        strict: bool = False,
        join_list: bool = False,
    ) -> Step:
        """Apply changes received from ``peer`` (§6) and process what was accepted.

        The input limits come first (:mod:`.limits`): changes over them are dropped,
        and a message with too many changes is refused whole, applying nothing (or,
        with ``strict``, raising :class:`~ringpop.membership.limits.LimitError`).
        ``join_list``: the changes are a join response's membership (§7.6), applied as
        the spec says whoever sent them (no cautious rumours).
        """
        if peer and self.options.cautious_rumours and not join_list:
            changes = self._cautious(changes, peer, now)
        try:
            allowed = self.guard.filter_changes(peer, changes, self.members)
        except LimitError:
            if strict:
                raise
            return Step([], [], self.timers.next_due())
        applied = self.members.apply(allowed)
        if verdicts.isEnabledFor(logging.INFO):
            log_verdicts(self.address, applied, f"from {peer}" if peer else "from a local call")
        self._process(applied, now, disseminate, True)
        if self.lifeguard:
            self._lifeguard_observe(allowed, applied)
        return Step(applied, [], self.timers.next_due())

    def heard_from(self, address: str, now: float) -> None:
        """``address``, a member we know, spoke to us itself: a request from it, or its
        answer to our ping. Noted with ``cautious_rumours`` only; see :mod:`.latenews`."""
        if self.options.cautious_rumours and address in self.members:
            self._heard[address] = now

    def _cautious(self, changes: Sequence[Change], peer: str, now: float) -> Sequence[Change]:
        """Late news we have reason to doubt, as doubts (:func:`.latenews.doubt_late_news`)."""
        return doubt_late_news(
            changes,
            peer,
            self.members,
            self.address,
            heard_since=now - self.options.suspect_period,
            heard=self._heard,
            doubts=self._doubts,
        )

    def process(
        self, applied: list[Applied], now: float, *, disseminate: bool = True, timers: bool = True
    ) -> Step:
        """Effects of accepted changes (§6.2): dissemination, maxP, timers, ring, event.

        ``disseminate=False`` (bootstrap join lists, §7.6) still records changes about
        the local member, which are always news to others. ``timers=False`` leaves
        the §9 timers alone (the timers' own transitions schedule their follow-ups).
        """
        self._process(applied, now, disseminate, timers)
        return Step(applied, [], self.timers.next_due())

    def _process(self, applied: list[Applied], now: float, disseminate: bool, timers: bool) -> None:
        if not applied:
            return
        record = self.disseminator.record
        for item in applied:
            if disseminate or item.local:
                record(item.change)
        self.disseminator.adjust_max_p()
        if timers:
            self.timers.on_applied(applied, now)
        if self.lifeguard:
            self._lifeguard_suspect_timers(applied, now)
        add, remove = ring_updates(applied)
        if add or remove:
            self.ring.add_remove_servers(add, remove)
        members = self.members
        self.events.emit(MembershipUpdated(applied, members.checksum, len(members)))

    def declare(self, address: str, status: Status, incarnation: int, now: float) -> Step:
        """Make a local declaration about another member (§6.4) and process it."""
        applied = self.members.declare(address, status, incarnation)
        if verdicts.isEnabledFor(logging.INFO):
            log_verdicts(self.address, applied, "declared here")
        return self.process(applied, now)

    def set_local_status(self, status: Status, now: float) -> Step:
        """Change our own status (leave, alive, faulty), reincarnating (§6.3)."""
        return self.process([self.members.set_local_status(status)], now)

    def set_local_labels(self, labels: Mapping[str, str], now: float) -> Step:
        """Replace our labels, reincarnating (§16)."""
        return self.process([self.members.set_local_labels(labels)], now)

    def reap(self, now: float) -> Step:
        """Every faulty member becomes a tombstone now (``/admin/reap``)."""
        return self.process(self.members.reap(), now)

    # -- deadlines (§9) --------------------------------------------------------------

    def expire(self, now: float) -> Step:
        """Run the transitions due at ``now``: suspect -> faulty -> tombstone -> evicted."""
        applied, evicted = self.timers.expire(now, self.members)
        if applied and verdicts.isEnabledFor(logging.INFO):
            log_verdicts(self.address, applied, "by our timer")
        self._process(applied, now, True, False)
        if evicted:
            self.disseminator.adjust_max_p()
            for member in evicted:
                log.info("%s evicted %s", self.address, member.address)
                self._heard.pop(member.address, None)
                self._doubts.pop(member.address, None)
                if self.options.cautious_rumours:
                    # An evicted member's tombstone is old news: after a partition it
                    # would reach members that see it alive again (docs/membership.md#late-news).
                    self.disseminator.forget(member.address)
            members = self.members
            self.events.emit(MembershipEvicted(evicted, members.checksum, len(members)))
        return Step(applied, evicted, self.timers.next_due())

    # -- probe outcomes and Lifeguard (opt-in) -----------------------------------------

    def probe_succeeded(self) -> None:
        """A ping was acked: Lifeguard's local health improves."""
        if self.lifeguard:
            self._health(-1)

    def probe_failed(self) -> None:
        """Neither the ping nor any ping-req was acked: local health worsens."""
        if self.lifeguard:
            self._health(+1)

    def suspect(self, target: Member, now: float) -> Step:
        """Declare ``target`` suspect (§8.4); with Lifeguard, a member we already
        suspect gets our confirmation, gossiped as our own suspect change."""
        step = self.declare(target.address, Status.SUSPECT, target.incarnation, now)
        if step.applied or not self.lifeguard:
            return step
        member = self.members.get(target.address)
        if member is None or member.status != Status.SUSPECT:
            return step
        if self._confirm(member.address, member.incarnation, self.address):
            change = declaration(
                self.members.local, member, member.address, Status.SUSPECT, member.incarnation
            )
            self.disseminator.record(change)
        return Step([], [], self.timers.next_due())

    def _health(self, delta: int) -> None:
        before = self.health.score
        after = self.health.apply(delta)
        if after != before:
            self.events.emit(LocalHealthChanged(before, after))
            log.debug("%s: local health multiplier %d -> %d", self.address, before, after)

    def _lifeguard_suspect_timers(self, applied: list[Applied], now: float) -> None:
        """Suspect timers start at Lifeguard's max timeout (not ``suspect_period``)."""
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
        self.events.emit(SuspicionConfirmed(address, source))
        self.timers.reschedule(address, suspicion.due_at)
        return True
