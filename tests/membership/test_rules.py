"""The update rule of §6.1: every cell of the matrix, the unknown row, label tie-breaks."""

from __future__ import annotations

import itertools

import pytest

from ringpop.membership import (
    Member,
    MemberList,
    Status,
    accepts,
    declaration,
    labels_checksum,
    refutation_incarnation,
)
from ringpop.messages import Change
from tests.membership.helpers import LOCAL, B, change, member_list

KNOWN_INC = 1_000
STATUSES = ["alive", "suspect", "faulty", "leave", "tombstone"]

# The matrix of §6.1, transcribed: rows = known status, columns = incoming status.
# "+1": accepted only when the incoming incarnation is higher; ">=0": also when equal.
MATRIX = {
    "alive": ["+1", ">=0", ">=0", ">=0", ">=0"],
    "suspect": ["+1", "+1", ">=0", ">=0", ">=0"],
    "faulty": ["+1", "+1", "+1", ">=0", ">=0"],
    "leave": ["+1", "+1", "+1", "+1", ">=0"],
    "tombstone": ["+1", "+1", "+1", "+1", "+1"],
}

CELLS = [
    (known, incoming, delta, MATRIX[known][STATUSES.index(incoming)])
    for known, incoming, delta in itertools.product(STATUSES, STATUSES, (-1, 0, 1))
]


def _expected(rule: str, delta: int) -> bool:
    return delta > 0 or (delta == 0 and rule == ">=0")


def _with_known(known: str) -> MemberList:
    members, _ = member_list()
    if known == "tombstone":  # never created directly in tombstone state
        assert members.apply([change(B, "alive", KNOWN_INC)])
    assert members.apply([change(B, known, KNOWN_INC)])
    member = members.get(B)
    assert member is not None
    assert member.status == known
    return members


def _wire(status: str, incarnation: int) -> list[Change]:
    """Both wire spellings of a status (tombstone: flag and literal)."""
    if status == "tombstone":
        return [
            change(B, "faulty", incarnation, tombstone=True),
            change(B, "tombstone", incarnation),
        ]
    return [change(B, status, incarnation)]


@pytest.mark.parametrize(("known", "incoming", "delta", "rule"), CELLS)
def test_matrix_cell_rule_function(known: str, incoming: str, delta: int, rule: str) -> None:
    member = Member(B, Status(known), KNOWN_INC)
    got = accepts(member, incoming, KNOWN_INC + delta, {})
    assert got is _expected(rule, delta)


@pytest.mark.parametrize(("known", "incoming", "delta", "rule"), CELLS)
def test_matrix_cell_member_list(known: str, incoming: str, delta: int, rule: str) -> None:
    for wire in _wire(incoming, KNOWN_INC + delta):
        members = _with_known(known)
        before = members.get(B)
        checksum = members.checksum
        applied = members.apply([wire])
        if _expected(rule, delta):
            assert len(applied) == 1
            assert applied[0].old == before
            assert members.get(B) == Member(B, Status(incoming), KNOWN_INC + delta)
            assert applied[0].new == members.get(B)
            assert applied[0].change.status == incoming
            assert not applied[0].local
        else:
            assert applied == []
            assert members.get(B) == before
            assert members.checksum == checksum


@pytest.mark.parametrize("incoming", STATUSES)
def test_unknown_member_row(incoming: str) -> None:
    for wire in _wire(incoming, 5):
        members, _ = member_list()
        applied = members.apply([wire])
        if incoming == "tombstone":
            assert applied == []
            assert B not in members
        else:
            assert [a.new for a in applied] == [Member(B, Status(incoming), 5)]
            assert applied[0].old is None


def test_rule_function_unknown_member() -> None:
    for status in STATUSES:
        assert accepts(None, status, 0, {}) is (status != "tombstone")


POSITIVE = {"hello": "world"}  # labels checksum 975109414
NEGATIVE = {"hello": "world", "foo": "baz"}  # -1625122257
GOODBYE = {"hello": "goodbye"}  # -1215192234


def test_label_vectors_used_below() -> None:
    assert labels_checksum(POSITIVE) == 975109414
    assert labels_checksum(NEGATIVE) == -1625122257
    assert labels_checksum(GOODBYE) == -1215192234


@pytest.mark.parametrize("status", ["alive", "suspect", "faulty", "leave", "tombstone"])
@pytest.mark.parametrize(
    ("known_labels", "incoming_labels", "go_accepts"),
    [
        ({}, POSITIVE, True),  # positive beats "no labels"
        ({}, NEGATIVE, False),  # negative never beats "no labels"
        (POSITIVE, {}, False),
        (NEGATIVE, {}, True),  # 0 > -1625122257
        (NEGATIVE, GOODBYE, True),  # -1215192234 > -1625122257
        (GOODBYE, NEGATIVE, False),
        (POSITIVE, POSITIVE, False),  # equal labels never win
        ({}, {}, False),
    ],
)
def test_label_tiebreak_on_the_diagonal(
    status: str, known_labels: dict[str, str], incoming_labels: dict[str, str], go_accepts: bool
) -> None:
    member = Member(B, Status(status), KNOWN_INC, known_labels)
    assert accepts(member, status, KNOWN_INC, incoming_labels) is go_accepts
    assert accepts(member, status, KNOWN_INC, incoming_labels, label_tiebreak=False) is False


def test_label_tiebreak_through_the_member_list() -> None:
    members, _ = member_list()
    members.apply([change(B, "alive", KNOWN_INC, labels=NEGATIVE)])
    applied = members.apply([change(B, "alive", KNOWN_INC, labels=GOODBYE)])
    assert [a.new.labels for a in applied] == [GOODBYE]
    assert members.apply([change(B, "alive", KNOWN_INC, labels=NEGATIVE)]) == []

    node_style, _ = member_list(label_tiebreak=False)
    node_style.apply([change(B, "alive", KNOWN_INC, labels=NEGATIVE)])
    assert node_style.apply([change(B, "alive", KNOWN_INC, labels=GOODBYE)]) == []


def test_labels_do_not_matter_off_the_diagonal() -> None:
    member = Member(B, Status.SUSPECT, KNOWN_INC, POSITIVE)
    assert accepts(member, "alive", KNOWN_INC, {"x": "y"}) is False
    assert accepts(member, "faulty", KNOWN_INC, NEGATIVE) is True


def test_accepted_change_replaces_labels_and_clears_them_when_absent() -> None:
    members, _ = member_list()
    members.apply([change(B, "alive", 1, labels=POSITIVE)])
    members.apply([change(B, "suspect", 1)])
    member = members.get(B)
    assert member is not None
    assert member.labels == {}


# -- refutation (§6.3) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "current", "refuted", "expected"),
    [
        (2_000, 1_000, 1_000, 2_000),  # plain now
        (1_000, 1_000, 1_000, 1_001),  # clock did not move: old + 1
        (2_000, 1_000, 9_000, 9_001),  # gossip dated in the future
        (500, 1_000, 999, 1_001),  # clock behind the old incarnation
    ],
)
def test_refutation_incarnation(now: int, current: int, refuted: int, expected: int) -> None:
    assert refutation_incarnation(now, current, refuted) == expected


def test_declaration_copies_labels_and_is_sourced_from_self() -> None:
    local = Member(LOCAL, Status.ALIVE, 77)
    subject = Member(B, Status.ALIVE, 5, POSITIVE)
    made = declaration(local, subject, B, Status.SUSPECT, 5)
    assert (made.source, made.source_incarnation_number) == (LOCAL, 77)
    assert (made.address, made.status, made.incarnation_number) == (B, "suspect", 5)
    assert made.labels == POSITIVE
    assert declaration(local, None, B, Status.ALIVE, 5).labels == {}
