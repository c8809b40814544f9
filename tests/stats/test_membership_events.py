"""Membership's events stand for exactly the statsd lines its direct stats calls sent.

Each event goes through the one channel (emitter -> StatsRecorder -> StatsdBackend)
and, beside it, the ``stats.increment/gauge/timing`` call membership made before
events existed goes straight to another StatsdBackend; both send to real UDP sockets
on 127.0.0.1, and the datagrams must be the same bytes.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator

import pytest

from ringpop.clock import ManualClock
from ringpop.eventbus import Event, EventEmitter
from ringpop.membership.core import MembershipCore
from ringpop.membership.events import (
    ChecksumComputed,
    ChecksumFlavourMismatch,
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
    MembersEvicted,
    MembershipChanged,
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

# (the event, the calls membership made on its Stats before events existed)
Call = tuple[str, str, float]
CASES: list[tuple[Event, list[Call]]] = [
    (
        _UPDATED,
        [
            ("increment", "membership-update.alive", 1),
            ("increment", "membership-update.suspect", 1),
            ("gauge", "checksum", _UPDATED.checksum),
            ("gauge", "num-members", 3),
        ],
    ),
    (
        MembershipEvicted([], 123456789, 4),
        [("gauge", "checksum", 123456789), ("gauge", "num-members", 4)],
    ),
    (LocalHealthChanged(1, 2), [("gauge", "lifeguard.lhm", 2)]),
    (SuspicionConfirmed(PEER, NODE), [("increment", "lifeguard.confirmation", 1)]),
    (ProtocolPeriod(0.2034567), [("timing", "protocol.frequency", 0.2034567 * 1000)]),
    (PingSent(PEER), [("increment", "ping.send", 1)]),
    (PingAnswered(PEER, 0.0012345), [("timing", "ping", 0.0012345 * 1000)]),
    (PingReqSent(PEER), [("increment", "ping-req.send", 1)]),
    (PingReqAnswered(PEER, 0.05), [("timing", "ping-req", 0.05 * 1000)]),
    (JoinSent(PEER), [("increment", "join.send", 1)]),
    (ReverseFullSyncStarted(PEER), [("increment", "full-sync.reverse", 1)]),
    (ReverseFullSyncSkipped(PEER), [("increment", "full-sync.reverse-skipped", 1)]),
    (StartupSyncStarted(PEER), [("increment", "full-sync.startup", 1)]),
    (JoinReceived(), [("increment", "join.recv", 1)]),
    (PingReceived(), [("increment", "ping.recv", 1)]),
    (PingReqReceived(), [("increment", "ping-req.recv", 1)]),
    (FullSyncSent(PEER), [("increment", "full-sync", 1)]),
    (ChecksumFlavourMismatch(PEER, "node"), [("increment", "full-sync.other-flavour", 1)]),
    (PingReqPingSent(PEER), [("increment", "ping-req-ping.send", 1)]),
    (InputRefused(PEER, "labels", 3), [("increment", "limits.refused.labels", 3)]),
    (InputDropped(PEER, "address", 2), [("increment", "receive.dropped.address", 2)]),
    (HealTriggered((PEER,)), [("increment", "heal.triggered", 1)]),
    (FastHealStarted(PEER, "contact"), [("increment", "heal.fast.contact", 1)]),
    (DampScoreChanged(PEER, 1234.5), [("gauge", "damp-score", 1234.5)]),
    (MemberDamped(PEER), [("increment", "damper.damped", 1)]),
    (DampReqReceived(), [("increment", "damp-req.recv", 1)]),
    (Contacted(PEER), []),
    # what applications subscribe to: the counting is done by the events above
    (MembershipChanged((), 123456789), []),
    (ChecksumComputed(123456789, 987654321), []),
    (MembersEvicted((PEER,), 123456789), []),
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


def _call(stats: Stats, call: Call) -> None:
    method, key, value = call
    if method == "increment":
        stats.increment(key, int(value))
    elif method == "gauge":
        stats.gauge(key, value)
    else:
        stats.timing(key, value)


@pytest.mark.parametrize(("event", "calls"), CASES, ids=lambda c: type(c).__name__)
def test_event_sends_the_same_statsd_datagrams(
    collectors: list[socket.socket], event: Event, calls: list[Call]
) -> None:
    via_events, via_calls = (
        StatsdBackend("127.0.0.1", sock.getsockname()[1]) for sock in collectors
    )
    try:
        emitter = EventEmitter()
        StatsRecorder(Stats(NODE, via_events)).attach(emitter)
        emitter.emit(event)
        direct = Stats(NODE, via_calls)
        for call in calls:
            _call(direct, call)
        assert via_events.dropped == via_calls.dropped == 0
        assert via_events.sent == via_calls.sent == len(event.stats())
        assert _drain(collectors[0], via_events.sent) == _drain(collectors[1], via_calls.sent)
    finally:
        via_events.close()
        via_calls.close()


def test_every_membership_event_is_covered() -> None:
    import ringpop.membership.events as module

    defined = {getattr(module, name) for name in module.__all__}
    defined = {t for t in defined if issubclass(t, Event)}  # not MemberUpdate, a part of one
    assert defined == {type(event) for event, _ in CASES}


def test_hot_path_events_are_not_wanted_without_a_backend() -> None:
    emitter = EventEmitter()
    StatsRecorder(Stats(NODE, NullBackend())).attach(emitter)
    assert not any(emitter.wants(t) for t in (PingSent, PingReceived, PingAnswered, Contacted))
