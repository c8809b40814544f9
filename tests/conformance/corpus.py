"""A corpus of the messages our node sends, and mutated variants of each.

:func:`sent_messages` builds every message type from our structs
(:mod:`ringpop.messages`) with realistic values: a member list with every status,
labels and a tombstone, the disseminator's changes, a full sync, a stats body.
:func:`mutations` derives the variants the schema drift test compares verdicts on:
each field missing, each field of a wrong JSON type, an extra field in each object,
and for integers a negative, a float, a fraction, zero and 2^64.

>>> names = {sample.schema for sample in sent_messages()}
>>> sorted(names)[:3]
['AdminLookupRequest', 'AdminLookupResponse', 'Change']
>>> [m.kind for m in mutations(Sample("AdminLookupResponse", "lookup", {"dest": "a:1"}))]
['wrong type', 'extra field', 'missing', 'wrong type', 'not host:port']
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from typing import Any, NamedTuple

import msgspec

from ringpop.clock import ManualClock
from ringpop.membership import Disseminator, MemberList
from ringpop.messages import (
    AdminLookupRequest,
    AdminLookupResponse,
    Change,
    DampReqRequest,
    DampReqResponse,
    DampScore,
    JoinRequest,
    JoinResponse,
    PingReqRequest,
    PingReqResponse,
    PingRequest,
    PingResponse,
    StatsMembership,
    StatsMemory,
    StatsProcess,
    StatsProtocol,
    StatsResponse,
    StatsRing,
    encode,
)
from tests.conformance.schemas import ADDRESS_PATTERN

__all__ = [
    "EVERY_FIELD",
    "INC",
    "A",
    "B",
    "C",
    "Mutant",
    "Sample",
    "busy_members",
    "mutations",
    "sent_messages",
    "stats_response",
]

A, B, C = "127.0.0.1:3000", "127.0.0.1:3001", "127.0.0.1:3002"
INC = 1414142122274
"""A realistic incarnation number (milliseconds since the epoch)."""

EVERY_FIELD = Change(
    id="6f1c2a4e-0b7d-4d8e-9a51-3c2f0e1d7b66",
    source=B,
    source_incarnation_number=INC + 1,
    address=C,
    status="faulty",
    incarnation_number=INC,
    tombstone=True,
    labels={"hello": "world"},
    timestamp=-62135596800,
)
"""A change with all nine fields of §2.3 (go's ``timestamp`` and node's ``id`` too)."""

Path = tuple[str | int, ...]


class Sample(NamedTuple):
    """A JSON body and the schema it must satisfy."""

    schema: str
    label: str
    body: Any


class Mutant(NamedTuple):
    """A variant of a :class:`Sample`: ``kind`` of change at ``path``."""

    kind: str
    path: Path
    body: Any


def busy_members() -> MemberList:
    """A member list with every status, labels, and a tombstone."""
    clock = ManualClock(start_ms=INC)
    members = MemberList(A, clock=clock, rng=random.Random(3), labels={"__identity": "sut"})
    members.apply(
        [
            Change(address=B, status="alive", incarnation_number=1337, labels={"hello": "world"}),
            Change(address=C, status="suspect", incarnation_number=1337),
            Change(address="127.0.0.1:3003", status="faulty", incarnation_number=1337),
            Change(address="127.0.0.1:3004", status="leave", incarnation_number=1337),
            Change(address="127.0.0.1:3005", status="alive", incarnation_number=1337),
            Change(
                address="127.0.0.1:3005", status="faulty", tombstone=True, incarnation_number=1337
            ),
        ]
    )
    return members


def stats_response(members: MemberList, damp_score: float | None = None) -> StatsResponse:
    """An ``/admin/stats`` body as the admin handler builds it (node adds damp scores)."""
    listed = members.stats_members()
    if damp_score is not None:
        listed = [msgspec.structs.replace(m, damp_score=damp_score) for m in listed]
    return StatsResponse(
        membership=StatsMembership(checksum=members.checksum, members=listed),
        process=StatsProcess(memory=StatsMemory(rss=1, heap_total=2, heap_used=3), pid=42),
        protocol=StatsProtocol(protocol_rate=200),
        ring=StatsRing(checksum=742371003, servers=[A, B, C], checksums={"replica": 742916552}),
        version="0.1.0",
        timestamp=1414142122,
        uptime=1000,
    )


def _json(message: msgspec.Struct) -> Any:
    return json.loads(encode(message))


def sent_messages() -> list[Sample]:
    """One sample of every message type our node sends (some types twice)."""
    members = busy_members()
    local = members.local
    disseminator = Disseminator(members)
    disseminator.record(members.local_change())
    disseminator.record_applied(members.make_tombstone("127.0.0.1:3003", 1337))
    changes = disseminator.issue_as_sender()
    full_sync, _ = disseminator.issue_as_receiver(B, 1, 0)
    messages: list[tuple[str, str, msgspec.Struct]] = [
        ("Change", "change with every field", EVERY_FIELD),
        ("Change", "disseminated change", changes[0]),
        ("JoinRequest", "join", JoinRequest(app="ringpop", source=A, incarnation_number=INC)),
        (
            "JoinRequest",
            "join with labels",
            JoinRequest(app="ringpop", source=A, incarnation_number=INC, labels=local.labels),
        ),
        (
            "JoinRequest",
            "join with every field",
            JoinRequest(
                app="ringpop",
                source=A,
                incarnation_number=INC,
                timeout=1_000_000_000,
                labels={"hello": "world"},
            ),
        ),
        (
            "JoinResponse",
            "join response",
            JoinResponse(
                app="ringpop",
                coordinator=A,
                membership=members.as_changes(),
                membership_checksum=members.checksum,
            ),
        ),
        (
            "PingRequest",
            "ping",
            PingRequest(
                checksum=members.checksum,
                changes=changes,
                source=A,
                source_incarnation_number=local.incarnation,
                app="ringpop",
            ),
        ),
        (
            "PingResponse",
            "ping response",
            PingResponse(
                changes=full_sync,
                checksum=members.checksum,
                source=A,
                source_incarnation_number=local.incarnation,
            ),
        ),
        ("PingResponse", "bare ping response", PingResponse(changes=[])),
        (
            "PingResponse",
            "ping response with every field",
            PingResponse(
                changes=[EVERY_FIELD],
                checksum=members.checksum,
                source=A,
                source_incarnation_number=local.incarnation,
                app="",
                target=B,
            ),
        ),
        (
            "PingReqRequest",
            "ping-req",
            PingReqRequest(
                source=A,
                source_incarnation_number=local.incarnation,
                target=B,
                checksum=members.checksum,
                changes=changes,
            ),
        ),
        (
            "PingReqResponse",
            "ping-req response",
            PingReqResponse(changes=full_sync, ping_status=True, target=B),
        ),
        (
            "DampReqRequest",
            "damp-req",
            DampReqRequest(
                source_addr=A,
                source_incarnation_number=local.incarnation,
                source_checksum=members.checksum,
                flappers=[B, C],
            ),
        ),
        (
            "DampReqResponse",
            "damp-req response",
            DampReqResponse(scores=[DampScore(member=B, damp_score=1234.5)]),
        ),
        ("StatsResponse", "stats", stats_response(members)),
        ("StatsResponse", "stats with damp scores", stats_response(members, damp_score=12.5)),
        ("AdminLookupRequest", "lookup", AdminLookupRequest(key="user:42")),
        ("AdminLookupResponse", "lookup response", AdminLookupResponse(dest=A)),
    ]
    samples = [Sample(schema, label, _json(message)) for schema, label, message in messages]
    samples += [
        Sample("Labels", "labels", dict(local.labels)),
        Sample("Status", "status", "tombstone"),
    ]
    return samples


# -- mutations ---------------------------------------------------------------------------

_ADDRESS = re.compile(ADDRESS_PATTERN)


def _wrong_type(value: Any) -> Any:
    """A value of another JSON type."""
    if isinstance(value, bool):
        return "true"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return 5
    if isinstance(value, list):
        return {}
    if isinstance(value, dict):
        return []
    return {}  # null


def _integer_variants(value: int) -> Iterator[tuple[str, Any]]:
    yield "negative", -1
    yield "zero", 0
    yield "float", float(value)
    yield "fraction", value + 0.5
    yield "2^64", 2**64


def _nodes(value: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every node of a JSON value, lists by their first item only."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _nodes(item, (*path, key))
    elif isinstance(value, list) and value:
        yield from _nodes(value[0], (*path, 0))


def _replaced(body: Any, path: Path, new: Any, *, delete: bool = False) -> Any:
    """A deep copy of ``body`` with the node at ``path`` replaced (or deleted)."""
    copy = json.loads(json.dumps(body))
    if not path:
        return new
    parent = copy
    for step in path[:-1]:
        parent = parent[step]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return copy


def mutations(sample: Sample) -> list[Mutant]:
    """Every variant of ``sample``'s body (see the module docstring)."""
    found: list[Mutant] = []
    body = sample.body
    for path, value in _nodes(body):
        if path and isinstance(path[-1], str):
            found.append(Mutant("missing", path, _replaced(body, path, None, delete=True)))
        found.append(Mutant("wrong type", path, _replaced(body, path, _wrong_type(value))))
        if isinstance(value, dict):
            extended = {**value, "zzExtra": 1}
            found.append(Mutant("extra field", path, _replaced(body, path, extended)))
        if isinstance(value, int) and not isinstance(value, bool):
            for kind, new in _integer_variants(value):
                found.append(Mutant(kind, path, _replaced(body, path, new)))
        if isinstance(value, str) and _ADDRESS.match(value):
            found.append(Mutant("not host:port", path, _replaced(body, path, "no-port")))
    return found
