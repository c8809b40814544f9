"""Bad input from a peer: a clear application error or a silent drop, never a crash and
never a member-list change the rules do not allow (issue 4 "must show")."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.conformance.conftest import MakeCluster
from tests.conformance.fakes import Cluster, FakeNode, Reply

pytestmark = pytest.mark.cluster

HUGE = 100_001
"""One more change than a message may carry (``ringpop.messages.MAX_CHANGES``)."""


def ping(c: Cluster, fake: FakeNode, **fields: Any) -> dict[str, Any]:
    body = c.ping_body(fake)
    body.update(fields)
    return body


def without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


def assert_clear_error(reply: Reply, what: str, *words: str) -> None:
    assert not reply.ok, f"{what}: accepted ({reply.raw[:200]!r})"
    assert reply.error_type, f"{what}: error without a type: {reply.raw[:200]!r}"
    assert reply.error_message, f"{what}: error without a message: {reply.raw[:200]!r}"
    for word in words:
        assert word in reply.error_message, f"{what}: {reply.error_message!r} lacks {word!r}"


async def snapshot(c: Cluster) -> tuple[int, dict[str, tuple[str, int]]]:
    stats = await c.stats()
    members = {
        m["address"]: (m["status"], m["incarnationNumber"]) for m in stats["membership"]["members"]
    }
    return stats["membership"]["checksum"], members


async def test_bad_pings(cluster: MakeCluster) -> None:
    c = await cluster(3)
    a, b, _ = c.fakes
    before = await snapshot(c)

    def bad_change(**fields: Any) -> dict[str, Any]:
        return ping(c, a, changes=[{**b.member(), **fields}])

    # Refused whole: what the handler itself needs is unusable (spec §1.1 rule 3).
    rejected: list[tuple[str, Any]] = [
        ("changes missing", without(ping(c, a), "changes")),
        ("changes null", ping(c, a, changes=None)),
        ("source missing", without(bad_change(status="faulty"), "source")),
        ("body is an array", [ping(c, a)]),
        ("not JSON", b"{this is not json"),
        ("not UTF-8", b"\xff\xfe\x00"),
        ("empty body", b""),
    ]
    for what, body in rejected:
        assert_clear_error(await c.ping(a, body), what)
        assert c.running, f"SUT died on {what}\n{c.log_tail()}"

    for app in ("not-ringpop", 5, ""):
        reply = await c.ping(a, ping(c, a, app=app, changes=[b.member("faulty")]))
        assert_clear_error(reply, f"wrong app {app!r}", "app")
        assert reply.error_type == "ringpop.invalid-ping.app", reply.body

    # Answered, the unusable change dropped alone (rule 2) or a default taken (rule 1).
    dropped = [
        ("negative incarnation", bad_change(incarnationNumber=-5, status="faulty")),
        ("float incarnation", bad_change(incarnationNumber=b.incarnation + 0.5, status="faulty")),
        ("float-literal incarnation", bad_change(incarnationNumber=float(b.incarnation + 1))),
        ("incarnation beyond int64", bad_change(incarnationNumber=2**63, status="faulty")),
        ("string incarnation", bad_change(incarnationNumber=str(b.incarnation + 1))),
        ("null incarnation", bad_change(incarnationNumber=None, status="faulty")),
        ("status not a string", bad_change(status=3)),
        ("change without address", ping(c, a, changes=[without(b.member("faulty"), "address")])),
        ("change without status", ping(c, a, changes=[without(b.member(), "status")])),
        ("labels not an object", bad_change(status="faulty", labels=["x"])),
        ("label value not a string", bad_change(status="faulty", labels={"k": 1})),
        ("change not an object", ping(c, a, changes=["127.0.0.1:1", 7, None])),
        ("unknown status", bad_change(status="zombie", incarnationNumber=b.incarnation + 5)),
        ("empty status", bad_change(status="", incarnationNumber=b.incarnation + 5)),
        ("not an address", ping(c, a, changes=[{**b.member(), "address": "no-port"}])),
        ("tombstone flag on alive", bad_change(tombstone=False)),
        ("app absent (allowed)", without(bad_change(status="zombie"), "app")),
        ("app null (as absent)", bad_change(status="zombie", app=None)),
        ("checksum missing", without(ping(c, a), "checksum")),
        ("checksum null", ping(c, a, checksum=None)),
        ("negative checksum", ping(c, a, checksum=-1)),
        ("source incarnation null", ping(c, a, sourceIncarnationNumber=None)),
        # As ringpop-node: a source that is no string is an unknown requester, and a
        # changes that is no list holds no usable entry (one object: one entry).
        ("source not a string", bad_change(status="zombie", source=["127.0.0.1:1"])),
        ("source a number", bad_change(status="zombie", source=7)),
        ("changes an object", ping(c, a, changes={"0": b.member("faulty")})),
        ("changes true", ping(c, a, changes=True)),
    ]
    for what, body in dropped:
        reply = await c.ping(a, body)
        assert reply.ok, f"{what}: {reply.raw[:200]!r}"
        assert c.running, f"SUT died on {what}\n{c.log_tail()}"
    assert await snapshot(c) == before, "a bad change reached the member list"

    huge = ping(c, a, changes=[b.member("faulty")] * HUGE)
    reply = await c.ping(a, json.dumps(huge).encode())
    assert_clear_error(reply, "huge change list")
    assert c.running
    assert await snapshot(c) == before


async def test_bad_ping_reqs(cluster: MakeCluster) -> None:
    c = await cluster(3)
    a, b, _ = c.fakes
    before = await snapshot(c)
    good = {
        "source": a.address,
        "sourceIncarnationNumber": a.incarnation,
        "target": b.address,
        "checksum": c.model_checksum(),
        "changes": [],
    }
    rejected: list[tuple[str, Any]] = [
        ("target missing", without(good, "target")),
        ("changes missing", without(good, "changes")),
        ("source missing", without(good, "source")),
        ("not JSON", b"ping-req?"),
    ]
    for what, body in rejected:
        reply = await a.call("/protocol/ping-req", body)
        assert_clear_error(reply, what)
        assert c.running, f"SUT died on {what}\n{c.log_tail()}"
    # Fields the handler does not need take defaults; a bad change is dropped alone.
    accepted: list[tuple[str, Any]] = [
        ("negative source incarnation", {**good, "sourceIncarnationNumber": -1}),
        ("checksum null", {**good, "checksum": None}),
        ("bad change", {**good, "changes": [{"address": b.address, "status": "faulty"}]}),
        ("source not a string", {**good, "source": 7}),
        ("changes an object", {**good, "changes": {"address": b.address, "status": "faulty"}}),
        ("changes true", {**good, "changes": True}),
    ]
    for what, body in accepted:
        reply = await a.call("/protocol/ping-req", body)
        assert reply.ok, f"{what}: {reply.raw[:200]!r}"
        assert reply.body["target"] == b.address
    # A target that is no string: answered, pingStatus false, its JSON text echoed
    # (ringpop-node echoes the value itself; the response's target must be a string).
    for target in (7, True, {"x": 1}):
        reply = await a.call("/protocol/ping-req", {**good, "target": target})
        assert reply.ok, f"target {target!r}: {reply.raw[:200]!r}"
        assert (reply.body["pingStatus"], reply.body["target"]) == (False, json.dumps(target))
    # A target that is no member at all: answered, pingStatus false, nothing learned.
    reply = await c.ping_req(a, "127.0.0.1:1")
    assert reply.ok, reply.raw
    assert reply.body["pingStatus"] is False
    assert await snapshot(c) == before


async def test_bad_joins(cluster: MakeCluster) -> None:
    c = await cluster(3)
    a = c.fakes[0]
    before = await snapshot(c)
    good = {"app": "ringpop", "source": a.address, "incarnationNumber": a.incarnation}
    cases: list[tuple[str, Any, str]] = [
        ("wrong app", {**good, "app": "other-app"}, "ringpop.invalid-join.app"),
        ("self join", {**good, "source": c.sut}, "ringpop.self-join"),
        ("invalid source", {**good, "source": "not-a-host-port"}, "ringpop.invalid-join.source"),
        ("app missing", without(good, "app"), "Error"),
        ("app not a string", {**good, "app": 1}, "Error"),
        ("source missing", without(good, "source"), "Error"),
        ("not JSON", b"join me", "Error"),
    ]
    for what, body, error_type in cases:
        reply = await c.join(a, body)
        assert_clear_error(reply, what)
        if error_type:
            assert reply.error_type == error_type, f"{what}: {reply.body}"
        assert c.running, f"SUT died on {what}\n{c.log_tail()}"
    # The handler does not use the joiner's incarnation: missing or unusable is fine.
    for body in (
        good,
        without(good, "incarnationNumber"),
        {**good, "incarnationNumber": -1},
        {**good, "incarnationNumber": None, "labels": None, "timeout": 1.5},
    ):
        reply = await c.join(a, body)
        assert reply.ok, reply.raw
        assert reply.body["app"] == "ringpop"
        assert reply.body["coordinator"] == c.sut
    assert await snapshot(c) == before, "a join must not change the member list"


BAD_ADDRESSES = ["garbage", "127.0.0.1:99999", "localhost:1", "a:b:c", ""]
"""Addresses a peer may send that cannot be dialled (some pass a host:port check)."""


async def test_undialable_addresses_from_peers(cluster: MakeCluster) -> None:
    c = await cluster(3)
    a = c.fakes[0]
    for _ in range(40):  # nothing left to piggyback: a wrong checksum means a full sync
        if (await c.ping(a, c.ping_body(a))).body["changes"] == []:
            break
    before = await snapshot(c)
    for address in BAD_ADDRESSES:
        # A ping-req about a target that cannot be dialled: it is simply not reachable.
        reply = await c.ping_req(a, address)
        if reply.ok:
            assert reply.body["pingStatus"] is False, address
        else:
            assert_clear_error(reply, f"ping-req about {address!r}")
        # A full sync towards a source that cannot be dialled: the reverse sync fails quietly.
        body = {**c.ping_body(a, checksum=1), "source": address}
        reply = await c.ping(a, body)
        if not reply.ok:
            assert_clear_error(reply, f"ping from {address!r}")
        assert c.running
    await asyncio.sleep(0.3)
    assert await snapshot(c) == before
    assert c.log_tracebacks() == []


async def test_undialable_member_learned_by_gossip(cluster: MakeCluster) -> None:
    # "localhost:1" passes node's host:port check, so it is a member; dialling it fails.
    c = await cluster(3, suspect_ms=1000)
    a = c.fakes[0]
    for fake in c.fakes:
        fake.ping_req_status = False
    ghost = {"address": "localhost:1", "status": "alive", "incarnationNumber": 5}
    assert (await c.ping(a, c.ping_body(a, [ghost]))).ok

    async def faulty() -> bool:
        member = (await c.members()).get("localhost:1")
        return member is not None and member["status"] == "faulty"

    await c.wait_for(faulty, 6.0, "the undialable member to be found faulty", interval=0.1)
    assert c.log_tracebacks() == []
