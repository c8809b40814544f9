"""State-transition timers (§9) as plain data."""

from __future__ import annotations

import pytest

from ringpop.membership import Expired, Status, Timer, TransitionTimers
from tests.membership.helpers import LOCAL, B, C, D, address, change, member_list


def test_schedule_and_due_in_order() -> None:
    timers = TransitionTimers()
    assert timers.schedule(B, Status.SUSPECT, 1, due_at=5.0)
    assert timers.schedule(C, Status.FAULTY, 2, due_at=3.0)
    assert timers.next_due() == 3.0
    assert timers.get(B) == Timer(Status.SUSPECT, 1, 5.0)
    assert timers.due(2.9) == []
    assert timers.due(5.0) == [Expired(C, Status.FAULTY, 2), Expired(B, Status.SUSPECT, 1)]
    assert len(timers) == 0
    assert timers.next_due() is None


def test_same_state_again_is_ignored() -> None:
    timers = TransitionTimers()
    timers.schedule(B, Status.SUSPECT, 1, due_at=5.0)
    assert not timers.schedule(B, Status.SUSPECT, 1, due_at=9.0)
    assert timers.get(B) == Timer(Status.SUSPECT, 1, 5.0)
    assert timers.due(5.0) == [Expired(B, Status.SUSPECT, 1)]


def test_same_state_at_a_newer_incarnation_keeps_the_due_time() -> None:
    timers = TransitionTimers()
    timers.schedule(B, Status.SUSPECT, 1, due_at=5.0)
    assert timers.schedule(B, Status.SUSPECT, 2, due_at=9.0)
    assert timers.get(B) == Timer(Status.SUSPECT, 2, 5.0)
    assert timers.due(5.0) == [Expired(B, Status.SUSPECT, 2)]


def test_different_state_cancels_the_old_timer() -> None:
    timers = TransitionTimers()
    timers.schedule(B, Status.SUSPECT, 1, due_at=5.0)
    assert timers.schedule(B, Status.FAULTY, 1, due_at=100.0)
    assert timers.due(50.0) == []
    assert timers.next_due() == 100.0
    assert timers.due(100.0) == [Expired(B, Status.FAULTY, 1)]


def test_cancel_clear_and_containment() -> None:
    timers = TransitionTimers()
    timers.schedule(B, Status.SUSPECT, 1, due_at=5.0)
    timers.schedule(C, Status.SUSPECT, 1, due_at=6.0)
    assert B in timers
    assert timers.cancel(B)
    assert not timers.cancel(B)
    assert timers.next_due() == 6.0
    timers.clear()
    assert timers.due(1e9) == []


def test_no_timer_for_the_local_member_or_untimed_states() -> None:
    timers = TransitionTimers(local_address=LOCAL)
    assert not timers.schedule(LOCAL, Status.SUSPECT, 1, due_at=1.0)
    with pytest.raises(ValueError, match="no timer"):
        timers.schedule(B, Status.ALIVE, 1, due_at=1.0)


def test_disable_and_enable() -> None:
    timers = TransitionTimers()
    timers.schedule(B, Status.SUSPECT, 1, due_at=5.0)
    timers.disable()
    assert not timers.enabled
    assert len(timers) == 0
    assert not timers.schedule(B, Status.SUSPECT, 1, due_at=5.0)
    timers.enable()
    assert timers.schedule(B, Status.SUSPECT, 1, due_at=5.0)


@pytest.mark.parametrize("name", ["suspect_period", "faulty_period", "tombstone_period"])
def test_periods_must_be_positive(name: str) -> None:
    periods = {"suspect_period": 1.0, "faulty_period": 1.0, "tombstone_period": 1.0}
    periods[name] = 0.0
    with pytest.raises(ValueError, match=name):
        TransitionTimers(
            suspect_period=periods["suspect_period"],
            faulty_period=periods["faulty_period"],
            tombstone_period=periods["tombstone_period"],
        )


def test_on_applied_maps_statuses_to_timers() -> None:
    members, _ = member_list()
    timers = TransitionTimers(suspect_period=5, faulty_period=50, tombstone_period=60)
    applied = members.apply(
        [
            change(B, "suspect", 1),
            change(C, "faulty", 1),
            change(D, "alive", 1),
            change(D, "tombstone", 1),
            change(address(9), "leave", 1),
        ]
    )
    timers.on_applied(applied, now=10.0)
    assert timers.get(B) == Timer(Status.SUSPECT, 1, 15.0)
    assert timers.get(C) == Timer(Status.FAULTY, 1, 60.0)
    assert timers.get(D) == Timer(Status.TOMBSTONE, 1, 70.0)
    assert address(9) not in timers
    timers.on_applied(members.apply([change(B, "alive", 2), change(C, "leave", 1)]), now=11.0)
    assert B not in timers
    assert C not in timers


def test_on_applied_ignores_the_local_member() -> None:
    members, _ = member_list()
    timers = TransitionTimers()
    timers.on_applied(members.apply([change(LOCAL, "suspect", members.local.incarnation)]), 0.0)
    timers.on_applied([members.set_local_status(Status.FAULTY)], 0.0)
    assert len(timers) == 0


def test_full_life_cycle_suspect_faulty_tombstone_evicted() -> None:
    members, _ = member_list()
    timers = TransitionTimers(suspect_period=5, faulty_period=86_400, tombstone_period=60)
    timers.on_applied(members.apply([change(B, "alive", 1), change(B, "suspect", 1)]), now=0.0)
    assert timers.expire(4.99, members) == ([], [])

    applied, evicted = timers.expire(5.0, members)
    assert [(a.new.status, a.change.source) for a in applied] == [(Status.FAULTY, LOCAL)]
    assert evicted == []
    assert timers.get(B) == Timer(Status.FAULTY, 1, 86_405.0)

    applied, _ = timers.expire(86_405.0, members)
    assert [a.new.status for a in applied] == [Status.TOMBSTONE]
    assert timers.next_due() == 86_465.0

    applied, evicted = timers.expire(86_465.0, members)
    assert applied == []
    assert [m.address for m in evicted] == [B]
    assert B not in members
    assert len(timers) == 0


def test_expiry_about_a_superseded_incarnation_is_dropped() -> None:
    members, _ = member_list()
    timers = TransitionTimers(suspect_period=5)
    timers.on_applied(members.apply([change(B, "suspect", 1)]), now=0.0)
    # The member refutes with alive@2; this batch is kept from on_applied on purpose,
    # so the suspect timer still fires and its faulty@1 declaration must be dropped.
    members.apply([change(B, "alive", 2)])
    applied, _ = timers.expire(5.0, members)
    assert applied == []  # faulty@1 loses against alive@2
    assert members.get(B).status is Status.ALIVE  # type: ignore[union-attr]


def test_tombstone_timer_does_not_evict_a_revived_member() -> None:
    members, _ = member_list()
    timers = TransitionTimers(tombstone_period=1)
    members.apply([change(B, "alive", 1)])
    timers.on_applied(members.apply([change(B, "tombstone", 1)]), now=0.0)
    members.apply([change(B, "alive", 2)])  # timer not cancelled on purpose
    assert timers.expire(1.0, members) == ([], [])
    assert B in members


def test_cancelled_timers_do_not_pile_up() -> None:
    timers = TransitionTimers()
    for i in range(10_000):
        timers.schedule(B, Status.SUSPECT if i % 2 else Status.FAULTY, i, due_at=float(i))
    assert len(timers) == 1
    assert len(timers._heap) < 200
    assert timers.due(1e9) == [Expired(B, Status.SUSPECT, 9_999)]
