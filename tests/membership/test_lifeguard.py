"""Lifeguard's pure parts: the local health multiplier and the suspicion timeouts."""

from __future__ import annotations

import math

import pytest

from ringpop.membership.lifeguard import (
    LocalHealth,
    Suspicions,
    suspicion_bounds,
    suspicion_timeout,
)
from ringpop.membership.status import Status
from ringpop.membership.timers import TransitionTimers
from ringpop.options import Options, OptionsError


def test_lhm_rises_saturates_and_falls() -> None:
    health = LocalHealth(max_multiplier=3)
    assert health.score == 0
    assert health.scale(0.2) == pytest.approx(0.2)
    assert health.probe_succeeded() == 0  # never below 0
    assert health.probe_failed() == 1
    assert health.scale(0.2) == pytest.approx(0.4)
    assert health.refuted() == 2
    assert health.probe_failed() == 3
    assert health.probe_failed() == 3  # saturates at the maximum
    assert health.scale(1.5) == pytest.approx(6.0)
    assert [health.probe_succeeded() for _ in range(4)] == [2, 1, 0, 0]


def test_lhm_default_maximum_is_8() -> None:
    health = LocalHealth()
    for _ in range(20):
        health.probe_failed()
    assert health.score == 8
    assert health.scale(0.5) == pytest.approx(4.5)
    with pytest.raises(ValueError, match="max_multiplier"):
        LocalHealth(0)


@pytest.mark.parametrize(
    ("members", "expected_min"),
    [(1, 1.0), (5, 1.0), (10, 1.0), (100, 2.0), (1000, 3.0), (50, math.log10(50))],
)
def test_suspicion_bounds(members: int, expected_min: float) -> None:
    shortest, longest = suspicion_bounds(members, 0.2, 5.0)
    assert shortest == pytest.approx(expected_min)
    assert longest == pytest.approx(6 * expected_min)


def test_suspicion_timeout_formula() -> None:
    lo, hi = 1.0, 6.0
    assert suspicion_timeout(0, 3, lo, hi) == pytest.approx(6.0)
    # max - (max - min) x log(C + 1) / log(k + 1)
    assert suspicion_timeout(1, 3, lo, hi) == pytest.approx(6.0 - 5.0 * math.log(2) / math.log(4))
    assert suspicion_timeout(1, 3, lo, hi) == pytest.approx(3.5)
    assert suspicion_timeout(2, 3, lo, hi) == pytest.approx(6.0 - 5.0 * math.log(3) / math.log(4))
    assert suspicion_timeout(3, 3, lo, hi) == pytest.approx(1.0)
    assert suspicion_timeout(9, 3, lo, hi) == pytest.approx(1.0)  # never below min
    assert suspicion_timeout(0, 0, lo, hi) == pytest.approx(1.0)  # nobody can confirm
    timeouts = [suspicion_timeout(c, 5, lo, hi) for c in range(7)]
    assert timeouts == sorted(timeouts, reverse=True)


def test_suspicion_counts_distinct_confirmers_only() -> None:
    suspicions = Suspicions(mult=5.0, confirmations=3)
    s = suspicions.start("b:1", 7, origin="a:1", now=100.0, members=10, period=0.2)
    assert s.shortest == pytest.approx(1.0)
    assert s.longest == pytest.approx(6.0)
    assert s.needed == 3
    assert s.due_at == pytest.approx(106.0)
    assert suspicions.confirm("b:1", 7, "a:1") is None  # the origin is no confirmation
    assert suspicions.confirm("b:1", 6, "c:1") is None  # another incarnation
    assert suspicions.confirm("x:1", 7, "c:1") is None  # not suspected
    assert suspicions.confirm("b:1", 7, "") is None  # anonymous
    assert suspicions.confirm("b:1", 7, "c:1") is s
    assert s.due_at == pytest.approx(103.5)
    assert suspicions.confirm("b:1", 7, "c:1") is None  # the same source twice
    assert suspicions.confirm("b:1", 7, "d:1") is s
    assert suspicions.confirm("b:1", 7, "e:1") is s
    assert s.due_at == pytest.approx(101.0)
    assert suspicions.confirm("b:1", 7, "f:1") is None  # already at min
    assert "b:1" in suspicions
    assert len(suspicions) == 1
    assert suspicions.drop("b:1")
    assert not suspicions.drop("b:1")


def test_small_clusters_cap_k() -> None:
    suspicions = Suspicions(mult=5.0, confirmations=3)
    # 3 members: only one member besides suspect and origin can confirm.
    s = suspicions.start("b:1", 1, origin="a:1", now=0.0, members=3, period=0.2)
    assert s.needed == 1
    assert s.due_at == pytest.approx(6.0)
    assert suspicions.confirm("b:1", 1, "c:1") is s
    assert s.due_at == pytest.approx(1.0)
    # 2 members: nobody can confirm, so the minimum applies at once.
    s = suspicions.start("b:1", 1, origin="a:1", now=0.0, members=2, period=0.2)
    assert s.needed == 0
    assert s.due_at == pytest.approx(1.0)


def test_timer_reschedule_moves_the_pending_timer() -> None:
    timers = TransitionTimers(suspect_period=5.0)
    assert not timers.reschedule("b:1", 3.0)
    timers.schedule("b:1", Status.SUSPECT, 4, 5.0)
    timers.schedule("c:1", Status.SUSPECT, 1, 4.0)
    assert timers.reschedule("b:1", 30.0)
    assert timers.next_due() == 4.0
    assert timers.due(10.0) == [("c:1", Status.SUSPECT, 1)]
    assert timers.reschedule("b:1", 12.0)
    assert timers.get("b:1") == (Status.SUSPECT, 4, 12.0)
    assert timers.due(11.9) == []
    assert timers.due(12.0) == [("b:1", Status.SUSPECT, 4)]
    assert timers.next_due() is None


@pytest.mark.parametrize(
    "bad",
    [
        {"lifeguard_enabled": 1},
        {"lifeguard_max_multiplier": 0},
        {"lifeguard_suspicion_mult": 0},
        {"lifeguard_suspicion_mult": float("inf")},
        {"lifeguard_confirmations": 0},
        {"lifeguard_confirmations": 2.5},
    ],
)
def test_lifeguard_options_are_validated(bad: dict[str, object]) -> None:
    with pytest.raises(OptionsError):
        Options(**bad)  # type: ignore[arg-type]


def test_lifeguard_is_off_by_default() -> None:
    options = Options()
    assert options.lifeguard_enabled is False
    assert (options.lifeguard_max_multiplier, options.lifeguard_confirmations) == (8, 3)
