"""Bootstrap as the fakes see it: exactly min(6, n) parallel joins (spec §14, testpop §1.2)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ringpop.ring import HashRing
from tests.conformance.conftest import MakeCluster
from tests.conformance.fakes import APP, Mode, now_ms, unreachable_address

pytestmark = pytest.mark.cluster


@pytest.mark.parametrize("size", [2, 8])
async def test_exactly_min_6_n_parallel_joins_with_one_incarnation(
    cluster: MakeCluster, size: int
) -> None:
    started_ms = now_ms()
    # Slow answers (0.3 s) would spread sequential joins apart.
    c = await cluster(size, wait_for_ping=False, join_delay=0.3)
    joins = c.requests("/protocol/join")
    assert len(joins) == min(6, size)
    assert len({j.fake for j in joins}) == len(joins), "one join per fake"
    spread = joins[-1].at - joins[0].at
    assert spread < 0.25, f"joins not sent in parallel: spread {spread:.3f} s"
    incarnations = {j.body["incarnationNumber"] for j in joins}
    assert len(incarnations) == 1, incarnations
    incarnation = incarnations.pop()
    assert started_ms - 1000 <= incarnation <= now_ms(), "incarnation is ms since the epoch"
    for join in joins:
        assert join.body["app"] == APP
        assert join.body["source"] == c.sut
        assert "labels" not in join.body, "no labels without --identity"
    # No further join round once enough joined.
    await asyncio.sleep(0.6)
    assert len(c.requests("/protocol/join")) == min(6, size)
    members = await c.members()
    assert members[c.sut]["incarnationNumber"] == incarnation
    assert set(members) == {f.address for f in c.fakes} | {c.sut}


async def test_identity_label_in_every_join_request(cluster: MakeCluster) -> None:
    c = await cluster(3, identity="conformance-sut")
    joins = c.requests("/protocol/join")
    assert len(joins) == 3
    for join in joins:
        assert join.body["labels"] == {"__identity": "conformance-sut"}
    members = await c.members()
    assert members[c.sut]["labels"] == {"__identity": "conformance-sut"}
    for fake in c.fakes:
        assert "labels" not in members[fake.address], "empty labels must be omitted"
    # The identity names the SUT's replica points (§13.2).
    ring = HashRing(100)
    ring.add_server(c.sut, "conformance-sut")
    for fake in c.fakes:
        ring.add_server(fake.address)
    stats = await c.stats()
    assert stats["ring"]["checksum"] == ring.checksum
    for i in range(10):
        reply = await c.admin("/admin/lookup", {"key": f"key-{i}"})
        assert reply.body == {"dest": ring.lookup(f"key-{i}")}


async def test_joins_served_but_pings_refused_until_ready(cluster: MakeCluster) -> None:
    c = await cluster(3, join_mode=Mode.HOLD, bootstrap=False)
    a, b, _ = c.fakes
    reply = await c.ping(a, c.ping_body(a))
    assert not reply.ok
    assert reply.error_type == "ringpop.not-ready", reply.body
    reply = await c.ping_req(a, b.address)
    assert not reply.ok
    assert reply.error_type == "ringpop.not-ready", reply.body
    # Joins are answered even while bootstrapping, with what the SUT knows: itself.
    reply = await c.join(a, {"app": APP, "source": a.address, "incarnationNumber": a.incarnation})
    assert reply.ok, reply.raw
    assert reply.body["coordinator"] == c.sut
    assert [m["address"] for m in reply.body["membership"]] == [c.sut]
    assert c.requests("/protocol/ping") == [], "no gossip before bootstrap"

    for fake in c.fakes:
        fake.join_mode = Mode.ANSWER
        fake.release()
    await c.wait_for(lambda: bool(c.requests("/protocol/ping")), 8.0, "gossip after joining")
    members = await c.members()
    assert set(members) == {f.address for f in c.fakes} | {c.sut}


async def test_timers_start_for_members_learned_at_join(cluster: MakeCluster) -> None:
    suspect: dict[str, Any] = {
        "address": unreachable_address(),
        "status": "suspect",
        "incarnationNumber": 42,
    }
    faulty: dict[str, Any] = {
        "address": unreachable_address(),
        "status": "faulty",
        "incarnationNumber": 43,
    }
    c = await cluster(
        3,
        suspect_ms=1000,
        faulty_ms=1000,
        tombstone_ms=60_000,
        extra_members=[suspect, faulty],
    )
    members = await c.members()
    assert members[suspect["address"]]["status"] == "suspect"
    assert members[faulty["address"]]["status"] == "faulty"

    async def moved_on() -> bool:
        members = await c.members()
        return bool(
            members[suspect["address"]]["status"] == "faulty"
            and members[faulty["address"]]["status"] == "tombstone"
        )

    done = await c.wait_for(moved_on, 4.0, "suspect -> faulty and faulty -> tombstone")
    took = done - c.bootstrapped_at
    assert 0.75 <= took <= 1.8, f"transitions {took:.2f} s after joining (periods are 1 s)"
    early = [p for p in c.requests("/protocol/ping") if p.at < c.bootstrapped_at + 0.7]
    for ping in early:
        assert [ch["address"] for ch in ping.changes] == [c.sut], "join lists not disseminated"


async def test_unreadable_hosts_file_is_retried_with_backoff(cluster: MakeCluster) -> None:
    c = await cluster(3, hosts_delay=2.0)
    took = c.requests("/protocol/join")[0].at - c.spawned_at
    assert 2.0 <= took <= 6.0, f"first join {took:.2f} s after start"
    reads = c.stderr_path.read_text(errors="replace").count("cannot read hosts")
    # Backoff from 100 ms, doubling: a handful of failed reads, not one every 100 ms.
    assert 1 <= reads <= 7, f"{reads} failed hosts-file reads in ~2 s: no backoff"
