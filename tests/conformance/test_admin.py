"""The admin endpoints as the suite calls them (spec §5, testpop §2)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ringpop.ring import HashRing
from tests.conformance.conftest import MakeCluster
from tests.conformance.fakes import Cluster, FakeNode, go_checksum

pytestmark = pytest.mark.cluster


def status_is(reply_body: Any, raw: bytes, status: str) -> bool:
    """The suite accepts the raw text or a JSON object with that ``status``."""
    return raw == status.encode() or (
        isinstance(reply_body, dict) and reply_body.get("status") == status
    )


async def test_stats_is_schema_exact(cluster: MakeCluster) -> None:
    c = await cluster(3)
    stats = await c.stats()  # schema-checked by the harness
    assert stats["hooks"] is None
    assert set(stats["process"]["memory"]) == {"rss", "heapTotal", "heapUsed"}
    assert c.proc is not None
    assert stats["process"]["pid"] == c.proc.pid
    members = stats["membership"]["members"]
    addresses = [m["address"] for m in members]
    assert addresses == sorted(addresses)
    assert set(addresses) == {f.address for f in c.fakes} | {c.sut}
    for member in members:
        # dampScore is allowed by the schema (ringpop-node sends it); we report it for
        # every member but ourselves, labels only when a member has some.
        expected = {"address", "status", "incarnationNumber"}
        if member["address"] != c.sut:
            expected.add("dampScore")
            assert isinstance(member["dampScore"], int | float)
            assert member["dampScore"] >= 0
        assert set(member) == expected, member
        assert member["status"] == "alive"
    by_address = {m["address"]: m for m in members}
    assert by_address[c.sut]["incarnationNumber"] == c.sut_incarnation
    for fake in c.fakes:
        assert by_address[fake.address]["incarnationNumber"] == fake.incarnation
    checksum = stats["membership"]["checksum"]
    assert checksum, "a truthy checksum"
    assert checksum == go_checksum(members) == c.model_checksum()
    assert sorted(stats["ring"]["servers"]) == sorted(addresses)
    assert isinstance(stats["version"], str)
    assert isinstance(stats["tchannelVersion"], str)


async def test_lookup_follows_the_ring(cluster: MakeCluster) -> None:
    c = await cluster(4)
    stats = await c.stats()
    ring = HashRing(100)
    for server in stats["ring"]["servers"]:
        ring.add_server(server)
    assert ring.checksum == stats["ring"]["checksum"]
    for i in range(25):
        key = f"key-{i}"
        reply = await c.admin("/admin/lookup", {"key": key})
        assert reply.ok, reply.raw
        c.validate("AdminLookupResponse", reply.body, "/admin/lookup response")
        assert reply.body == {"dest": ring.lookup(key)}
    reply = await c.admin("/admin/lookup", {})
    assert not reply.ok
    assert reply.error_type
    assert reply.error_message


async def test_gossip_stop_tick_start_and_health(cluster: MakeCluster) -> None:
    c = await cluster(3)
    loop = asyncio.get_running_loop()
    assert (await c.admin("/health")).ok
    reply = await c.admin("/admin/gossip/stop")
    assert reply.ok
    await asyncio.sleep(0.3)  # an in-flight ping may still finish
    since = loop.time()
    await asyncio.sleep(1.0)
    assert c.requests("/protocol/ping", since) == [], "pings after gossip/stop"
    reply = await c.admin("/admin/gossip/status")
    assert reply.ok
    assert reply.body == {"status": "stopped"}

    since = loop.time()
    reply = await c.admin("/admin/gossip/tick")
    assert reply.ok
    assert reply.body["checksum"] == (await c.stats())["membership"]["checksum"]
    assert len(c.requests("/protocol/ping", since)) == 1, "a tick pings exactly once"
    await asyncio.sleep(0.6)
    assert len(c.requests("/protocol/ping", since)) == 1, "a tick must not restart gossip"

    since = loop.time()
    assert (await c.admin("/admin/gossip/start")).ok
    await c.wait_for(
        lambda: len(c.requests("/protocol/ping", since)) >= 3, 2.0, "pings after gossip/start"
    )


async def test_member_leave_then_join(cluster: MakeCluster) -> None:
    c = await cluster(3)
    a = c.fakes[0]
    reply = await c.admin("/admin/member/leave")
    assert reply.ok
    assert status_is(reply.body, reply.raw, "ok"), reply.raw
    left = (await c.members())[c.sut]
    assert left["status"] == "leave"
    assert left["incarnationNumber"] > c.sut_incarnation
    reply = await c.ping(a, c.ping_body(a))
    own = [ch for ch in reply.body["changes"] if ch["address"] == c.sut]
    assert own, "the leave is disseminated"
    assert own[0]["status"] == "leave"
    assert own[0]["source"] == c.sut
    assert own[0]["incarnationNumber"] == left["incarnationNumber"]
    assert (await c.admin("/admin/lookup", {"key": "k"})).body["dest"] != c.sut

    reply = await c.admin("/admin/member/join")
    assert reply.ok
    assert status_is(reply.body, reply.raw, "rejoined"), reply.raw
    back = (await c.members())[c.sut]
    assert back["status"] == "alive"
    assert back["incarnationNumber"] > left["incarnationNumber"]


async def make_faulty(c: Cluster, sender: FakeNode, *subjects: FakeNode) -> None:
    """``sender`` tells the SUT that ``subjects`` are faulty."""
    faulty = [
        {
            "source": sender.address,
            "sourceIncarnationNumber": sender.incarnation,
            "address": subject.address,
            "status": "faulty",
            "incarnationNumber": subject.incarnation,
        }
        for subject in subjects
    ]
    assert (await c.ping(sender, c.ping_body(sender, faulty))).ok
    members = await c.members()
    for subject in subjects:
        assert members[subject.address]["status"] == "faulty"


async def test_reap_makes_faulty_members_tombstones(cluster: MakeCluster) -> None:
    c = await cluster(3)
    a, b, d = c.fakes
    await make_faulty(c, a, b)
    reply = await c.admin("/admin/reap")
    assert reply.ok
    assert reply.body["status"] == "ok"
    assert reply.body.get("reaped", 1) == 1
    stats = await c.stats()
    members = {m["address"]: m for m in stats["membership"]["members"]}
    assert members[b.address]["status"] == "tombstone"
    assert members[b.address]["incarnationNumber"] == b.incarnation
    assert members[d.address]["status"] == "alive"
    assert stats["membership"]["checksum"] == go_checksum(members.values())
    assert b.address not in stats["ring"]["servers"]
    # A join response carries the tombstone flag-encoded (and is schema-checked).
    reply = await c.join(a, {"app": "ringpop", "source": a.address, "incarnationNumber": 1})
    assert reply.ok, reply.raw
    entry = next(m for m in reply.body["membership"] if m["address"] == b.address)
    assert (entry["status"], entry.get("tombstone")) == ("faulty", True)
    assert reply.body["membershipChecksum"] == stats["membership"]["checksum"]
    reply = await c.admin("/admin/reap")
    assert reply.body.get("reaped", 0) == 0


async def test_heal_partition_one_target_per_scenario(cluster: MakeCluster) -> None:
    c = await cluster(5, tombstone_ms=500)
    a, b, d, h1, h2 = c.fakes
    loop = asyncio.get_running_loop()
    # h1 and h2 end up on the other side of a partition: the SUT forgets them, the
    # hosts file no longer names them, and they know only each other and the SUT.
    assert (await c.admin("/admin/gossip/stop")).ok
    c.write_hosts([a.address, b.address, d.address, c.sut])
    await make_faulty(c, a, h1, h2)
    c.hidden.update({h1.address, h2.address})
    assert (await c.admin("/admin/reap")).body.get("reaped", 2) == 2
    await c.wait_for(
        lambda: _absent(c, h1.address, h2.address), 5.0, "eviction of h1 and h2", interval=0.1
    )

    # Nothing to heal: every host is known and alive.
    reply = await c.admin("/admin/healpartition/disco")
    assert reply.ok
    assert reply.body["targets"] == []

    # Scenario 1 (merge): the rewritten hosts file names two unknown nodes of one
    # partition; healing with either reports the other, so exactly one target.
    c.write_hosts([a.address, b.address, d.address, h1.address, h2.address, c.sut])
    since = loop.time()
    reply = await c.admin("/admin/healpartition/disco")
    assert reply.ok, reply.raw
    targets = reply.body["targets"]
    assert len(targets) == 1, targets
    assert targets[0] in (h1.address, h2.address)
    assert [j.fake for j in c.requests("/protocol/join", since)] == targets
    pings = c.requests("/protocol/ping", since)
    assert [p.fake for p in pings] == targets
    merged = {ch["address"] for ch in pings[0].changes}
    assert {a.address, b.address, d.address, c.sut} <= merged, "our whole membership"
    members = await c.members()
    assert members[h1.address]["status"] == members[h2.address]["status"] == "alive"

    # Scenario 2 (reincarnation): the partition is gone, but we think b and d are
    # faulty while their side says alive: one target, told both are suspect.
    c.hidden.clear()
    await make_faulty(c, a, b, d)
    since = loop.time()
    reply = await c.admin("/admin/healpartition/disco")
    assert reply.ok, reply.raw
    targets = reply.body["targets"]
    assert len(targets) == 1, targets
    assert targets[0] in (b.address, d.address)
    pings = c.requests("/protocol/ping", since)
    assert [p.fake for p in pings] == targets
    told = sorted(pings[0].changes, key=lambda ch: str(ch["address"]))
    assert [(ch["address"], ch["status"], ch["incarnationNumber"]) for ch in told] == sorted(
        [(b.address, "suspect", b.incarnation), (d.address, "suspect", d.incarnation)]
    )
    assert not any(ch.get("source") for ch in told), "heal suspects carry no source"
    members = await c.members()
    assert members[b.address]["status"] == members[d.address]["status"] == "faulty", (
        "no merge in the reincarnation phase"
    )


async def _absent(c: Cluster, *addresses: str) -> bool:
    members = await c.members()
    return not any(address in members for address in addresses)
