"""Wire messages: exact field lists, tolerant decoding, strict types, and the schemas."""

from __future__ import annotations

import json
import random
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ringpop.clock import ManualClock
from ringpop.membership import MemberList, Status
from ringpop.messages import (
    MAX_CHANGES,
    AdminLookupRequest,
    Change,
    DampReqRequest,
    DampReqResponse,
    DampScore,
    JoinRequest,
    JoinResponse,
    MessageError,
    PingReqResponse,
    PingRequest,
    PingResponse,
    decode,
    encode,
)
from tests.conformance.corpus import EVERY_FIELD, INC, A, B, Sample, sent_messages, stats_response
from tests.conformance.schemas import SchemaCheck, spec_schema_dir


def as_json(message: msgspec.Struct) -> Any:
    return json.loads(encode(message))


# -- encoding: only the listed fields ------------------------------------------------


def test_change_sends_only_set_fields() -> None:
    change = Change(address=A, status="alive", incarnation_number=INC)
    assert as_json(change) == {"address": A, "status": "alive", "incarnationNumber": INC}


def test_change_with_every_field_uses_wire_names() -> None:
    change = msgspec.structs.replace(EVERY_FIELD, id="6f1c", address=A)
    assert as_json(change) == {
        "id": "6f1c",
        "source": B,
        "sourceIncarnationNumber": INC + 1,
        "address": A,
        "status": "faulty",
        "incarnationNumber": INC,
        "tombstone": True,
        "labels": {"hello": "world"},
        "timestamp": -62135596800,
    }


def test_never_null_or_empty_labels_nor_false_tombstone() -> None:
    body = encode(Change(address=A, status="alive", incarnation_number=1, labels={}))
    assert b"labels" not in body
    assert b"tombstone" not in body
    assert b"null" not in body
    assert b"labels" not in encode(JoinRequest(app="ringpop", source=A, incarnation_number=1))


def test_join_request_fields() -> None:
    request = JoinRequest(app="ringpop", source=A, incarnation_number=INC, labels={"a": "b"})
    assert as_json(request) == {
        "app": "ringpop",
        "source": A,
        "incarnationNumber": INC,
        "labels": {"a": "b"},
    }


def test_ping_response_omits_unset_fields_but_keeps_empty_changes() -> None:
    assert encode(PingResponse(changes=[])) == b'{"changes":[]}'
    full = PingResponse(changes=[], checksum=0, source=A, source_incarnation_number=INC)
    assert as_json(full) == {
        "changes": [],
        "checksum": 0,
        "source": A,
        "sourceIncarnationNumber": INC,
    }


def test_ping_req_response_has_exactly_three_fields() -> None:
    body = as_json(PingReqResponse(changes=[], ping_status=False, target=B))
    assert body == {"changes": [], "pingStatus": False, "target": B}


def test_stats_hooks_is_null_and_tchannel_version_present() -> None:
    body = as_json(stats_response(MemberList(A, clock=ManualClock(), rng=random.Random(0))))
    assert body["hooks"] is None
    assert body["tchannelVersion"] == "2"
    assert "checksums" in body["ring"]


# -- decoding: tolerant where the spec says so ---------------------------------------


def test_unknown_fields_and_trailing_newline_are_tolerated() -> None:
    body = (
        b'{"checksum": 1, "changes": [{"address": "127.0.0.1:3001", "status": "alive",'
        b' "incarnationNumber": 5, "dampScore": 3, "extra": {"x": [1]}}],'
        b' "source": "127.0.0.1:3000", "sourceIncarnationNumber": 7, "zzz": null}\n'
    )
    ping = decode(body, PingRequest)
    assert ping.changes[0].incarnation_number == 5
    assert ping.app is msgspec.UNSET


def test_app_absent_differs_from_empty() -> None:
    base = '{"checksum":1,"changes":[],"source":"a:1","sourceIncarnationNumber":1'
    assert decode(base + "}", PingRequest).app is msgspec.UNSET
    assert decode(base + ',"app":""}', PingRequest).app == ""


@pytest.mark.parametrize("checksum", ["null", None])
def test_join_response_checksum_null_or_missing(checksum: str | None) -> None:
    tail = "" if checksum is None else f',"membershipChecksum":{checksum}'
    body = '{"app":"ringpop","coordinator":"a:1","membership":[]' + tail + "}"
    assert decode(body, JoinResponse).membership_checksum is None


def test_tombstone_flag_is_decoded_as_sent() -> None:
    body = b'{"address":"a:1","status":"faulty","tombstone":true,"incarnationNumber":1}'
    change = decode(body, Change)
    assert change.status == "faulty"
    assert change.tombstone is True


def test_unknown_status_decodes_to_be_dropped_later() -> None:
    change = decode(b'{"address":"a:1","status":"zombie","incarnationNumber":1}', Change)
    assert change.status == "zombie"


def test_go_timestamp_of_zero_time_is_accepted() -> None:
    body = b'{"address":"a:1","status":"alive","incarnationNumber":1,"timestamp":-62135596800}'
    assert decode(body, Change).timestamp == -62135596800


# -- decoding: strict types ----------------------------------------------------------


def _change_body(**fields: Any) -> str:
    change = {"address": A, "status": "alive", "incarnationNumber": INC}
    change.update(fields)
    return json.dumps({"changes": [change]})


@pytest.mark.parametrize(
    ("literal", "reason"),
    [
        ("1000.0", "float"),
        ("1.5e12", "float"),
        ("-1", ">= 0"),
        ("true", "bool"),
        ('"1414142122274"', "str"),
        ("null", "null"),
        ("9223372036854775808", "<= 9223372036854775807"),
    ],
)
def test_bad_incarnation_rejects_the_whole_message(literal: str, reason: str) -> None:
    body = _change_body().replace(str(INC), literal)
    with pytest.raises(MessageError, match=r"incarnationNumber") as info:
        decode(body, PingResponse)
    assert reason in str(info.value)
    assert "changes[0]" in str(info.value)


@pytest.mark.parametrize("literal", ["-1", "4294967296", "1.0", '"1"'])
def test_bad_checksum_is_rejected(literal: str) -> None:
    body = f'{{"checksum":{literal},"changes":[],"source":"a:1","sourceIncarnationNumber":1}}'
    with pytest.raises(MessageError, match="checksum"):
        decode(body, PingRequest)


def test_request_checksum_null_is_none() -> None:
    body = '{"checksum":null,"changes":[],"source":"a:1","sourceIncarnationNumber":1}'
    assert decode(body, PingRequest).checksum is None


def test_largest_checksum_is_accepted() -> None:
    body = '{"checksum":4294967295,"changes":[],"source":"a:1","sourceIncarnationNumber":1}'
    assert decode(body, PingRequest).checksum == 0xFFFF_FFFF


@pytest.mark.parametrize("missing", ["address", "status", "incarnationNumber"])
def test_change_missing_required_field(missing: str) -> None:
    change = {"address": A, "status": "alive", "incarnationNumber": 1}
    del change[missing]
    with pytest.raises(MessageError, match=f"missing required field `{missing}`"):
        decode(json.dumps({"changes": [change]}), PingResponse)


@pytest.mark.parametrize("missing", ["checksum", "changes", "source", "sourceIncarnationNumber"])
def test_ping_missing_required_field(missing: str) -> None:
    ping = {"checksum": 1, "changes": [], "source": A, "sourceIncarnationNumber": 1}
    del ping[missing]
    with pytest.raises(MessageError, match=f"`{missing}`"):
        decode(json.dumps(ping), PingRequest)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'"ok"',
        b"null",
        b'{"changes": null}',
        b'{"changes": {}}',
        b'{"changes": [{"address": "a:1", "status": "alive", "incarnationNumber": 1,'
        b' "labels": null}]}',
        b'{"changes": [{"address": "a:1", "status": "alive", "incarnationNumber": 1,'
        b' "labels": {"k": 1}}]}',
        b'{"changes": [{"address": 5, "status": "alive", "incarnationNumber": 1}]}',
        b'{"changes": [{"address": "a:1", "status": 0, "incarnationNumber": 1}]}',
        b'{"changes": [{"address": "a:1", "status": "alive", "incarnationNumber": 1,'
        b' "tombstone": "yes"}]}',
        b'{"changes": [{"address": "a:1", "status": "alive", "incarnationNumber": 1,'
        b' "timestamp": 1.5}]}',
    ],
)
def test_malformed_bodies_raise_message_error(body: bytes) -> None:
    with pytest.raises(MessageError, match="bad PingResponse body"):
        decode(body, PingResponse)


def test_message_error_is_a_value_error() -> None:
    assert issubclass(MessageError, ValueError)


def test_huge_change_list_is_refused_with_a_clear_error() -> None:
    change = '{"address":"a:1","status":"alive","incarnationNumber":1}'
    body = '{"changes":[' + ",".join([change] * (MAX_CHANGES + 1)) + "]}"
    with pytest.raises(MessageError, match=f"length <= {MAX_CHANGES}"):
        decode(body, PingResponse)


def test_damp_req_needs_only_flappers() -> None:
    request = decode(b'{"flappers": ["a:1"]}', DampReqRequest)
    assert request.flappers == ["a:1"]
    with pytest.raises(MessageError, match="flappers"):
        decode(b'{"sourceAddr": "a:1"}', DampReqRequest)
    with pytest.raises(MessageError, match="flappers"):
        decode(b'{"flappers": "a:1"}', DampReqRequest)


change_strategy = st.builds(
    Change,
    id=st.text(max_size=8),
    source=st.text(max_size=20),
    source_incarnation_number=st.integers(0, 2**63 - 1),
    address=st.text(max_size=20),
    status=st.sampled_from([s.value for s in Status]),
    incarnation_number=st.integers(0, 2**63 - 1),
    tombstone=st.booleans(),
    labels=st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
    timestamp=st.none() | st.integers(-(2**63), 2**63 - 1),
)


@given(st.lists(change_strategy, max_size=5))
def test_changes_round_trip(changes: list[Change]) -> None:
    message = PingRequest(checksum=1, changes=changes, source=A, source_incarnation_number=1)
    assert decode(encode(message), PingRequest) == message


# -- JSON schemas: ours always, ringpop-common's too when the spec is checked out -------


@pytest.fixture(scope="module")
def schemas() -> SchemaCheck:
    return SchemaCheck.load()


def _assert_valid(schemas: SchemaCheck, schema: str, message: msgspec.Struct) -> None:
    errors = schemas.errors(schema, as_json(message))
    assert errors == [], f"{schema}: {errors}"


def test_ringpop_common_schemas_are_used_when_present(schemas: SchemaCheck) -> None:
    assert (schemas.spec is None) == (spec_schema_dir() is None)


@pytest.mark.parametrize("sample", sent_messages(), ids=lambda s: s.label)
def test_every_message_we_send_matches_the_schemas(schemas: SchemaCheck, sample: Sample) -> None:
    assert schemas.errors(sample.schema, sample.body) == []


def test_corpus_has_every_status_and_tombstones() -> None:
    """The messages checked above carry what matters: every status, wire tombstones."""
    bodies = {sample.label: sample.body for sample in sent_messages()}
    membership = bodies["join response"]["membership"]
    assert {c["status"] for c in membership} == {"alive", "suspect", "faulty", "leave"}
    assert any(c.get("tombstone") is True for c in membership)
    assert any(c.get("tombstone") is True for c in bodies["ping"]["changes"])
    members = bodies["stats"]["membership"]["members"]
    assert "tombstone" in {m["status"] for m in members}, "stats show the real status"


def test_schemas_catch_what_we_must_never_send(schemas: SchemaCheck) -> None:
    """Sanity check of the harness: forbidden fields, null labels, floats do fail."""
    bad = as_json(PingReqResponse(changes=[], ping_status=True, target=B))
    bad["checksum"] = 1
    assert schemas.errors("PingReqResponse", bad)
    change = {"address": A, "status": "alive", "incarnationNumber": 1, "labels": None}
    assert schemas.errors("Change", change)
    for incarnation in (1000.0, -1, 2**63):
        change = {"address": A, "status": "alive", "incarnationNumber": incarnation}
        assert schemas.ours.errors("Change", change), incarnation


def test_small_admin_and_damp_bodies() -> None:
    assert as_json(AdminLookupRequest(key="hello")) == {"key": "hello"}
    scores = DampReqResponse(scores=[DampScore(member=A, damp_score=500)])
    assert as_json(scores) == {"scores": [{"member": A, "dampScore": 500}]}
