"""Hybrid logical clock and last-writer-wins: pure, with a hand-driven physical clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ringpop.state.hlc import ClockDriftError, HybridClock, Version, newer


class Physical:
    def __init__(self, ms: int = 1_000) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def test_now_follows_physical_time_and_counts_within_a_millisecond() -> None:
    physical = Physical(1_000)
    clock = HybridClock("a", physical)
    assert clock.now() == Version(1_000, 0, "a")
    assert clock.now() == Version(1_000, 1, "a")
    physical.ms = 1_005
    assert clock.now() == Version(1_005, 0, "a")
    physical.ms = 900  # the physical clock stepped back: versions keep growing
    assert clock.now() == Version(1_005, 1, "a")


def test_observe_orders_later_writes_after_what_was_seen() -> None:
    physical = Physical(1_000)
    clock = HybridClock("a", physical)
    clock.observe(Version(1_500, 7, "b"))  # b's clock is 500 ms ahead of ours
    mine = clock.now()
    assert mine > Version(1_500, 7, "b")
    assert mine == Version(1_500, 9, "a")


def test_observe_refuses_versions_too_far_ahead() -> None:
    clock = HybridClock("a", Physical(1_000), max_drift_ms=100)
    with pytest.raises(ClockDriftError, match="ahead of our clock"):
        clock.observe(Version(1_101, 0, "b"))
    assert clock.last == Version(0, 0, "a")
    clock.observe(Version(1_100, 0, "b"))
    assert clock.last.wall == 1_100


def test_ties_go_to_the_larger_writer_id() -> None:
    assert newer(Version(5, 1, "b"), Version(5, 1, "a"))
    assert not newer(Version(5, 1, "a"), Version(5, 1, "b"))
    assert not newer(Version(5, 1, "a"), Version(5, 1, "a"))  # the same write: idempotent
    assert newer(Version(5, 2, "a"), Version(5, 1, "z"))
    assert newer(Version(0, 0, ""), None)


events = st.lists(
    st.one_of(
        st.tuples(st.just("tick"), st.integers(-50, 100)),
        st.tuples(st.just("now"), st.just(0)),
        st.tuples(st.just("observe"), st.integers(0, 3_000)),
    ),
    max_size=60,
)


@given(events)
def test_versions_are_strictly_increasing(script: list[tuple[str, int]]) -> None:
    physical = Physical(1_000)
    clock = HybridClock("a", physical)
    last = clock.last
    for kind, arg in script:
        if kind == "tick":
            physical.ms = max(0, physical.ms + arg)
        elif kind == "now":
            version = clock.now()
            assert version > last
            assert version.wall >= physical.ms
            last = version
        else:
            seen = Version(arg, arg % 5, "b")
            try:
                clock.observe(seen)
            except ClockDriftError:
                continue
            assert clock.now() > seen
            last = clock.last


@pytest.mark.parametrize(
    ("wire", "why"),
    [
        (b'[-1, 0, "n"]', r"Expected `int` >= 0 - at `\$\[0\]`"),
        (b'[1, -1, "n"]', r"Expected `int` >= 0 - at `\$\[1\]`"),
        (b'[1, 9223372036854775808, "n"]', r"<= 9223372036854775807 - at `\$\[1\]`"),
        (b'[1180591620717411303424, 0, "n"]', r"at `\$\[0\]`"),
        (b'[1, 0, "' + b"n" * 256 + b'"]', r"length <= 255 - at `\$\[2\]`"),
    ],
)
def test_decoded_versions_must_fit_the_stores_columns(wire: bytes, why: str) -> None:
    """Pages and stores keep walls and logicals as int64: a peer's version outside
    0..2**63-1 was an OverflowError deep in a store (an 'unexpected' answer)."""
    import msgspec

    with pytest.raises(msgspec.ValidationError, match=why):
        msgspec.json.decode(wire, type=Version)
    top = (1 << 63) - 1
    assert msgspec.json.decode(b'[%d, %d, "%s"]' % (top, top, b"n" * 255), type=Version).wall == top
