"""Pure planning: range arithmetic, token bucket, drop rules, digest descent, reconcile."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from ringpop.ring.ownership import HASH_SPACE, Range
from ringpop.state.antientropy import descend, reconcile
from ringpop.state.hlc import Version
from ringpop.state.ranges import (
    PendingDrop,
    TokenBucket,
    clip,
    covers,
    covers_merged,
    intersect,
    merge,
    overlapping,
    split,
    subtract,
    valid_range,
)
from ringpop.state.store import Digest, Record

ranges = st.tuples(st.integers(0, 1000), st.integers(1, 200)).map(
    lambda t: Range(t[0], t[0] + t[1])
)


@given(ranges, st.lists(ranges, max_size=6))
def test_subtract_and_intersect_partition_the_range(a: Range, others: list[Range]) -> None:
    inside, outside = intersect(a, others), subtract(a, others)
    points = set(range(a.start, a.end))
    got_in = {h for r in inside for h in range(r.start, r.end)}
    got_out = {h for r in outside for h in range(r.start, r.end)}
    assert got_in | got_out == points
    assert not got_in & got_out
    assert got_in == {h for h in points if any(h in o for o in others)}
    assert covers(others, a) == (not outside)
    assert covers_merged(merge(others), a) == (not outside)
    merged = merge(others)
    assert clip(merged, a) == [o for o in merged if intersect(a, [o])]
    assert subtract(a, clip(merged, a)) == outside


@given(ranges, st.integers(1, 40))
def test_split_covers_exactly_in_order(a: Range, parts: int) -> None:
    pieces = split(a, parts)
    assert len(pieces) == min(parts, a.size)
    assert pieces[0].start == a.start
    assert pieces[-1].end == a.end
    assert all(p.end == q.start for p, q in itertools.pairwise(pieces))
    assert merge(pieces) == [a]


def test_valid_range_refuses_empty_wrapping_and_out_of_space() -> None:
    assert valid_range(0, HASH_SPACE)
    for start, end in ((5, 5), (6, 5), (-1, 3), (0, HASH_SPACE + 1), (True, 3), ("0", 3)):
        assert not valid_range(start, end)


def test_token_bucket_paces_bytes() -> None:
    bucket = TokenBucket(1000.0, now=0.0)
    assert bucket.take(1000, 0.0) == 0.0  # the burst
    assert bucket.take(500, 0.0) == 0.5  # in debt: wait for it to refill
    assert bucket.take(0, 1.0) == 0.0
    assert TokenBucket(None).take(10**9, 0.0) == 0.0


def test_a_pending_drop_waits_for_the_current_replicas_that_did_not_hold_it() -> None:
    # "a" lost [0, 100); "h" replicated it before and after (a holder: never asked)
    drop = PendingDrop(Range(0, 100), frozenset({"h"}), since=10.0)
    ring = [(Range(0, 50), ("b", "h")), (Range(50, 100), ("c", "h")), (Range(100, 200), ("a",))]
    assert drop.missing("a", ring) == [("b", Range(0, 50)), ("c", Range(50, 100))]
    drop.ack("b", Range(0, 100))
    drop.ack("c", Range(50, 70))
    drop.ack("c", Range(500, 600))  # not overlapping: ignored
    assert drop.missing("a", ring) == [("c", Range(50, 100))]
    drop.ack("c", Range(70, 100))
    assert drop.missing("a", ring) == []


def test_a_gainer_that_left_the_ring_is_no_longer_waited_for_its_replacement_is() -> None:
    drop = PendingDrop(Range(0, 100), frozenset(), since=0.0)
    assert drop.missing("a", [(Range(0, 1000), ("dead",))]) == [("dead", Range(0, 100))]
    replaced = [(Range(0, 30), ("new",)), (Range(30, 1000), ("a",))]  # part of it ours again
    assert drop.missing("a", replaced) == [("new", Range(0, 30))]
    drop.ack("new", Range(0, 30))
    assert drop.missing("a", replaced) == []


def test_overlapping_cuts_a_sorted_map_to_a_range() -> None:
    ring = [(Range(0, 10), ("x",)), (Range(10, 20), ("y",)), (Range(20, 30), ("z",))]
    assert overlapping(ring, Range(5, 25)) == [
        (Range(5, 10), ("x",)),
        (Range(10, 20), ("y",)),
        (Range(20, 25), ("z",)),
    ]
    assert overlapping(ring, Range(10, 20)) == [(Range(10, 20), ("y",))]
    assert overlapping(ring, Range(30, 40)) == []


def test_descend_exchanges_small_ranges_and_cuts_big_ones() -> None:
    rs = [Range(0, 1000), Range(1000, 2000), Range(2000, 3000)]
    ours = [Digest(10, 1), Digest(5000, 2), Digest(3, 3)]
    theirs = [Digest(10, 1), Digest(5001, 9), Digest(4, 4)]
    exchange, deeper = descend(rs, ours, theirs, leaf=500, fanout=4)
    assert exchange == [Range(2000, 3000)]
    assert deeper == split(Range(1000, 2000), 4)


def test_reconcile_sends_each_side_what_is_newer() -> None:
    old, new = Version(1, 0, "a"), Version(2, 0, "a")
    ours = [Record("x", b"1", new), Record("y", b"1", old), Record("only-ours", b"", old)]
    theirs = [Record("x", b"0", old), Record("y", b"2", new), Record("only-theirs", None, new)]
    send, take = reconcile(ours, theirs)
    assert {r.key for r in send} == {"x", "only-ours"}
    assert {r.key for r in take} == {"y", "only-theirs"}
