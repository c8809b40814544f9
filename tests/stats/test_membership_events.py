"""Membership's events stand for exactly the statsd lines its direct stats calls sent.

Each event goes through the one channel (emitter -> StatsRecorder -> StatsdBackend)
and, beside it, the ``stats.increment/gauge/timing`` call membership made before
events existed goes straight to another StatsdBackend; both send to real UDP sockets
on 127.0.0.1, and the datagrams must be the same bytes.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Callable, Iterator

import pytest

from ringpop.clock import ManualClock
from ringpop.eventbus import Event, EventEmitter
from ringpop.membership.core import MembershipCore
from ringpop.membership.events import (
    Contacted,
    DampReqReceived,
    DampScoreChanged,
    FastHealStarted,
    FullSyncSent,
    HealTriggered,
    InputDropped,
    InputRefused,
    JoinReceived,
    JoinSent,
    LocalHealthChanged,
    MemberDamped,
    MembershipEvicted,
    MembershipUpdated,
    PingAnswered,
    PingReceived,
    PingReqAnswered,
    PingReqPingSent,
    PingReqReceived,
    PingReqSent,
    PingSent,
    ProtocolPeriod,
    ReverseFullSyncSkipped,
    ReverseFullSyncStarted,
    StartupSyncStarted,
    SuspicionConfirmed,
)
from ringpop.messages import Change
from ringpop.stats import NullBackend, Stats
from ringpop.stats.recorder import StatsRecorder
from ringpop.stats.statsd import StatsdBackend

NODE = "127.0.0.1:3000"
PEER = "127.0.0.1:3001"


def _applied() -> MembershipUpdated:
    core = MembershipCore(NODE, events=EventEmitter(), clock=ManualClock(), rng=random.Random(1))
    changes = [
        Change(address=PEER, status="alive", incarnation_number=1),
        Change(address="127.0.0.1:3002", status="suspect", incarnation_number=1),
    ]
    step = core.apply_changes(changes, 0.0)
    return MembershipUpdated(step.applied, core.members.checksum, len(core.members))


_UPDATED = _applied()

# (the event, what membership called on its Stats before events existed)
CASES: list[tuple[Event, Callable[[Stats], None]]] = [
    (
        _UPDATED,
        lambda s: (
            s.increment("membership-update.alive"),
            s.increment("membership-update.suspect"),
            s.gauge("checksum", _UPDATED.checksum),
            s.gauge("num-members", 3),
        ),
    ),
    (
        MembershipEvicted([], 123456789, 4),
        lambda s: (s.gauge("checksum", 123456789), s.gauge("num-members", 4)),
    ),
    (LocalHealthChanged(1, 2), lambda s: s.gauge("lifeguard.lhm", 2)),
    (SuspicionConfirmed(PEER, NODE), lambda s: s.increment("lifeguard.confirmation")),
    (ProtocolPeriod(0.2034567), lambda s: s.timing("protocol.frequency", 0.2034567 * 1000)),
    (PingSent(PEER), lambda s: s.increment("ping.send")),
    (PingAnswered(PEER, 0.0012345), lambda s: s.timing("ping", 0.0012345 * 1000)),
    (PingReqSent(PEER), lambda s: s.increment("ping-req.send")),
    (PingReqAnswered(PEER, 0.05), lambda s: s.timing("ping-req", 0.05 * 1000)),
    (JoinSent(PEER), lambda s: s.increment("join.send")),
    (ReverseFullSyncStarted(PEER), lambda s: s.increment("full-sync.reverse")),
    (ReverseFullSyncSkipped(PEER), lambda s: s.increment("full-sync.reverse-skipped")),
    (StartupSyncStarted(PEER), lambda s: s.increment("full-sync.startup")),
    (JoinReceived(), lambda s: s.increment("join.recv")),
    (PingReceived(), lambda s: s.increment("ping.recv")),
    (PingReqReceived(), lambda s: s.increment("ping-req.recv")),
    (FullSyncSent(PEER), lambda s: s.increment("full-sync")),
    (PingReqPingSent(PEER), lambda s: s.increment("ping-req-ping.send")),
    (InputRefused(PEER, "labels", 3), lambda s: s.increment("limits.refused.labels", 3)),
    (InputDropped(PEER, "address", 2), lambda s: s.increment("receive.dropped.address", 2)),
    (HealTriggered((PEER,)), lambda s: s.increment("heal.triggered")),
    (FastHealStarted(PEER, "contact"), lambda s: s.increment("heal.fast.contact")),
    (DampScoreChanged(PEER, 1234.5), lambda s: s.gauge("damp-score", 1234.5)),
    (MemberDamped(PEER), lambda s: s.increment("damper.damped")),
    (DampReqReceived(), lambda s: s.increment("damp-req.recv")),
    (Contacted(PEER), lambda s: None),
]


@pytest.fixture
def collectors() -> Iterator[list[socket.socket]]:
    sockets = []
    for _ in range(2):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(2.0)
        sockets.append(sock)
    yield sockets
    for sock in sockets:
        sock.close()


def _drain(sock: socket.socket, count: int) -> list[bytes]:
    return [sock.recv(65536) for _ in range(count)]


@pytest.mark.parametrize(("event", "direct"), CASES, ids=lambda c: type(c).__name__)
def test_event_sends_the_same_statsd_datagrams(
    collectors: list[socket.socket], event: Event, direct: Callable[[Stats], None]
) -> None:
    via_events, via_calls = (
        StatsdBackend("127.0.0.1", sock.getsockname()[1]) for sock in collectors
    )
    try:
        emitter = EventEmitter()
        StatsRecorder(Stats(NODE, via_events)).attach(emitter)
        emitter.emit(event)
        direct(Stats(NODE, via_calls))
        assert via_events.dropped == via_calls.dropped == 0
        assert via_events.sent == via_calls.sent == len(event.stats())
        assert _drain(collectors[0], via_events.sent) == _drain(collectors[1], via_calls.sent)
    finally:
        via_events.close()
        via_calls.close()


def test_every_membership_event_is_covered() -> None:
    import ringpop.membership.events as module

    defined = {getattr(module, name) for name in module.__all__}
    assert defined == {type(event) for event, _ in CASES}


def test_hot_path_events_are_not_wanted_without_a_backend() -> None:
    emitter = EventEmitter()
    StatsRecorder(Stats(NODE, NullBackend())).attach(emitter)
    assert not any(emitter.wants(t) for t in (PingSent, PingReceived, PingAnswered, Contacted))
