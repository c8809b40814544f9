"""Membership's typed events: the one channel for its stats and listeners.

The core and the drivers of :mod:`ringpop.membership` never call a stats back end:
they emit these events on the node's :class:`~ringpop.eventbus.EventEmitter`. An
event that counts overrides :meth:`~ringpop.eventbus.Event.stats` with exactly the
``(kind, key, value)`` triples ringpop-node emits (dotted keys, ms for timings), and
:class:`~ringpop.stats.recorder.StatsRecorder` forwards them to the back end. So
adding a membership metric touches one place: the event that stands for it.

The former listener hooks are events too: :class:`MembershipUpdated` (a processed
batch of accepted changes), :class:`MembershipEvicted` (members dropped from the
list) and :class:`Contacted` (a peer sent us a join, ping or ping-req).

Events on the hot path (:class:`PingSent`, :class:`PingReceived`, ...) are only
built when someone listens (``emitter.wants(T)``): with no stats back end a ping
costs no event at all.
"""

from __future__ import annotations

import msgspec

from ringpop.eventbus import Event, Kind, Stat
from ringpop.membership.member import Member
from ringpop.membership.memberlist import Applied

__all__ = [
    "ChecksumComputed",
    "ChecksumFlavourMismatch",
    "Contacted",
    "DampReqReceived",
    "DampScoreChanged",
    "FastHealStarted",
    "FullSyncSent",
    "HealTriggered",
    "InputDropped",
    "InputRefused",
    "JoinReceived",
    "JoinSent",
    "LocalHealthChanged",
    "MemberDamped",
    "MemberUpdate",
    "MembersEvicted",
    "MembershipChanged",
    "MembershipEvicted",
    "MembershipUpdated",
    "PingAnswered",
    "PingReceived",
    "PingReqAnswered",
    "PingReqPingSent",
    "PingReqReceived",
    "PingReqSent",
    "PingSent",
    "ProtocolPeriod",
    "ReverseFullSyncSkipped",
    "ReverseFullSyncStarted",
    "StartupSyncStarted",
    "SuspicionConfirmed",
]

_C = Kind.COUNTER
_G = Kind.GAUGE
_T = Kind.TIMING
# Fixed stats of the hot-path events, built once.
_PING_SEND: tuple[Stat, ...] = ((_C, "ping.send", 1),)
_PING_RECV: tuple[Stat, ...] = ((_C, "ping.recv", 1),)
_PING_REQ_SEND: tuple[Stat, ...] = ((_C, "ping-req.send", 1),)
_PING_REQ_RECV: tuple[Stat, ...] = ((_C, "ping-req.recv", 1),)


# -- the apply pipeline and timers (core) ------------------------------------------------


class MembershipUpdated(Event, frozen=True):
    """A batch of accepted changes was processed (dissemination, timers, ring done).

    Counts ``membership-update.<status>`` per change and reports the ``checksum`` and
    ``num-members`` gauges.
    """

    applied: list[Applied]
    checksum: int
    members: int

    def stats(self) -> tuple[Stat, ...]:
        counts = tuple((_C, f"membership-update.{item.new.status}", 1) for item in self.applied)
        return (*counts, (_G, "checksum", self.checksum), (_G, "num-members", self.members))


class MembershipEvicted(Event, frozen=True):
    """Tombstones expired: ``evicted`` left the member list (§9)."""

    evicted: list[Member]
    checksum: int
    members: int

    def stats(self) -> tuple[Stat, ...]:
        return ((_G, "checksum", self.checksum), (_G, "num-members", self.members))


class Contacted(Event, frozen=True):
    """``address``, a member we do not hold alive or suspect (or do not know), sent
    us a join, ping or ping-req (the fast healer listens: a partition may be over)."""

    address: str


class LocalHealthChanged(Event, frozen=True):
    """Lifeguard's local health multiplier moved."""

    before: int
    after: int

    def stats(self) -> tuple[Stat, ...]:
        return ((_G, "lifeguard.lhm", self.after),)


class SuspicionConfirmed(Event, frozen=True):
    """An independent suspicion of ``address`` by ``source`` shrank its timeout."""

    address: str
    source: str

    def stats(self) -> tuple[Stat, ...]:
        return ((_C, "lifeguard.confirmation", 1),)


# -- the gossip loop, ping and ping-req senders -------------------------------------------


class ProtocolPeriod(Event, frozen=True):
    """One protocol period ran for ``duration`` seconds."""

    duration: float

    def stats(self) -> tuple[Stat, ...]:
        return ((_T, "protocol.frequency", self.duration * 1000),)


class PingSent(Event, frozen=True):
    """A ping to ``target`` is being sent."""

    target: str

    def stats(self) -> tuple[Stat, ...]:
        return _PING_SEND


class PingAnswered(Event, frozen=True):
    """``target`` answered our ping after ``rtt`` seconds."""

    target: str
    rtt: float

    def stats(self) -> tuple[Stat, ...]:
        return ((_T, "ping", self.rtt * 1000),)


class PingReqSent(Event, frozen=True):
    """A ping-req through ``helper`` is being sent."""

    helper: str

    def stats(self) -> tuple[Stat, ...]:
        return _PING_REQ_SEND


class PingReqAnswered(Event, frozen=True):
    """``helper`` answered our ping-req after ``rtt`` seconds."""

    helper: str
    rtt: float

    def stats(self) -> tuple[Stat, ...]:
        return ((_T, "ping-req", self.rtt * 1000),)


# -- joins and full syncs -----------------------------------------------------------------


class JoinSent(Event, frozen=True):
    """A join to ``target`` is being sent (bootstrap, heal or reverse full sync)."""

    target: str

    def stats(self) -> tuple[Stat, ...]:
        return ((_C, "join.send", 1),)


class ReverseFullSyncStarted(Event, frozen=True):
    """A reverse full sync with ``target`` started (§7.5)."""

    target: str

    def stats(self) -> tuple[Stat, ...]:
        return ((_C, "full-sync.reverse", 1),)


class ReverseFullSyncSkipped(Event, frozen=True):
    """A reverse full sync with ``target`` was not started (limit reached, or stopped)."""

    target: str

    def stats(self) -> tuple[Stat, ...]:
        return ((_C, "full-sync.reverse-skipped", 1),)


class StartupSyncStarted(Event, frozen=True):
    """A new node asks ``target`` for its membership (``startup_sync_enabled``)."""

    target: str

    def stats(self) -> tuple[Stat, ...]:
        return ((_C, "full-sync.startup", 1),)


# -- the protocol handlers ------------------------------------------------------------------


class JoinReceived(Event, frozen=True):
    """A ``/protocol/join`` request arrived (counted before it is read)."""

    def stats(self) -> tuple[Stat, ...]:
        return ((_C, "join.recv", 1),)


class PingReceived(Event, frozen=True):
    """A ``/protocol/ping`` request arrived (counted before it is read)."""

    def stats(self) -> tuple[Stat, ...]:
        return _PING_RECV


class PingReqReceived(Event, frozen=True):
    """A ``/protocol/ping-req`` request arrived (counted before it is read)."""

    def stats(self) -> tuple[Stat, ...]:
        return _PING_REQ_RECV


class FullSyncSent(Event, frozen=True):
    """A ping from ``target`` was answered with our full membership (§7.5)."""

    target: str

    def stats(self) -> tuple[Stat, ...]:
        return ((_C, "full-sync", 1),)


class ChecksumFlavourMismatch(Event, frozen=True):
    """A ping from ``peer`` carried our membership's checksum in ``flavour``, the
    flavour we do not use: it was answered with a full sync (§12.2)."""

    peer: str
    flavour: str

    def stats(self) -> tuple[Stat, ...]:
        return ((_C, "full-sync.other-flavour", 1),)


class PingReqPingSent(Event, frozen=True):
    """Asked by a ping-req, we ping ``target`` for someone else."""

    target: str

    def stats(self) -> tuple[Stat, ...]:
        return ((_C, "ping-req-ping.send", 1),)


# -- input limits ----------------------------------------------------------------------------


class InputRefused(Event, frozen=True):
    """``count`` inputs from ``peer`` were over a limit (``reason``, :mod:`.limits`)."""

    peer: str
    reason: str
    count: int

    def stats(self) -> tuple[Stat, ...]:
        return ((_C, f"limits.refused.{self.reason}", self.count),)


class InputDropped(Event, frozen=True):
    """``count`` unusable entries from ``peer`` were dropped (``reason``: the field)."""

    peer: str
    reason: str
    count: int

    def stats(self) -> tuple[Stat, ...]:
        return ((_C, f"receive.dropped.{self.reason}", self.count),)


# -- healing and damping (drivers) -----------------------------------------------------------


class HealTriggered(Event, frozen=True):
    """A heal pass or a fast heal reached ``targets`` (§13)."""

    targets: tuple[str, ...]

    def stats(self) -> tuple[Stat, ...]:
        return ((_C, "heal.triggered", 1),)


class FastHealStarted(Event, frozen=True):
    """A fast heal with ``target`` started, because of ``reason`` (contact or probe)."""

    target: str
    reason: str

    def stats(self) -> tuple[Stat, ...]:
        return ((_C, f"heal.fast.{self.reason}", 1),)


class DampScoreChanged(Event, frozen=True):
    """The damp score of ``address`` is now ``score``."""

    address: str
    score: float

    def stats(self) -> tuple[Stat, ...]:
        return ((_G, "damp-score", self.score),)


class MemberDamped(Event, frozen=True):
    """``address`` is damped (every answer agreed it flaps)."""

    address: str

    def stats(self) -> tuple[Stat, ...]:
        return ((_C, "damper.damped", 1),)


class DampReqReceived(Event, frozen=True):
    """A ``/protocol/damp-req`` request arrived."""

    def stats(self) -> tuple[Stat, ...]:
        return ((_C, "damp-req.recv", 1),)


# -- what applications subscribe to (re-exported by ringpop.events) ---------------------


class MemberUpdate(msgspec.Struct, frozen=True):
    """One accepted membership change."""

    address: str
    status: str
    incarnation: int
    previous_status: str | None
    local: bool


class MembershipChanged(Event, frozen=True):
    """A batch of membership changes was applied."""

    updates: tuple[MemberUpdate, ...]
    checksum: int


class ChecksumComputed(Event, frozen=True):
    """The membership checksum changed."""

    checksum: int
    previous: int


class MembersEvicted(Event, frozen=True):
    """Tombstoned members were removed from the member list after the tombstone period."""

    addresses: tuple[str, ...]
    checksum: int
