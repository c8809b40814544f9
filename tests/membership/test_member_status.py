"""Statuses, members and the tombstone wire encoding (§2.2, §2.3)."""

from __future__ import annotations

import pytest

from ringpop.membership import (
    PRECEDENCE,
    Member,
    Status,
    change_from_wire,
    change_to_wire,
    is_pingable_status,
    is_reachable,
    is_valid_address,
    member_change,
    parse_status,
    precedence,
)
from tests.membership.helpers import B, change


def test_precedence_order() -> None:
    assert [precedence(s) for s in ("alive", "suspect", "faulty", "leave", "tombstone")] == [
        0,
        1,
        2,
        3,
        4,
    ]
    assert precedence("zombie") == -1
    assert PRECEDENCE["alive"] == PRECEDENCE[Status.ALIVE]


def test_pingable_and_reachable() -> None:
    assert {s for s in Status if is_pingable_status(s)} == {Status.ALIVE, Status.SUSPECT}
    assert {s for s in Status if is_reachable(s)} == {Status.ALIVE, Status.SUSPECT}
    assert not is_pingable_status("zombie")


@pytest.mark.parametrize("name", ["zombie", "Alive", "ALIVE", "", " alive"])
def test_unknown_statuses(name: str) -> None:
    assert parse_status(name) is None


def test_status_strings() -> None:
    assert parse_status("leave") is Status.LEAVE
    assert Status("alive") is Status.ALIVE
    assert hash(Status.ALIVE) == hash("alive")


def test_incoming_tombstone_flag_becomes_the_status() -> None:
    wire = change(B, "faulty", 3, tombstone=True, source="a:1", source_incarnation_number=9)
    internal = change_from_wire(wire)
    assert internal is not None
    assert (internal.status, internal.tombstone) == ("tombstone", False)
    assert (internal.source, internal.source_incarnation_number) == ("a:1", 9)


def test_literal_tombstone_and_plain_changes_pass_unchanged() -> None:
    literal = change(B, "tombstone", 3)
    assert change_from_wire(literal) is literal
    plain = change(B, "alive", 3)
    assert change_from_wire(plain) is plain


def test_tombstone_flag_on_other_statuses_is_ignored() -> None:
    internal = change_from_wire(change(B, "alive", 3, tombstone=True))
    assert internal is not None
    assert (internal.status, internal.tombstone) == ("alive", False)


@pytest.mark.parametrize("status", ["zombie", "", "TOMBSTONE"])
def test_unknown_status_is_dropped(status: str) -> None:
    assert change_from_wire(change(B, status, 3)) is None
    assert change_from_wire(change(B, status, 3, tombstone=True)) is None


def test_outgoing_tombstone_is_flag_encoded() -> None:
    wire = change_to_wire(change(B, "tombstone", 3, labels={"a": "b"}))
    assert (wire.status, wire.tombstone, wire.labels) == ("faulty", True, {"a": "b"})
    alive = change(B, "alive", 3)
    assert change_to_wire(alive) is alive


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("127.0.0.1:3000", True),
        ("localhost:1", True),
        ("10.0.0.1:65535", True),
        ("", False),
        ("127.0.0.1", False),
        (":3000", False),
        ("127.0.0.1:", False),
        ("127.0.0.1:30a0", False),
        ("a:b:3000", False),
        ("host name:3000", False),
        ("127.0.0.1:3000\n", False),
        ("127.0.0.1:123456", False),
    ],
)
def test_address_validation(text: str, valid: bool) -> None:
    assert is_valid_address(text) is valid


def test_member_identity_and_reachability() -> None:
    assert Member(B, Status.ALIVE, 1).identity == B
    assert Member(B, Status.ALIVE, 1, {"__identity": "sut"}).identity == "sut"
    assert Member(B, Status.SUSPECT, 1).is_reachable
    assert not Member(B, Status.FAULTY, 1).is_reachable


def test_member_change() -> None:
    made = member_change(
        Member(B, Status.LEAVE, 7, {"a": "b"}), source="a:1", source_incarnation=2, timestamp=3
    )
    assert made == change(
        B, "leave", 7, labels={"a": "b"}, source="a:1", source_incarnation_number=2, timestamp=3
    )


def test_members_are_immutable() -> None:
    member = Member(B, Status.ALIVE, 1)
    with pytest.raises(AttributeError):
        member.status = Status.FAULTY  # type: ignore[misc]
