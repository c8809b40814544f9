"""Receiving rules (spec §1.1): liberal per field and per entry, bounds kept, strict
messages decoded exactly as before."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringpop.messages import (
    MAX_CHANGES,
    AdminLookupRequest,
    Change,
    DampReqRequest,
    DampReqResponse,
    JoinRequest,
    JoinResponse,
    MessageError,
    PingReqRequest,
    PingReqResponse,
    PingRequest,
    PingResponse,
    decode,
    encode,
)
from ringpop.receiving import FieldError, receive

A, B, C = "127.0.0.1:3000", "127.0.0.1:3001", "127.0.0.1:3002"
INC = 1414142122274
INT64 = 2**63 - 1


def body(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


def good(address: Any = B, **fields: Any) -> dict[str, Any]:
    return {"address": address, "status": "alive", "incarnationNumber": INC, **fields}


# -- the two observed cases ----------------------------------------------------


def test_join_response_listing_the_joiner_without_incarnation() -> None:
    membership = [good(A), good(B), good(C, status="suspect"), {"address": "127.0.0.1:9"}]
    members = [{"source": A, "status": "alive", **m} for m in membership]
    got = receive(
        body(app="ringpop", coordinator=A, membership=members, membershipChecksum=None),
        JoinResponse,
    )
    assert [c.address for c in got.message.membership] == [A, B, C]
    assert got.message.membership_checksum is None
    assert dict(got.dropped) == {"incarnationNumber": 1}
    assert "127.0.0.1:9" in got.sample


def test_ping_response_with_null_checksum() -> None:
    got = receive(body(changes=[good()], checksum=None, source=A), PingResponse)
    assert got.message.checksum is msgspec.UNSET
    assert got.message.changes == [Change(address=B, status="alive", incarnation_number=INC)]
    assert not got.dropped


# -- fields the receiver does not need take defaults ------------------------------------


@pytest.mark.parametrize("value", [None, -1, 1.5, "1", 2**64, [1]])
def test_response_checksum_and_source_take_defaults(value: Any) -> None:
    fields = {"checksum": value, "source": value, "sourceIncarnationNumber": value}
    message = receive(body(changes=[], **fields), PingResponse).message
    assert message.checksum is msgspec.UNSET
    assert message.source_incarnation_number is msgspec.UNSET
    assert message.source == value if isinstance(value, str) else message.source is msgspec.UNSET


@pytest.mark.parametrize("changes", [None, "absent"])
def test_response_changes_absent_or_null_are_none(changes: Any) -> None:
    fields = {} if changes == "absent" else {"changes": changes}
    assert receive(body(checksum=1, **fields), PingResponse).message.changes == []
    assert receive(body(pingStatus=True, **fields), PingReqResponse).message.changes == []


def test_request_checksum_and_incarnation_take_defaults() -> None:
    for value in (None, -1, "x"):
        raw = body(checksum=value, changes=[], source=A, sourceIncarnationNumber=value)
        message = receive(raw, PingRequest).message
        assert (message.checksum, message.source_incarnation_number) == (None, 0)
        raw = body(source=A, target=B, changes=[], checksum=value, sourceIncarnationNumber=value)
        message2 = receive(raw, PingReqRequest).message
        assert (message2.checksum, message2.source_incarnation_number) == (None, 0)


def test_join_request_needs_only_app_and_source() -> None:
    for extra in ({}, {"incarnationNumber": None}, {"incarnationNumber": -1, "labels": None}):
        message = receive(body(app="ringpop", source=A, **extra), JoinRequest).message
        assert (message.app, message.source, message.incarnation_number) == ("ringpop", A, 0)
        assert message.labels == {}
    labels = receive(body(app="a", source=A, labels={"k": 1}), JoinRequest).message.labels
    assert labels == {}


def test_join_response_coordinator_and_checksum_take_defaults() -> None:
    raw = body(app="ringpop", coordinator=None, membership=[], membershipChecksum=-5)
    message = receive(raw, JoinResponse).message
    assert (message.coordinator, message.membership_checksum) == ("", None)


def test_ping_req_response_target_takes_a_default() -> None:
    message = receive(body(changes=[], pingStatus=False, target=None), PingReqResponse).message
    assert (message.ping_status, message.target) == (False, "")


def test_change_fields_the_receiver_does_not_need() -> None:
    entry = good(id=None, source=5, sourceIncarnationNumber=-1, timestamp=1.5)
    entry.update(labels=None, tombstone=None)
    got = receive(body(changes=[entry]), PingResponse)
    assert got.message.changes == [Change(address=B, status="alive", incarnation_number=INC)]
    assert not got.dropped


# -- what the handler needs refuses the whole message ------------------------------------


@pytest.mark.parametrize(
    ("message_type", "fields", "field"),
    [
        (PingRequest, {"changes": []}, "source"),
        (PingRequest, {"changes": [], "source": None}, "source"),
        (PingRequest, {"source": A}, "changes"),
        (PingRequest, {"source": A, "changes": None}, "changes"),
        (PingRequest, {"source": A, "changes": [], "app": 5}, "app"),
        (PingReqRequest, {"source": A, "changes": []}, "target"),
        (PingReqResponse, {"changes": []}, "pingStatus"),
        (PingReqResponse, {"changes": [], "pingStatus": "yes"}, "pingStatus"),
        (JoinRequest, {"source": A}, "app"),
        (JoinRequest, {"app": "ringpop", "source": None}, "source"),
        (JoinResponse, {"app": "ringpop", "membership": None}, "membership"),
        (DampReqRequest, {"flappers": "a:1"}, "flappers"),
        (AdminLookupRequest, {"key": None}, "key"),
    ],
)
def test_needed_field_refuses_the_message(
    message_type: type[Any], fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(FieldError, match=f"at `\\$.{field}`") as error:
        receive(body(**fields), message_type)
    assert error.value.field == field
    assert isinstance(error.value, MessageError)


@pytest.mark.parametrize("source", [5, -1, 1.5e12, 2**64, True, {"x": 1}, [A]])
def test_request_source_that_is_no_string_is_unknown(source: Any) -> None:
    ping = receive(body(source=source, changes=[good()], checksum=1), PingRequest)
    assert ping.message.source == ""
    assert [c.address for c in ping.message.changes] == [B]
    ping_req = receive(body(source=source, target=C, changes=[], checksum=1), PingReqRequest)
    assert (ping_req.message.source, ping_req.message.target) == ("", C)


@pytest.mark.parametrize(
    ("target", "text"),
    [(5, "5"), (2**64, "18446744073709551616"), (True, "true"), ({"x": 1}, '{"x":1}'), ([], "[]")],
)
def test_ping_req_target_that_is_no_string_is_its_json_text(target: Any, text: str) -> None:
    raw = json.dumps({"source": A, "target": target, "changes": []}, separators=(",", ":"))
    assert receive(raw, PingReqRequest).message.target == text


@pytest.mark.parametrize(
    ("message_type", "field", "extra"),
    [
        (PingRequest, "changes", {"source": A}),
        (PingReqRequest, "changes", {"source": A, "target": C}),
        (PingResponse, "changes", {}),
        (PingReqResponse, "changes", {"pingStatus": True}),
        (JoinResponse, "membership", {"app": "ringpop", "coordinator": A}),
    ],
)
def test_changes_that_is_no_list(
    message_type: type[Any], field: str, extra: dict[str, Any]
) -> None:
    for value in (True, 5, "x", False, 0):
        got = receive(body(**extra, **{field: value}), message_type)
        assert getattr(got.message, field) == []
        assert dict(got.dropped) == {field: 1}
    # One object is a one-entry list (as ringpop-node takes it), by the per-entry rules.
    got = receive(body(**extra, **{field: good()}), message_type)
    assert [c.address for c in getattr(got.message, field)] == [B]
    assert not got.dropped
    got = receive(body(**extra, **{field: {"x": 1}}), message_type)
    assert (getattr(got.message, field), dict(got.dropped)) == ([], {"address": 1})
    # A list over its bound still refuses the whole message.
    over = "[" + ",".join(["{}"] * (MAX_CHANGES + 1)) + "]"
    raw = json.dumps({**extra, field: "@"}).replace('"@"', over)
    with pytest.raises(MessageError):
        receive(raw, message_type)


@pytest.mark.parametrize("app", [None, 5, True, {"x": 1}, ["ringpop"], "missing"])
def test_join_response_app_unusable_is_unknown(app: Any) -> None:
    fields: dict[str, Any] = {"coordinator": A, "membership": [good()]}
    if app != "missing":
        fields["app"] = app
    message = receive(body(**fields), JoinResponse).message
    assert message.app is msgspec.UNSET
    assert [c.address for c in message.membership] == [B]
    fields["app"] = "other"  # a present name stays: the joiner refuses another app's
    assert receive(body(**fields), JoinResponse).message.app == "other"


def test_ping_app_null_is_as_absent() -> None:
    message = receive(body(source=A, changes=[], app=None), PingRequest).message
    assert message.app is msgspec.UNSET


@pytest.mark.parametrize("raw", [b"", b"not json", b"[]", b'"ok"', b"null", b"\xff\xfe"])
def test_body_that_is_no_object_is_refused(raw: bytes) -> None:
    with pytest.raises(MessageError, match="bad PingResponse body") as error:
        receive(raw, PingResponse)
    assert not isinstance(error.value, FieldError)


# -- entries: exactly the usable ones, in order --------------------------------------------

_BAD_INCARNATIONS = [None, -1, 1.5, 1000.0, "1", True, 2**63, 2**64, [1]]

bad_entries: st.SearchStrategy[tuple[Any, str]] = st.one_of(
    st.sampled_from([None, 7, "127.0.0.1:1", [good()], True]).map(lambda e: (e, "entry")),
    st.sampled_from(_BAD_INCARNATIONS).map(
        lambda v: (good(incarnationNumber=v), "incarnationNumber")
    ),
    st.just(({"address": B, "status": "alive"}, "incarnationNumber")),
    st.sampled_from([None, 5, ["a:1"]]).map(lambda v: (good(address=v), "address")),
    st.just(({"status": "alive", "incarnationNumber": 1}, "address")),
    st.sampled_from([None, 0, "", "zombie", "ALIVE"]).map(lambda v: (good(status=v), "status")),
    st.sampled_from([{"k": 1}, ["k"], "k=v", {"k": None}]).map(
        lambda v: (good(labels=v), "labels")
    ),
    st.sampled_from(["yes", 1, [True]]).map(lambda v: (good(tombstone=v), "tombstone")),
)


@st.composite
def good_entries(draw: st.DrawFn) -> tuple[dict[str, Any], Change]:
    """A usable change as sent (maybe with junk in optional fields) and as received."""
    address = draw(st.sampled_from([A, B, C, "10.0.0.1:1", "x" * 300 + ":1"]))
    status = draw(st.sampled_from(["alive", "suspect", "faulty", "leave", "tombstone"]))
    incarnation = draw(st.integers(0, INT64))
    entry: dict[str, Any] = {"address": address, "status": status, "incarnationNumber": incarnation}
    expected: dict[str, Any] = {}
    source = draw(st.one_of(st.none(), st.integers(), st.sampled_from([A, ""])))
    entry["source"] = source
    if isinstance(source, str):
        expected["source"] = source
    source_incarnation = draw(st.one_of(st.none(), st.integers(-5, 5), st.floats(0.5, 2)))
    entry["sourceIncarnationNumber"] = source_incarnation
    if isinstance(source_incarnation, int) and source_incarnation >= 0:
        expected["source_incarnation_number"] = source_incarnation
    labels = draw(st.one_of(st.none(), st.dictionaries(st.text(max_size=4), st.text(max_size=4))))
    entry["labels"] = labels
    if labels:
        expected["labels"] = labels
    tombstone = draw(st.one_of(st.none(), st.booleans()))
    entry["tombstone"] = tombstone
    if tombstone:
        expected["tombstone"] = True
    timestamp = draw(st.one_of(st.none(), st.integers(-(2**63), INT64), st.just(1.5)))
    entry["timestamp"] = timestamp
    if isinstance(timestamp, int):
        expected["timestamp"] = timestamp
    return entry, Change(address=address, status=status, incarnation_number=incarnation, **expected)


@settings(max_examples=200)
@given(
    st.lists(
        st.one_of(good_entries().map(lambda g: (True, g)), bad_entries.map(lambda b: (False, b))),
        max_size=30,
    )
)
def test_mixed_lists_keep_exactly_the_good_entries_in_order(
    items: list[tuple[bool, Any]],
) -> None:
    sent = [item[1][0] for item in items]
    expected = [item[1][1] for item in items if item[0]]
    reasons = Counter(item[1][1] for item in items if not item[0])
    for message_type, fields in (
        (PingResponse, {"changes": sent}),
        (PingRequest, {"changes": sent, "source": A, "checksum": 1}),
        (JoinResponse, {"membership": sent, "app": "ringpop", "coordinator": A}),
    ):
        got = receive(body(**fields), message_type)
        entries = getattr(got.message, "membership" if message_type is JoinResponse else "changes")
        assert entries == expected
        assert Counter(got.dropped) == reasons


@settings(max_examples=50)
@given(st.lists(good_entries().map(lambda g: g[1]), max_size=10))
def test_well_formed_messages_are_received_as_decoded(changes: list[Change]) -> None:
    message = PingRequest(
        checksum=1, changes=changes, source=A, source_incarnation_number=1, app="ringpop"
    )
    raw = encode(message)
    got = receive(raw, PingRequest)
    assert got.message == decode(raw, PingRequest) == message
    assert not got.dropped


def test_strings_lists_drop_non_strings() -> None:
    got = receive(body(flappers=[A, 5, None, B, ["x"]]), DampReqRequest)
    assert got.message.flappers == [A, B]
    assert dict(got.dropped) == {"entry": 3}
    raw = body(scores=[{"member": A, "dampScore": 3}, {"member": B}, {"dampScore": 1}, 5])
    got2 = receive(raw, DampReqResponse)
    assert [s.member for s in got2.message.scores] == [A]
    assert dict(got2.dropped) == {"dampScore": 1, "member": 1, "entry": 1}


# -- bounds stay -----------------------------------------------------------------------------


@pytest.mark.parametrize("bad_first", [False, True])
def test_too_many_changes_refuse_the_message_on_both_paths(bad_first: bool) -> None:
    entry = '{"address":"a:1","status":"alive","incarnationNumber":1}'
    bad = '{"address":"a:1","status":"alive","incarnationNumber":-1}'
    entries = [entry] * (MAX_CHANGES + 1)
    if bad_first:
        entries[0] = bad
    raw = '{"changes":[' + ",".join(entries) + "]}"
    with pytest.raises(MessageError, match=f"length <= {MAX_CHANGES}"):
        receive(raw, PingResponse)


def test_many_bad_entries_are_counted_once_each() -> None:
    bad = '{"address":"a:1","status":"alive","incarnationNumber":-1}'
    raw = '{"changes":[' + ",".join([bad] * MAX_CHANGES) + "]}"
    got = receive(raw, PingResponse)
    assert got.message.changes == []
    assert dict(got.dropped) == {"incarnationNumber": MAX_CHANGES}


def test_huge_strings_in_a_dropped_entry_are_not_kept() -> None:
    huge = "x" * 5_000_000
    got = receive(body(changes=[{"address": huge, "status": huge}]), PingResponse)
    assert got.message.changes == []
    assert len(got.sample) <= 130
    assert got.sample.endswith("...")
