"""Bounded input from peers: over-limit input is refused before it touches state."""

from __future__ import annotations

import logging
import random

import pytest

from ringpop.clock import ManualClock
from ringpop.eventbus import EventEmitter
from ringpop.membership import limits
from ringpop.membership.limits import InputGuard, InputLimits, LimitError
from ringpop.membership.memberlist import MemberList
from ringpop.messages import MAX_CHANGES, Change, PingResponse
from ringpop.receiving import receive
from ringpop.stats import MemoryBackend, Stats
from ringpop.stats.recorder import StatsRecorder

PEER = "127.0.0.1:4000"


def _setup(**limits: int) -> tuple[InputGuard, MemberList, MemoryBackend, ManualClock]:
    clock = ManualClock()
    backend = MemoryBackend()
    members = MemberList("127.0.0.1:3000", clock=clock, rng=random.Random(1))
    events = EventEmitter()
    StatsRecorder(Stats("127.0.0.1:3000", backend)).attach(events)
    return (
        InputGuard(InputLimits(**limits), events, clock),
        members,
        backend,
        clock,
    )


def _alive(address: str, **labels: str) -> Change:
    return Change(address=address, status="alive", incarnation_number=1, labels=dict(labels))


def test_body_size() -> None:
    guard, _, backend, _ = _setup(max_message_bytes=10)
    guard.check_body(PEER, b"x" * 10)
    with pytest.raises(LimitError, match="11 bytes exceeds the limit of 10") as error:
        guard.check_body(PEER, b"x" * 11)
    assert error.value.reason == "message-bytes"
    assert backend.counters["limits.refused.message-bytes"] == 1


def test_too_many_changes_refuses_the_message() -> None:
    guard, members, backend, _ = _setup(max_changes_per_message=3)
    changes = [_alive(f"10.0.0.{i}:1") for i in range(4)]
    with pytest.raises(LimitError, match="4 changes"):
        guard.filter_changes(PEER, changes, members)
    assert backend.counters["limits.refused.changes"] == 1
    assert guard.filter_changes(PEER, changes[:3], members) == changes[:3]


def test_member_cap_drops_only_new_members() -> None:
    guard, members, backend, _ = _setup(max_members=3)
    members.apply([_alive("10.0.0.1:1")])  # with the local member: 2 tracked
    changes = [
        _alive("10.0.0.1:1"),
        _alive("10.0.0.2:1"),
        _alive("10.0.0.3:1"),
        _alive("10.0.0.2:1"),
    ]
    kept = guard.filter_changes(PEER, changes, members)
    # an update of a known member and one new member fit; the second new one does not
    assert [c.address for c in kept] == ["10.0.0.1:1", "10.0.0.2:1", "10.0.0.2:1"]
    assert backend.counters["limits.refused.members"] == 1


def test_label_limits_on_incoming_changes() -> None:
    guard, members, backend, _ = _setup()
    ok = _alive("10.0.0.1:1", role="cache", __identity="cache-a")
    long_key = _alive("10.0.0.2:1", **{"k" * 33: "v"})
    long_value = _alive("10.0.0.3:1", role="v" * 129)
    too_many = _alive("10.0.0.4:1", **{f"k{i}": "v" for i in range(6)})
    kept = guard.filter_changes(PEER, [ok, long_key, long_value, too_many], members)
    assert kept == [ok]
    assert backend.counters["limits.refused.labels"] == 3


def test_logged_once_per_peer_per_minute(caplog: pytest.LogCaptureFixture) -> None:
    guard, _, _, clock = _setup(max_message_bytes=1)
    caplog.set_level(logging.WARNING, logger="ringpop.membership.limits")
    for _ in range(5):
        with pytest.raises(LimitError):
            guard.check_body(PEER, b"xx")
    with pytest.raises(LimitError):
        guard.check_body("127.0.0.1:4001", b"xx")
    assert len(caplog.records) == 2
    clock.advance(61)
    with pytest.raises(LimitError):
        guard.check_body(PEER, b"xx")
    assert len(caplog.records) == 3
    assert guard.refused == {"message-bytes": 7}


def _bad_changes(count: int, address: str = "127.0.0.1:3001") -> bytes:
    bad = f'{{"address":"{address}","status":"alive","incarnationNumber":-1}}'
    return ('{"changes":[' + ",".join([bad] * count) + "]}").encode()


def test_dropped_entries_counted_and_logged_once_per_peer_per_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard, _, backend, clock = _setup()
    caplog.set_level(logging.WARNING, logger="ringpop.membership.limits")
    for _ in range(3):
        response = guard.accept(PEER, receive(_bad_changes(MAX_CHANGES), PingResponse))
        assert response.changes == []
    guard.accept("127.0.0.1:4001", receive(_bad_changes(1), PingResponse))
    assert len(caplog.records) == 2, "100 000 bad entries, three times: one line"
    assert "100000 x incarnationNumber" in caplog.records[0].getMessage()
    assert backend.counters["receive.dropped.incarnationNumber"] == 3 * MAX_CHANGES + 1
    assert guard.dropped == {"incarnationNumber": 3 * MAX_CHANGES + 1}
    clock.advance(59)
    guard.accept(PEER, receive(_bad_changes(1), PingResponse))
    assert len(caplog.records) == 2
    clock.advance(2)
    guard.accept(PEER, receive(_bad_changes(1), PingResponse))
    assert len(caplog.records) == 3


def test_dropped_entry_log_lines_stay_short(caplog: pytest.LogCaptureFixture) -> None:
    guard, _, _, _ = _setup()
    caplog.set_level(logging.WARNING, logger="ringpop.membership.limits")
    huge = "x" * 1_000_000
    guard.accept(huge, receive(_bad_changes(2, address=huge), PingResponse))
    (record,) = caplog.records
    assert len(record.getMessage()) < 600
    assert guard.accept(PEER, receive(b'{"changes":[]}', PingResponse)).changes == []
    assert len(caplog.records) == 1, "nothing dropped: nothing logged"


def test_new_member_without_host_port_is_dropped_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard, members, backend, _ = _setup(max_members=3)
    caplog.set_level(logging.WARNING, logger="ringpop.membership.limits")
    members.apply([_alive("10.0.0.1:1")])
    bad = ["no-port", "a:b:c", "", "x" * 10_000]
    changes = [_alive("10.0.0.1:1"), *map(_alive, bad), _alive("10.0.0.2:1")]
    kept = guard.filter_changes(PEER, changes, members)
    assert [c.address for c in kept] == ["10.0.0.1:1", "10.0.0.2:1"], "no room taken by them"
    assert backend.counters["receive.dropped.address"] == 4
    assert guard.dropped == {"address": 4}
    assert "limits.refused.members" not in backend.counters
    (record,) = caplog.records
    assert "4 x address" in record.getMessage()
    assert "'no-port'" in record.getMessage()
    assert [a.new.address for a in members.apply(kept)] == ["10.0.0.2:1"]


def test_known_members_skip_the_address_check(monkeypatch: pytest.MonkeyPatch) -> None:
    guard, members, backend, _ = _setup()
    members.apply([_alive("10.0.0.1:1")])
    calls: list[str] = []

    def checked(address: str) -> bool:
        calls.append(address)
        return True

    monkeypatch.setattr(limits, "is_valid_address", checked)
    guard.filter_changes(PEER, [_alive("10.0.0.1:1"), _alive("127.0.0.1:3000")], members)
    assert calls == [], "the fast path (known members) costs nothing more"
    assert backend.counters.get("receive.dropped.address", 0) == 0
