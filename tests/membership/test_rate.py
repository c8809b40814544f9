"""The protocol period (§8.1) as plain data: twice the median, recomputed per interval."""

from __future__ import annotations

import pytest

from ringpop.membership.rate import ProtocolRate, median


def test_rate_is_twice_the_median_at_least_the_minimum() -> None:
    rate = ProtocolRate(0.2, 1.0)
    assert rate.rate == 0.2
    rate.record(0.05, now=10.0)
    assert rate.rate == 0.2  # 2 x 0.05 is below the minimum
    rate.record(0.4, now=11.0)
    assert rate.rate == pytest.approx(0.45)  # 2 x median(0.05, 0.4)


def test_rate_is_recomputed_at_most_once_per_interval() -> None:
    rate = ProtocolRate(0.2, 1.0)
    rate.record(0.5, now=10.0)
    assert rate.rate == 1.0
    rate.record(2.0, now=10.5)  # within the interval: sample kept, rate unchanged
    assert rate.rate == 1.0
    rate.record(2.0, now=11.0)
    assert rate.rate == 4.0
    assert rate.durations() == [0.5, 2.0, 2.0]


def test_only_the_last_samples_count() -> None:
    rate = ProtocolRate(0.2, 0.0, samples=3)
    for t, duration in enumerate([9.0, 9.0, 9.0, 0.1, 0.1, 0.1]):
        rate.record(duration, now=float(t))
    assert rate.durations() == [0.1, 0.1, 0.1]
    assert rate.rate == 0.2


def test_reset_goes_back_to_the_minimum() -> None:
    rate = ProtocolRate(0.2, 1.0)
    assert not rate.reset()  # already at the minimum
    rate.record(3.0, now=0.0)
    assert rate.reset()
    assert (rate.rate, rate.durations()) == (0.2, [])
    rate.record(3.0, now=0.5)  # recomputed at once after a reset
    assert rate.rate == 6.0


def test_median() -> None:
    assert median([3.0]) == 3.0
    assert median([4.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 2.0, 3.0]) == 2.5
