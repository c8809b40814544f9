"""Dissemination (§7): maxP, piggyback counters, the sender filter, full sync."""

from __future__ import annotations

import time

import pytest

from ringpop.membership import Disseminator, MemberList, max_piggyback
from tests.membership.helpers import LOCAL, NOW_MS, B, C, D, address, change, member_list


@pytest.mark.parametrize(
    ("members", "max_p"),
    [
        (0, 0),  # x + 1 = 1: a lone node
        (1, 15),
        (9, 15),  # x + 1 = 10
        (10, 30),
        (99, 30),  # x + 1 = 100
        (100, 45),
        (999, 45),  # x + 1 = 1000: ln(1000)/ln(10) = 2.9999999999999996
        (1000, 60),
    ],
)
def test_max_p_table(members: int, max_p: int) -> None:
    assert max_piggyback(members) == max_p


def test_max_p_other_factor_and_bad_count() -> None:
    assert max_piggyback(5, factor=2) == 2
    with pytest.raises(ValueError, match=">= 0"):
        max_piggyback(-1)


def _setup(pingable: int = 3) -> tuple[MemberList, Disseminator]:
    members, _ = member_list()
    disseminator = Disseminator(members)
    disseminator.record_applied(
        members.apply([change(address(i), "alive", 1) for i in range(pingable)])
    )
    disseminator.clear()
    return members, disseminator


def test_initial_max_p_and_recompute_per_batch() -> None:
    members, _ = member_list()
    disseminator = Disseminator(members)
    assert disseminator.max_p == 15  # go's value before the first batch
    disseminator.record_applied([])
    assert disseminator.max_p == 15  # nothing applied, nothing recomputed
    disseminator.record_applied(members.apply([change(address(i), "alive", 1) for i in range(10)]))
    assert disseminator.max_p == 30
    assert len(disseminator) == 10
    disseminator.record_applied(members.apply([change(address(0), "faulty", 1)]))
    assert disseminator.max_p == 15  # 9 pingable
    assert disseminator.adjust_max_p(100) == 45  # node basis: ring servers incl. self
    with pytest.raises(ValueError, match="factor"):
        Disseminator(members, piggyback_factor=0)


def test_record_replaces_and_resets_the_count() -> None:
    _, disseminator = _setup()
    disseminator.record(change(B, "alive", 1))
    disseminator.commit(disseminator.issue_as_sender())
    assert disseminator.pending()[B][1] == 1
    disseminator.record(change(B, "suspect", 1))
    assert disseminator.pending()[B] == (change(B, "suspect", 1), 0)


def test_sender_counts_only_after_a_successful_call() -> None:
    _, disseminator = _setup()
    disseminator.record(change(B, "alive", 1))
    sent = disseminator.issue_as_sender()
    assert sent == [change(B, "alive", 1)]
    assert disseminator.pending()[B][1] == 0  # the call failed: no commit
    disseminator.commit(sent)
    assert disseminator.pending()[B][1] == 1


def test_commit_skips_changes_replaced_meanwhile() -> None:
    _, disseminator = _setup()
    disseminator.record(change(B, "alive", 1))
    disseminator.record(change(C, "alive", 1))
    sent = disseminator.issue_as_sender()
    disseminator.record(change(B, "suspect", 1))  # arrives while the ping is in flight
    disseminator.commit(sent)
    assert disseminator.pending()[B][1] == 0
    assert disseminator.pending()[C][1] == 1


def test_a_change_is_sent_exactly_max_p_times() -> None:
    _, disseminator = _setup(pingable=3)
    assert disseminator.max_p == 15
    disseminator.record(change(B, "suspect", 1))
    sends = 0
    while disseminator.issue_as_sender():
        sends += 1
        disseminator.commit(disseminator.issue_as_sender())
    assert sends == 15
    assert B not in disseminator


def test_lone_node_sends_its_change_once() -> None:
    members, _ = member_list()
    disseminator = Disseminator(members)
    disseminator.record(members.local_change())
    disseminator.adjust_max_p()
    assert disseminator.max_p == 0
    sent = disseminator.issue_as_sender()
    assert len(sent) == 1
    disseminator.commit(sent)
    assert len(disseminator) == 0


def test_tombstones_are_issued_flag_encoded() -> None:
    members, disseminator = _setup()
    members.apply([change(B, "alive", 1)])
    disseminator.record_applied(members.apply([change(B, "tombstone", 1, source=C)]))
    [sent] = disseminator.issue_as_sender()
    assert (sent.status, sent.tombstone, sent.source) == ("faulty", True, C)


def test_receiver_filters_the_requesters_own_changes() -> None:
    members, disseminator = _setup()
    disseminator.record(change(B, "alive", 1, source=C, source_incarnation_number=7))
    disseminator.record(change(D, "alive", 1, source=C, source_incarnation_number=6))
    disseminator.record(change(LOCAL, "alive", NOW_MS, source=LOCAL, source_incarnation_number=7))
    changes, full_sync = disseminator.issue_as_receiver(C, 7, members.checksum)
    assert {c.address for c in changes} == {D, LOCAL}
    assert full_sync is False
    pending = disseminator.pending()
    assert pending[B][1] == 0  # filtered changes are not counted
    assert pending[D][1] == 1  # the rest are counted at once (no ack)
    assert pending[LOCAL][1] == 1


def test_receiver_deletes_at_max_p() -> None:
    members, disseminator = _setup(pingable=1)
    disseminator.record(change(B, "alive", 1))
    for _ in range(disseminator.max_p):
        changes, _ = disseminator.issue_as_receiver(C, 1, members.checksum)
        assert changes
    assert B not in disseminator


def test_full_sync_when_nothing_to_send_and_checksums_differ() -> None:
    members, disseminator = _setup(pingable=2)
    changes, full_sync = disseminator.issue_as_receiver(C, 1, members.checksum)
    assert (changes, full_sync) == ([], False)
    changes, full_sync = disseminator.issue_as_receiver(C, 1, members.checksum ^ 1)
    assert full_sync is True
    assert changes == members.as_changes()
    assert {c.address for c in changes} == {LOCAL, address(0), address(1)}
    assert len(disseminator) == 0  # a full sync is not counted against anything


def test_no_full_sync_while_changes_remain() -> None:
    members, disseminator = _setup()
    disseminator.record(change(B, "alive", 1))
    changes, full_sync = disseminator.issue_as_receiver(C, 1, members.checksum ^ 1)
    assert (len(changes), full_sync) == (1, False)


def test_full_sync_when_everything_was_filtered() -> None:
    members, disseminator = _setup()
    disseminator.record(change(B, "alive", 1, source=C, source_incarnation_number=3))
    changes, full_sync = disseminator.issue_as_receiver(C, 3, members.checksum ^ 1)
    assert full_sync is True
    assert len(changes) == len(members)


def test_clear_non_local_keeps_only_the_local_change() -> None:
    members, _ = member_list()
    disseminator = Disseminator(members)
    disseminator.record(members.local_change())
    disseminator.record_applied(members.apply([change(B, "alive", 1), change(C, "faulty", 1)]))
    disseminator.clear_non_local()
    assert list(disseminator.pending()) == [LOCAL]
    assert disseminator.issue_as_sender() == [members.local_change()]


def test_refutation_reaches_the_next_ping_response() -> None:
    """What the suite checks: source == self, sourceIncarnationNumber == incarnationNumber."""
    members, clock = member_list()
    disseminator = Disseminator(members)
    clock.advance(1)
    disseminator.record_applied(members.apply([change(LOCAL, "suspect", NOW_MS, source=B)]))
    changes, _ = disseminator.issue_as_receiver(B, 99, members.checksum)
    [refutation] = [c for c in changes if c.address == LOCAL]
    assert refutation.source == LOCAL
    assert refutation.source_incarnation_number == refutation.incarnation_number == NOW_MS + 1000
    assert refutation.status == "alive"


def test_thousand_pending_changes() -> None:
    members, _ = member_list()
    disseminator = Disseminator(members)
    disseminator.record_applied(
        members.apply([change(address(i), "alive", 1) for i in range(1500)])
    )
    assert disseminator.max_p == 60
    start = time.perf_counter()
    for _ in range(59):
        disseminator.commit(disseminator.issue_as_sender())
    assert {count for _, count in disseminator.pending().values()} == {59}
    disseminator.commit(disseminator.issue_as_sender())
    assert len(disseminator) == 0
    assert time.perf_counter() - start < 1.0
