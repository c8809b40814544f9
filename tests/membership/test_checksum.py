"""Membership checksums: the worked examples of §12.4 / §17.3 / §5.1, exact numbers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ringpop.membership import (
    ChecksumFlavour,
    ChecksumTracker,
    Member,
    OtherFlavour,
    Status,
    checksum_string,
    member_string,
    membership_checksum,
)
from tests.membership.helpers import change, member_list

EXAMPLE = [
    Member("127.0.0.1:3000", Status.ALIVE, 1414142122274),
    Member("127.0.0.1:30000", Status.SUSPECT, 1414142122275),
    Member("127.0.0.1:3001", Status.FAULTY, 1414142122276),
    Member("127.0.0.1:3002", Status.TOMBSTONE, 1414142122277),
]
GO_TEXT = (
    "127.0.0.1:30000suspect1414142122275;127.0.0.1:3000alive1414142122274;"
    "127.0.0.1:3001faulty1414142122276;"
)
NODE_TEXT = (
    "127.0.0.1:3000alive1414142122274;127.0.0.1:30000suspect1414142122275;"
    "127.0.0.1:3001faulty1414142122276"
)
LABELLED = [
    Member("127.0.0.1:3000", Status.ALIVE, 1414142122274, {"hello": "world"}),
    Member("127.0.0.1:30000", Status.SUSPECT, 1414142122275, {"hello": "world", "foo": "baz"}),
    *EXAMPLE[2:],
]
LABELLED_TEXT = (
    "127.0.0.1:30000suspect1414142122275#labels-1625122257;"
    "127.0.0.1:3000alive1414142122274#labels975109414;127.0.0.1:3001faulty1414142122276;"
)


def test_per_member_strings() -> None:
    assert member_string(EXAMPLE[0]) == "127.0.0.1:3000alive1414142122274"
    assert member_string(LABELLED[0]) == "127.0.0.1:3000alive1414142122274#labels975109414"
    assert member_string(LABELLED[1]) == "127.0.0.1:30000suspect1414142122275#labels-1625122257"
    assert member_string(LABELLED[0], "node") == "127.0.0.1:3000alive1414142122274"


def test_go_flavour_worked_example() -> None:
    assert checksum_string(EXAMPLE) == GO_TEXT
    assert membership_checksum(EXAMPLE) == 3184296888 == 0xBDCC83B8


def test_node_flavour_worked_example() -> None:
    assert checksum_string(EXAMPLE, "node") == NODE_TEXT
    assert membership_checksum(EXAMPLE, "node") == 3628798872 == 0xD84B1398


def test_go_flavour_with_labels() -> None:
    assert checksum_string(LABELLED) == LABELLED_TEXT
    assert membership_checksum(LABELLED) == 3155267807 == 0xBC1190DF


def test_node_flavour_ignores_labels() -> None:
    assert membership_checksum(LABELLED, "node") == 3628798872


def test_admin_stats_example() -> None:
    members = [
        Member("127.0.0.1:3000", Status.ALIVE, 1414142122274),
        Member("127.0.0.1:3001", Status.ALIVE, 1337, {"hello": "world"}),
        Member("127.0.0.1:3002", Status.ALIVE, 1337),
    ]
    assert membership_checksum(members) == 1031133001


def test_labels_that_checksum_to_zero_add_no_suffix() -> None:
    # Two pairs with equal hashes cannot exist in one dict, so only "no labels" is 0.
    assert member_string(Member("a:1", Status.ALIVE, 1, {})) == "a:1alive1"


@pytest.mark.parametrize("flavour", ["go", "node"])
def test_tracker_reproduces_the_examples(flavour: str) -> None:
    tracker = ChecksumTracker(flavour)  # type: ignore[arg-type]
    for member in reversed(LABELLED):
        tracker.update(member)
    assert tracker.value == membership_checksum(LABELLED, flavour)  # type: ignore[arg-type]
    expected = {"go": 3155267807, "node": 3628798872}[flavour]
    assert tracker.value == expected


def test_tracker_updates_replacements_and_discards() -> None:
    tracker = ChecksumTracker()
    for member in EXAMPLE:
        tracker.update(member)
    assert tracker.text() == GO_TEXT
    tracker.update(Member("127.0.0.1:3002", Status.ALIVE, 1414142122278))
    tracker.update(Member("127.0.0.1:3001", Status.TOMBSTONE, 1414142122276))
    tracker.discard("127.0.0.1:30000")
    tracker.discard("unknown:1")
    expected = [
        Member("127.0.0.1:3000", Status.ALIVE, 1414142122274),
        Member("127.0.0.1:3002", Status.ALIVE, 1414142122278),
    ]
    assert tracker.text() == checksum_string(expected)
    assert tracker.value == membership_checksum(expected)


def test_empty_checksums() -> None:
    assert ChecksumTracker().value == membership_checksum([]) == 3696677242
    assert ChecksumTracker("node").value == 3696677242


def test_unknown_flavour_is_refused() -> None:
    with pytest.raises(ValueError, match="'go' or 'node'"):
        ChecksumTracker("java")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'go' or 'node'"):
        membership_checksum(EXAMPLE, "java")  # type: ignore[arg-type]


def test_member_list_checksum_matches_the_example() -> None:
    members, _ = member_list(incarnation=1414142122274)
    members.apply(
        [
            change("127.0.0.1:30000", "suspect", 1414142122275),
            change("127.0.0.1:3001", "faulty", 1414142122276),
            change("127.0.0.1:3002", "alive", 1414142122277),
            change("127.0.0.1:3002", "faulty", 1414142122277, tombstone=True),
        ]
    )
    assert members.checksum_text() == GO_TEXT
    assert members.checksum == 3184296888

    node_members, _ = member_list(incarnation=1414142122274, checksum_flavour="node")
    node_members.apply(
        [
            change("127.0.0.1:3001", "faulty", 1414142122276),
            change("127.0.0.1:30000", "suspect", 1414142122275),
        ]
    )
    assert node_members.checksum == 3628798872
    assert node_members.checksum_flavour == "node"


def test_checksum_changes_with_each_batch_and_eviction() -> None:
    members, _ = member_list(incarnation=1414142122274)
    lone = members.checksum
    assert lone == membership_checksum([members.local])
    members.apply([change("127.0.0.1:3001", "alive", 5)])
    assert members.checksum != lone
    members.apply([change("127.0.0.1:3001", "tombstone", 5)])
    assert members.checksum == lone  # tombstones do not count
    members.evict("127.0.0.1:3001")
    assert members.checksum == lone


@pytest.mark.parametrize(("ours", "theirs"), [("go", "node"), ("node", "go")])
def test_other_flavour_recognises_the_same_members_counted_the_other_way(
    ours: ChecksumFlavour, theirs: ChecksumFlavour
) -> None:
    other = OtherFlavour(ours)
    assert other.flavour == theirs
    mine = membership_checksum(EXAMPLE, ours)
    same_other_way = membership_checksum(EXAMPLE, theirs)
    assert same_other_way != mine
    assert other.matches(same_other_way, mine, EXAMPLE)
    assert not other.matches(mine, mine, EXAMPLE)  # agreement is no mismatch
    # a membership out of step (one member fewer) is not a flavour question
    assert not other.matches(membership_checksum(EXAMPLE[1:], theirs), mine, EXAMPLE)


class _Counted:
    """Members that count how often they are iterated (each is one hashing)."""

    def __init__(self, members: list[Member]) -> None:
        self.members, self.iterations = members, 0

    def __iter__(self) -> Iterator[Member]:
        self.iterations += 1
        return iter(self.members)


def test_other_flavour_hashes_once_per_checksum_of_ours() -> None:
    other = OtherFlavour("go")
    listed = _Counted(EXAMPLE)
    mine, node = membership_checksum(EXAMPLE), membership_checksum(EXAMPLE, "node")
    for _ in range(3):
        assert other.matches(node, mine, listed)
        assert not other.matches(node + 1, mine, listed)
    assert listed.iterations == 1
    changed = _Counted([*EXAMPLE[:3], Member("127.0.0.1:3003", Status.ALIVE, 1)])
    assert other.matches(
        membership_checksum(changed.members, "node"), membership_checksum(changed.members), changed
    )
    assert changed.iterations == 1
