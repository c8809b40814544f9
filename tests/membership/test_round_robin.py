"""Shuffled round-robin choice of ping targets (§8.2)."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from ringpop.membership import Member, MemberList
from tests.membership.helpers import LOCAL, address, change, member_list


def _cluster(n: int, seed: int = 0) -> MemberList:
    members, _ = member_list(seed=seed)
    members.apply([change(address(i), "alive", 1) for i in range(n)])
    members.restart_round()
    return members


def _next(members: MemberList) -> Member:
    target = members.next_ping_target()
    assert target is not None
    return target


@pytest.mark.parametrize("seed", range(5))
def test_every_round_is_a_permutation_and_rounds_differ(seed: int) -> None:
    n = 10
    members = _cluster(n, seed)
    rounds = [[_next(members).address for _ in range(n)] for _ in range(30)]
    everyone = {address(i) for i in range(n)}
    for one_round in rounds:
        assert sorted(one_round) == sorted(everyone)
    for previous, current in itertools.pairwise(rounds):
        assert previous != current


def test_equal_counts_from_the_very_first_ping() -> None:
    n = 7
    members = _cluster(n, seed=3)
    seen = Counter({address(i): 0 for i in range(n)})
    for _ in range(n * 40 + 3):
        seen[_next(members).address] += 1
        assert max(seen.values()) - min(seen.values()) <= 1


def test_never_the_local_member_nor_unpingable_ones() -> None:
    members = _cluster(6, seed=1)
    members.apply(
        [
            change(address(0), "faulty", 1),
            change(address(1), "leave", 1),
            change(address(2), "suspect", 1),
        ]
    )
    picked = Counter(_next(members).address for _ in range(300))
    assert set(picked) == {address(2), address(3), address(4), address(5)}
    assert LOCAL not in picked
    assert set(picked.values()) == {75}


def test_no_pingable_member_returns_none() -> None:
    members, _ = member_list()
    assert members.next_ping_target() is None
    members.apply([change(address(i), "faulty", 1) for i in range(5)])
    assert members.next_ping_target() is None
    members.apply([change(address(3), "alive", 2)])
    assert _next(members).address == address(3)


def test_the_only_pingable_member_is_found_across_a_reshuffle() -> None:
    for seed in range(20):
        members = _cluster(8, seed)
        first = _next(members)
        for i in range(8):
            if address(i) != first.address:
                members.apply([change(address(i), "faulty", 1)])
        for _ in range(20):
            assert _next(members).address == first.address


def test_fair_with_members_joining_and_leaving() -> None:
    members = _cluster(10, seed=7)
    counts: Counter[str] = Counter()
    for step in range(2000):
        if step == 500:
            members.apply([change(address(i), "alive", 1) for i in range(10, 15)])
        if step == 1000:
            members.apply([change(address(0), "tombstone", 1)])
            members.evict(address(0))
        if step >= 1000:
            counts[_next(members).address] += 1
        else:
            _next(members)
    assert address(0) not in counts
    per_member = [counts[address(i)] for i in range(1, 15)]
    assert max(per_member) - min(per_member) <= 2


def test_restart_round_starts_fresh() -> None:
    members = _cluster(5, seed=2)
    _next(members)
    _next(members)
    members.restart_round()
    one_round = {_next(members).address for _ in range(5)}
    assert one_round == {address(i) for i in range(5)}


@pytest.mark.parametrize("seed", range(3))
def test_a_large_batch_keeps_the_old_order_and_the_cursor(seed: int) -> None:
    members = _cluster(10, seed)
    for _ in range(4):
        _next(members)
    current = _next(members)
    before = list(members._order)
    members.apply([change(address(100 + i), "alive", 1) for i in range(200)])  # one pass
    after = members._order
    assert sorted(after) == sorted([*before, *(address(100 + i) for i in range(200))])
    assert [a for a in after if a in set(before)] == before  # old relative order kept
    assert after[members._cursor] == current.address  # the round goes on where it was
    rest = [a for a in after[members._cursor + 1 :] if a != LOCAL]
    assert [_next(members).address for _ in rest] == rest  # the round goes on, new ones in it


def test_a_large_batch_places_new_members_uniformly() -> None:
    # Two old members and 17 new ones (over the one-by-one threshold): each new member
    # lands in each of the 19 slots equally often, and an old member's slot is
    # distributed as for 17 random inserts (two old ones stay in their order).
    trials = 1900
    slots: Counter[int] = Counter()
    first_old: Counter[int] = Counter()
    for seed in range(trials):
        members, _ = member_list(seed=seed)
        members.apply([change(address(0), "alive", 1)])  # local + one: two old
        members.apply([change(address(100 + i), "alive", 1) for i in range(17)])
        order = members._order
        slots[order.index(address(100))] += 1
        first_old[min(order.index(LOCAL), order.index(address(0)))] += 1
    assert set(slots) == set(range(19))
    assert all(60 <= c <= 140 for c in slots.values()), slots  # 100 expected each
    # P(first old member at slot j) = 2 (18 - j) / (19 * 18): 211 at 0, 0 at 18.
    assert 150 <= first_old[0] <= 270, first_old
    assert first_old[18] == 0
