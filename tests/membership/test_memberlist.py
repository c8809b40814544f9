"""The member list: batches, refutation, local changes, declarations, full membership."""

from __future__ import annotations

import random
import time

import pytest

from ringpop.clock import ManualClock
from ringpop.membership import (
    Member,
    MemberList,
    Status,
    labels_checksum,
    membership_checksum,
    ring_updates,
)
from ringpop.messages import Change
from tests.membership.helpers import LOCAL, NOW_MS, B, C, D, address, change, member_list

# -- construction and reading --


def test_starts_with_the_local_member_alive() -> None:
    members, _ = member_list(labels={"__identity": "sut"})
    assert members.local == Member(LOCAL, Status.ALIVE, NOW_MS, {"__identity": "sut"})
    assert members.local_address == LOCAL
    assert len(members) == 1
    assert LOCAL in members
    assert members.pingable_count == 0
    assert members.checksum == membership_checksum([members.local])


def test_explicit_incarnation_and_bad_local_address() -> None:
    members, _ = member_list(incarnation=42)
    assert members.local.incarnation == 42
    with pytest.raises(ValueError, match="host:port"):
        MemberList("nope", clock=ManualClock(), rng=random.Random(0))


def test_lookups_and_listings() -> None:
    members, _ = member_list()
    members.apply([change(C, "alive", 1), change(B, "faulty", 1), change(D, "suspect", 1)])
    assert members.get(B) == Member(B, Status.FAULTY, 1)
    assert members.get("9.9.9.9:9") is None
    assert [m.address for m in members.sorted_members()] == [LOCAL, B, C, D]
    assert {m.address for m in members} == {LOCAL, B, C, D}
    assert {m.address for m in members.members()} == {LOCAL, B, C, D}
    assert {m.address for m in members.pingable_members()} == {C, D}
    assert members.pingable_count == 2
    assert members.is_pingable(members.get(C))  # type: ignore[arg-type]
    assert not members.is_pingable(members.local)


# -- applying batches --


def test_batch_is_evaluated_in_order() -> None:
    members, _ = member_list()
    applied = members.apply(
        [
            change(B, "alive", 1),
            change(B, "suspect", 1),
            change(B, "alive", 1),  # rejected: lower precedence at equal incarnation
            change(B, "alive", 2),
        ]
    )
    assert [(a.new.status.value, a.new.incarnation) for a in applied] == [
        ("alive", 1),
        ("suspect", 1),
        ("alive", 2),
    ]
    assert [a.old for a in applied] == [None, applied[0].new, applied[1].new]
    assert members.get(B) == Member(B, Status.ALIVE, 2)


def test_applied_change_is_the_received_one() -> None:
    members, _ = member_list()
    received = change(B, "suspect", 4, source=C, source_incarnation_number=9, id="x")
    [applied] = members.apply([received])
    assert applied.change is received


def test_applied_tombstone_is_in_internal_form() -> None:
    members, _ = member_list()
    members.apply([change(B, "alive", 4)])
    [applied] = members.apply([change(B, "faulty", 4, tombstone=True, source=C)])
    assert (applied.change.status, applied.change.tombstone) == ("tombstone", False)
    assert applied.change.source == C
    assert applied.new.status is Status.TOMBSTONE


def test_applying_the_same_batch_twice_changes_nothing() -> None:
    members, _ = member_list()
    batch = [change(B, "alive", 1), change(C, "suspect", 2), change(D, "leave", 3)]
    assert len(members.apply(batch)) == 3
    checksum = members.checksum
    assert members.apply(batch) == []
    assert members.checksum == checksum


def test_pingable_count_follows_statuses() -> None:
    members, _ = member_list()
    members.apply([change(B, "alive", 1), change(C, "alive", 1)])
    assert members.pingable_count == 2
    members.apply([change(B, "suspect", 1)])
    assert members.pingable_count == 2
    members.apply([change(B, "faulty", 1)])
    assert members.pingable_count == 1
    members.apply([change(B, "alive", 2)])
    assert members.pingable_count == 2
    members.apply([change(C, "leave", 1), change(B, "tombstone", 2)])
    assert members.pingable_count == 0


# -- bad input --


@pytest.mark.parametrize(
    "bad",
    [
        change(B, "zombie", 5),
        change(B, "Alive", 5),
        change(B, "", 5),
        change(B, "zombie", 5, tombstone=True),
        change("", "alive", 5),
        change("no-port", "alive", 5),
        change("a:b:1", "alive", 5),
        change("1.2.3.4:x", "alive", 5),
        change(B, "tombstone", 5),  # unknown member
        change(B, "faulty", 5, tombstone=True),  # unknown member
    ],
)
def test_bad_changes_are_dropped_without_any_effect(bad: Change) -> None:
    members, _ = member_list()
    before = (members.members(), members.checksum, members.pingable_count)
    assert members.apply([bad]) == []
    assert (members.members(), members.checksum, members.pingable_count) == before


def test_unknown_status_about_self_causes_nothing() -> None:
    members, _ = member_list()
    local = members.local
    assert members.apply([change(LOCAL, "zombie", NOW_MS + 10)]) == []
    assert members.local == local


def test_bad_changes_do_not_spoil_the_rest_of_the_batch() -> None:
    members, _ = member_list()
    applied = members.apply([change(B, "zombie", 1), change(C, "alive", 1), change("", "alive", 1)])
    assert [a.new.address for a in applied] == [C]


def test_known_member_with_an_odd_address_is_still_updated() -> None:
    members, _ = member_list()
    members.apply([change(B, "alive", 1)])
    assert members.apply([change(B, "suspect", 1)])


def test_huge_batch_is_linear_and_consistent() -> None:
    members, _ = member_list()
    rng = random.Random(5)
    statuses = ["alive", "suspect", "faulty", "leave", "tombstone", "zombie"]
    batch = [
        change(address(rng.randrange(3000)), rng.choice(statuses), rng.randrange(5))
        for _ in range(30_000)
    ]
    start = time.perf_counter()
    applied = members.apply(batch)
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0
    assert applied
    assert members.checksum == membership_checksum(members.members())
    assert members.pingable_count == sum(
        1 for m in members if m.status in (Status.ALIVE, Status.SUSPECT) and m.address != LOCAL
    )


# -- refutation (§6.3) --


@pytest.mark.parametrize("status", ["suspect", "faulty", "leave", "tombstone"])
def test_rumour_about_self_at_our_incarnation_is_refuted(status: str) -> None:
    members, clock = member_list()
    clock.advance(2.0)
    [applied] = members.apply([change(LOCAL, status, NOW_MS, source=B)])
    new_inc = NOW_MS + 2000
    assert applied.local
    assert applied.old == Member(LOCAL, Status.ALIVE, NOW_MS)
    assert applied.new == members.local == Member(LOCAL, Status.ALIVE, new_inc)
    assert applied.change == Change(
        source=LOCAL,
        source_incarnation_number=new_inc,
        address=LOCAL,
        status="alive",
        incarnation_number=new_inc,
    )


def test_refutation_when_the_clock_did_not_move() -> None:
    members, _ = member_list()
    [applied] = members.apply([change(LOCAL, "suspect", NOW_MS)])
    assert applied.new.incarnation == NOW_MS + 1


def test_refutation_beats_gossip_dated_in_the_future() -> None:
    members, _ = member_list()
    [applied] = members.apply([change(LOCAL, "faulty", NOW_MS + 60_000)])
    assert applied.new.incarnation == NOW_MS + 60_001
    assert applied.change.source_incarnation_number == NOW_MS + 60_001


def test_alive_at_a_higher_incarnation_is_refuted_too() -> None:
    members, _ = member_list()
    [applied] = members.apply([change(LOCAL, "alive", NOW_MS + 5)])
    assert applied.new.incarnation == NOW_MS + 6
    assert members.local.status is Status.ALIVE


def test_preferred_labels_about_self_are_refuted_keeping_ours() -> None:
    members, _ = member_list()
    rumour = {"hello": "world"}
    assert labels_checksum(rumour) > 0
    [applied] = members.apply([change(LOCAL, "alive", NOW_MS, labels=rumour)])
    assert applied.new.labels == {}
    assert applied.new.incarnation == NOW_MS + 1


@pytest.mark.parametrize(
    "ignored",
    [
        change(LOCAL, "alive", NOW_MS),  # same incarnation, equal labels
        change(LOCAL, "alive", NOW_MS - 1),
        change(LOCAL, "faulty", NOW_MS - 1),
        change(LOCAL, "alive", NOW_MS, labels={"hello": "world", "foo": "baz"}),  # negative
    ],
)
def test_rejected_gossip_about_self_causes_nothing(ignored: Change) -> None:
    members, clock = member_list()
    clock.advance(5)
    assert members.apply([ignored]) == []
    assert members.local.incarnation == NOW_MS


def test_refutation_keeps_a_left_status() -> None:
    members, clock = member_list()
    members.set_local_status(Status.LEAVE)
    clock.advance(1)
    assert members.apply([change(LOCAL, "faulty", members.local.incarnation)]) == []
    [applied] = members.apply([change(LOCAL, "suspect", members.local.incarnation + 1)])
    assert applied.new.status is Status.LEAVE
    assert applied.change.status == "leave"


def test_refutation_carries_local_labels() -> None:
    members, _ = member_list(labels={"__identity": "sut"})
    [applied] = members.apply([change(LOCAL, "suspect", NOW_MS)])
    assert applied.change.labels == {"__identity": "sut"}


# -- local changes --


def test_local_change_is_self_sourced() -> None:
    members, _ = member_list()
    assert members.local_change() == Change(
        source=LOCAL,
        source_incarnation_number=NOW_MS,
        address=LOCAL,
        status="alive",
        incarnation_number=NOW_MS,
    )


def test_set_local_status_reincarnates() -> None:
    members, clock = member_list()
    left = members.set_local_status(Status.LEAVE)
    assert left.new == Member(LOCAL, Status.LEAVE, NOW_MS + 1)
    assert left.change.status == "leave"
    assert left.local
    clock.advance(3)
    back = members.set_local_status(Status.ALIVE)
    assert back.new == Member(LOCAL, Status.ALIVE, NOW_MS + 3000)
    with pytest.raises(ValueError, match="cannot declare itself"):
        members.set_local_status(Status.TOMBSTONE)
    with pytest.raises(ValueError, match="cannot declare itself"):
        members.set_local_status(Status.SUSPECT)


def test_set_local_labels_and_reincarnate() -> None:
    members, _ = member_list()
    applied = members.set_local_labels({"a": "b"})
    assert applied.new.labels == {"a": "b"}
    assert applied.change.labels == {"a": "b"}
    assert applied.new.incarnation == NOW_MS + 1
    assert members.reincarnate().new.incarnation == NOW_MS + 2
    assert members.checksum == membership_checksum([members.local])


# -- declarations (§6.4) --


def test_declarations_are_sourced_from_self_and_keep_labels() -> None:
    members, _ = member_list()
    members.apply([change(B, "alive", 5, labels={"hello": "world"})])
    [suspect] = members.make_suspect(B, 5)
    assert suspect.change.source == LOCAL
    assert suspect.change.source_incarnation_number == NOW_MS
    assert suspect.new == Member(B, Status.SUSPECT, 5, {"hello": "world"})
    assert [a.new.status for a in members.make_faulty(B, 5)] == [Status.FAULTY]
    assert [a.new.status for a in members.make_tombstone(B, 5)] == [Status.TOMBSTONE]
    assert members.get(B) == Member(B, Status.TOMBSTONE, 5, {"hello": "world"})


def test_declaration_about_a_superseded_incarnation_is_dropped() -> None:
    members, _ = member_list()
    members.apply([change(B, "alive", 6)])
    assert members.make_suspect(B, 5) == []
    assert members.make_faulty(B, 5) == []
    assert members.get(B) == Member(B, Status.ALIVE, 6)


def test_make_alive_and_leave() -> None:
    members, _ = member_list()
    assert [a.new for a in members.make_alive(B, 1)] == [Member(B, Status.ALIVE, 1)]
    assert [a.new for a in members.make_leave(B, 1)] == [Member(B, Status.LEAVE, 1)]
    assert members.make_tombstone(C, 1) == []  # never created as a tombstone


def test_declaration_about_self_is_refuted() -> None:
    members, _ = member_list()
    [applied] = members.make_suspect(LOCAL, NOW_MS)
    assert applied.local
    assert members.local.status is Status.ALIVE


def test_reap_tombstones_every_faulty_member() -> None:
    members, _ = member_list()
    members.apply([change(B, "faulty", 3), change(C, "faulty", 4), change(D, "alive", 1)])
    applied = members.reap()
    assert sorted((a.new.address, a.new.status, a.new.incarnation) for a in applied) == [
        (B, Status.TOMBSTONE, 3),
        (C, Status.TOMBSTONE, 4),
    ]
    assert members.reap() == []


# -- membership as changes (§7.4) --


def test_as_changes_lists_every_member_in_wire_form() -> None:
    members, _ = member_list()
    members.apply(
        [
            change(B, "alive", 1, labels={"a": "b"}, source=C, id="x"),
            change(C, "alive", 2),
            change(C, "tombstone", 2),
        ]
    )
    changes = {c.address: c for c in members.as_changes()}
    assert set(changes) == {LOCAL, B, C}
    assert changes[C] == Change(
        source=LOCAL,
        source_incarnation_number=NOW_MS,
        address=C,
        status="faulty",
        tombstone=True,
        incarnation_number=2,
    )
    assert changes[B].labels == {"a": "b"}
    assert changes[B].id == ""
    assert changes[LOCAL].status == "alive"


def test_as_changes_with_explicit_source_and_cache_invalidation() -> None:
    members, _ = member_list()
    first = members.as_changes()
    assert members.as_changes() == first
    assert members.as_changes() is not first  # callers get their own list
    other = members.as_changes(source=B, source_incarnation=7)
    assert {(c.source, c.source_incarnation_number) for c in other} == {(B, 7)}
    members.apply([change(B, "alive", 1)])
    assert len(members.as_changes()) == 2


# -- eviction --


def test_evict() -> None:
    members, _ = member_list()
    members.apply([change(B, "alive", 1), change(C, "suspect", 1)])
    assert members.evict(B) == Member(B, Status.ALIVE, 1)
    assert B not in members
    assert members.pingable_count == 1
    assert members.evict(B) is None
    assert members.evict(LOCAL) is None
    assert LOCAL in members
    assert members.checksum == membership_checksum(members.members())
    # an evicted member can come back
    assert members.apply([change(B, "alive", 1)])


# -- helpers for ping-req and the ring ------------------------------------------------------


def test_random_pingable() -> None:
    members, _ = member_list()
    members.apply([change(address(i), "alive", 1) for i in range(10)])
    members.apply([change(address(0), "faulty", 1)])
    picked = members.random_pingable(3, exclude=[address(1)])
    assert len(picked) == 3
    assert len({m.address for m in picked}) == 3
    assert all(m.address not in (address(0), address(1), LOCAL) for m in picked)
    everyone = members.random_pingable(100)
    assert {m.address for m in everyone} == {address(i) for i in range(1, 10)}
    assert members.random_pingable(0) == []


def test_ring_updates_follow_reachability() -> None:
    members, _ = member_list()
    applied = members.apply(
        [change(B, "alive", 1), change(C, "faulty", 1), change(D, "suspect", 1)]
    )
    assert ring_updates(applied) == ([(B, None), (D, None)], [])
    applied = members.apply([change(B, "suspect", 1), change(D, "faulty", 1)])
    assert ring_updates(applied) == ([], [D])
    applied = members.apply([change(C, "alive", 2, labels={"__identity": "sut"})])
    assert ring_updates(applied) == ([(C, "sut")], [])
    applied = members.apply([change(C, "alive", 3, labels={"__identity": "other"})])
    assert ring_updates(applied) == ([(C, "other")], [C])
    applied = members.apply([change(C, "alive", 4, labels={"__identity": "other", "x": "y"})])
    assert ring_updates(applied) == ([], [])
    left = members.set_local_status(Status.LEAVE)
    assert ring_updates([left]) == ([], [LOCAL])


def test_ring_servers_include_the_local_member() -> None:
    members, _ = member_list(labels={"__identity": "sut"})
    members.apply([change(B, "alive", 1), change(C, "faulty", 1), change(D, "suspect", 1)])
    assert sorted(members.ring_servers()) == [(LOCAL, "sut"), (B, None), (D, None)]


def test_stats_members_are_sorted_with_real_statuses() -> None:
    members, _ = member_list()
    members.apply(
        [change(C, "alive", 1), change(C, "faulty", 1, tombstone=True), change(B, "alive", 2)]
    )
    members.apply([change(B, "alive", 2, labels={"hello": "world"})])
    stats = members.stats_members()
    assert [(s.address, s.status, s.incarnation_number) for s in stats] == [
        (LOCAL, "alive", NOW_MS),
        (B, "alive", 2),
        (C, "tombstone", 1),
    ]
    assert stats[1].labels == {"hello": "world"}


def test_ring_updates_use_first_old_and_last_new_of_a_batch() -> None:
    members, _ = member_list()
    members.apply([change(B, "alive", 1)])
    applied = members.apply([change(B, "faulty", 1), change(B, "alive", 2)])
    assert ring_updates(applied) == ([], [])


# -- performance --


def test_thousand_members_batches_are_fast() -> None:
    members, _ = member_list()
    members.apply([change(address(i), "alive", 1) for i in range(2000)])
    assert members.checksum
    rng = random.Random(1)
    start = time.perf_counter()
    for round_ in range(200):
        batch = [change(address(rng.randrange(2000)), "suspect", 1 + round_) for _ in range(5)]
        members.apply(batch)
        assert members.checksum
    per_batch = (time.perf_counter() - start) / 200
    assert per_batch < 0.005, f"{per_batch * 1e3:.2f} ms per batch of 5 changes"
