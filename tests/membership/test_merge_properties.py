"""Property tests of the merge rules: convergence, idempotence, checksum invariants."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from ringpop.membership import (
    PRECEDENCE,
    ChecksumTracker,
    Member,
    MemberList,
    Status,
    accepts,
    labels_checksum,
    membership_checksum,
)
from ringpop.messages import Change
from tests.membership.helpers import LOCAL, NOW_MS, address, change, member_list

ADDRESSES = [address(i) for i in range(6)]
LABEL_SETS: list[dict[str, str]] = [
    {},
    {"hello": "world"},
    {"hello": "world", "foo": "baz"},
    {"hello": "goodbye"},
    {"__identity": "sut"},
]
assert len({labels_checksum(labels) for labels in LABEL_SETS}) == len(LABEL_SETS)

statuses = st.sampled_from([s.value for s in Status])
live_statuses = st.sampled_from(["alive", "suspect", "faulty", "leave"])


def changes_about(
    addresses: st.SearchStrategy[str], status: st.SearchStrategy[str]
) -> st.SearchStrategy[Change]:
    return st.builds(
        lambda a, s, i, labels, tomb: change(
            a,
            "faulty" if tomb and s == "tombstone" else s,
            i,
            labels=labels,
            tombstone=tomb and s == "tombstone",
        ),
        addresses,
        status,
        st.integers(0, 4),
        st.sampled_from(LABEL_SETS),
        st.booleans(),
    )


def state(members: MemberList) -> dict[str, Member]:
    return {m.address: m for m in members}


def fresh(seed: int = 0) -> MemberList:
    return member_list(seed=seed)[0]


@given(
    st.lists(changes_about(st.sampled_from(ADDRESSES), statuses), unique_by=lambda c: c.address),
    st.randoms(use_true_random=False),
)
def test_distinct_addresses_converge_in_any_order(
    changes: list[Change], rnd: random.Random
) -> None:
    one = fresh(1)
    one.apply(changes)
    shuffled = list(changes)
    rnd.shuffle(shuffled)
    other = fresh(2)
    for c in shuffled:  # one at a time instead of one batch
        other.apply([c])
    assert state(one) == state(other)
    assert one.checksum == other.checksum


@given(
    st.lists(changes_about(st.sampled_from(ADDRESSES[:3]), live_statuses), max_size=30),
    st.randoms(use_true_random=False),
)
def test_same_addresses_without_tombstones_converge(
    changes: list[Change], rnd: random.Random
) -> None:
    """With go's label tie-break the rule is a total order per address."""
    one = fresh(1)
    one.apply(changes)
    shuffled = list(changes)
    rnd.shuffle(shuffled)
    other = fresh(2)
    other.apply(shuffled)
    assert state(one) == state(other)
    assert one.checksum == other.checksum
    for address_ in {c.address for c in changes}:
        best = max(
            (c for c in changes if c.address == address_),
            key=lambda c: (c.incarnation_number, PRECEDENCE[c.status], labels_checksum(c.labels)),
        )
        assert one.get(address_) == Member(
            address_, Status(best.status), best.incarnation_number, best.labels
        )


@given(st.lists(changes_about(st.sampled_from([*ADDRESSES, LOCAL]), statuses), max_size=30))
def test_applying_a_change_twice_is_idempotent(changes: list[Change]) -> None:
    members = fresh()
    for c in changes:
        members.apply([c])
        before = (state(members), members.checksum)
        assert members.apply([c]) == []
        assert (state(members), members.checksum) == before


@given(st.lists(changes_about(st.sampled_from([*ADDRESSES, LOCAL]), live_statuses), max_size=30))
def test_applying_a_batch_twice_is_idempotent(changes: list[Change]) -> None:
    """Without tombstones (a tombstone about an unknown member depends on order)."""
    members = fresh()
    members.apply(changes)
    before = (state(members), members.checksum)
    assert members.apply(changes) == []
    assert (state(members), members.checksum) == before


@given(
    st.lists(
        st.builds(
            Member,
            st.sampled_from([*ADDRESSES, "127.0.0.1:30000", "127.0.0.1:3000"]),
            st.sampled_from(list(Status)),
            st.integers(0, 2**40),
            st.sampled_from(LABEL_SETS),
        ),
        unique_by=lambda m: m.address,
    ),
    st.randoms(use_true_random=False),
    st.sampled_from(["go", "node"]),
)
def test_checksum_is_order_independent_and_tracked_exactly(
    listed: list[Member], rnd: random.Random, flavour: str
) -> None:
    shuffled = list(listed)
    rnd.shuffle(shuffled)
    expected = membership_checksum(listed, flavour)  # type: ignore[arg-type]
    assert membership_checksum(shuffled, flavour) == expected  # type: ignore[arg-type]
    tracker = ChecksumTracker(flavour)  # type: ignore[arg-type]
    for member in shuffled:
        tracker.update(Member(member.address, Status.ALIVE, 0))  # an older state first
    for member in shuffled:
        tracker.update(member)
    assert tracker.value == expected


@settings(max_examples=60)
@given(
    st.lists(
        st.one_of(
            st.lists(
                changes_about(st.sampled_from([*ADDRESSES, LOCAL, "bad"]), statuses), max_size=6
            ).map(lambda batch: ("apply", batch)),
            st.tuples(st.just("evict"), st.sampled_from(ADDRESSES)),
            st.tuples(st.just("next"), st.just(None)),
            st.tuples(st.just("reap"), st.just(None)),
        ),
        max_size=25,
    )
)
def test_invariants_hold_after_any_operations(operations: list[tuple[str, object]]) -> None:
    members, clock = member_list()
    for kind, argument in operations:
        before = state(members)
        if kind == "apply":
            assert isinstance(argument, list)
            running = dict(before)
            for item in members.apply(argument):
                assert item.old == running.get(item.new.address)
                running[item.new.address] = item.new
                if item.local:  # a refutation: new incarnation, same status and labels
                    assert item.old is not None
                    assert item.new.incarnation > item.old.incarnation
                    assert (item.new.status, item.new.labels) == (item.old.status, item.old.labels)
                else:  # otherwise only what the rule allows
                    assert accepts(item.old, item.new.status, item.new.incarnation, item.new.labels)
            assert state(members) == running
        elif kind == "evict":
            assert isinstance(argument, str)
            members.evict(argument)
        elif kind == "next":
            target = members.next_ping_target()
            assert target is None or members.is_pingable(target)
        else:
            members.reap()
        clock.advance(0.001)
        everyone = members.members()
        assert members.local.address == LOCAL
        assert members.local.status is Status.ALIVE
        assert all(m.status in PRECEDENCE for m in everyone)
        assert "bad" not in members
        assert members.checksum == membership_checksum(everyone)
        assert members.pingable_count == len(members.pingable_members())
        assert sorted(members._order) == sorted(m.address for m in everyone)
        assert members.local.incarnation >= NOW_MS
