"""Ownership ranges: the incremental diff against brute-force recomputation."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from ringpop.hashing import fingerprint32
from ringpop.ring import HashRing, RingChange
from ringpop.ring.ownership import (
    HASH_SPACE,
    OwnershipTracker,
    Range,
    diff_by_recomputation,
    diff_rings,
    owned_ranges,
    preference_ranges,
    range_of,
)

REPLICAS = 4  # few points per server: ties, wrap-around and short rings are reachable

addresses = st.builds(lambda port: f"10.0.0.1:{port}", st.integers(1, 30))
server_sets = st.sets(addresses, max_size=10)
identities = st.one_of(st.none(), st.sampled_from(["a", "b", "c"]))


def build(servers: set[str] | dict[str, str | None], replicas: int = REPLICAS) -> HashRing:
    ring = HashRing(replica_points=replicas)
    items = servers.items() if isinstance(servers, dict) else ((s, None) for s in servers)
    ring.add_remove_servers(sorted(items, key=lambda i: i[0]), [])
    return ring


def covers_once(ranges: list[Range]) -> bool:
    ordered = sorted(ranges)
    return (
        bool(ordered)
        and ordered[0].start == 0
        and ordered[-1].end == HASH_SPACE
        and all(a.end == b.start for a, b in itertools.pairwise(ordered))
    )


@settings(max_examples=300, deadline=None)
@given(server_sets, server_sets, st.integers(1, 5))
def test_diff_equals_brute_force(before: set[str], after: set[str], n: int) -> None:
    old, new = build(before), build(after)
    assert diff_rings(old, new, n) == diff_by_recomputation(old, new, n)


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(addresses, identities, max_size=8),
    st.dictionaries(addresses, identities, max_size=8),
    st.integers(1, 4),
)
def test_diff_with_identities_equals_brute_force(
    before: dict[str, str | None], after: dict[str, str | None], n: int
) -> None:
    # identities may collide across servers: hash ties between different servers
    old, new = build(before), build(after)
    assert diff_rings(old, new, n) == diff_by_recomputation(old, new, n)


@settings(max_examples=150, deadline=None)
@given(server_sets, st.lists(st.tuples(server_sets, server_sets), max_size=4), st.integers(1, 4))
def test_tracker_follows_batches(
    start: set[str], batches: list[tuple[set[str], set[str]]], n: int
) -> None:
    ring = build(start)
    tracker = OwnershipTracker(ring)
    changes: list[RingChange] = []
    ring.add_listener(changes.append)
    for add, remove in batches:
        old = build(set(ring.servers()))
        changes.clear()
        ring.add_remove_servers(sorted(add), sorted(remove))
        if changes:
            assert tracker.apply(changes[0], n) == diff_by_recomputation(old, ring, n)


@settings(max_examples=150, deadline=None)
@given(server_sets, st.integers(1, 5))
def test_every_rank_covers_the_ring_once(servers: set[str], n: int) -> None:
    ring = build(servers)
    for rank in range(min(n, len(servers))):
        ranges = [r for s in servers for r in owned_ranges(ring, s, n, rank=rank)]
        assert covers_once(ranges)
    assert covers_once([r for r, _ in preference_ranges(ring, n)]) or not servers


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(addresses, identities, max_size=8), st.integers(1, 5))
def test_owned_ranges_equal_the_full_map_filtered(servers: dict[str, str | None], n: int) -> None:
    ring = build(servers)
    table = preference_ranges(ring, n)
    for node in servers:
        for rank in (None, *range(n)):
            expected = [
                r
                for r, owners in table
                if (node in owners if rank is None else owners[rank:][:1] == (node,))
            ]
            merged: list[Range] = []
            for r in expected:
                if merged and merged[-1].end == r.start:
                    merged[-1] = Range(merged[-1].start, r.end)
                else:
                    merged.append(r)
            assert owned_ranges(ring, node, n, rank=rank) == merged


@settings(max_examples=100, deadline=None)
@given(server_sets, st.lists(st.text(max_size=8), max_size=20), st.integers(1, 4))
def test_full_map_agrees_with_lookup_n(servers: set[str], keys: list[str], n: int) -> None:
    ring = build(servers)
    table = preference_ranges(ring, n)
    for key in keys:
        h = fingerprint32(key)
        found = [owners for r, owners in table if h in r]
        assert found == ([tuple(ring.lookup_n(key, n))] if servers else [])
        r = range_of(ring, key)
        assert (r is None) == (not servers)
        if r is not None:
            assert h in r


@settings(max_examples=100, deadline=None)
@given(server_sets, server_sets, st.integers(1, 3))
def test_gained_and_lost_partition_the_changes(before: set[str], after: set[str], n: int) -> None:
    diff = diff_rings(build(before), build(after), n)
    for change in diff.changes:
        assert change.old != change.new
        assert change.range.start < change.range.end
    for node in before | after:
        for c in diff.gained(node):
            assert node in c.new
            assert node not in c.old
        for c in diff.lost(node, primary=True):
            assert c.old_owner == node != c.new_owner


def test_joining_server_gains_what_others_lose() -> None:
    servers = {f"127.0.0.1:{3000 + i}" for i in range(5)}
    old = build(servers, 100)
    new = build(servers | {"127.0.0.1:3005"}, 100)
    diff = diff_rings(old, new, 1)
    gained = diff.gained("127.0.0.1:3005", primary=True)
    assert gained == list(diff.changes)
    share = sum(c.range.size for c in gained) / HASH_SPACE
    assert 0.05 < share < 0.35  # about one sixth of the ring
    assert all(c.old_owner in servers for c in gained)
    # the incremental diff looked at the changed points only, and equals the full one
    assert diff == diff_by_recomputation(old, new, 1)


def test_ranges_never_wrap() -> None:
    ring = build({"10.0.0.1:1", "10.0.0.1:2"}, 3)
    table = preference_ranges(ring, 1)
    assert table[0][0].start == 0
    assert table[-1][0].end == HASH_SPACE
    # the segment across 2**32 is split in two pieces with the same owner
    assert table[0][1] == table[-1][1]


def test_a_rank_outside_the_list_or_an_n_that_is_not_a_count_is_refused() -> None:
    """``rank=-1`` indexed from the end (every range of the last replica) and
    ``rank=5`` of ``n=3`` found nothing; ``n=True`` and ``lookup_n(key, True)`` counted 1."""
    import pytest

    ring = HashRing()
    for port in (1, 2, 3):
        ring.add_server(f"127.0.0.1:{port}")
    for bad in (-1, 3, 5, True, 1.0):
        with pytest.raises(ValueError, match=r"rank must be within 0\.\.2"):
            owned_ranges(ring, "127.0.0.1:1", 3, rank=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n must be a whole number"):
        owned_ranges(ring, "127.0.0.1:1", True)
    with pytest.raises(ValueError, match="a whole number n >= 1"):
        ring.lookup_n("k", True)
    assert owned_ranges(ring, "127.0.0.1:1", 3, rank=2)
