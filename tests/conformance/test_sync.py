"""Changes through the wire: refutation, the update rule, full sync and reverse full sync
(spec §6, §7.3-§7.5)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conformance.conftest import MakeCluster
from tests.conformance.fakes import (
    Cluster,
    FakeNode,
    Mode,
    go_checksum,
    labels_checksum,
    unreachable_address,
)

pytestmark = pytest.mark.cluster


def change(fake: FakeNode, status: str, incarnation: int, **extra: Any) -> dict[str, Any]:
    return {"address": fake.address, "status": status, "incarnationNumber": incarnation, **extra}


async def exhaust_changes(c: Cluster, fake: FakeNode) -> None:
    """Ping from ``fake`` (right checksum) until the SUT has nothing left to piggyback."""
    for _ in range(40):
        reply = await c.ping(fake, c.ping_body(fake))
        assert reply.ok, reply.raw
        if reply.body["changes"] == []:
            return
    raise AssertionError("the SUT never ran out of changes to piggyback")


@pytest.mark.parametrize(
    ("rumour", "ahead"),
    [("suspect", 0), ("faulty", 0), ("alive", 10**9)],
    ids=["suspect", "faulty", "future-alive"],
)
async def test_refutation_with_a_new_incarnation(
    cluster: MakeCluster, rumour: str, ahead: int
) -> None:
    c = await cluster(3)
    a = c.fakes[0]
    about_sut = {
        "source": a.address,
        "sourceIncarnationNumber": a.incarnation,
        "address": c.sut,
        "status": rumour,
        "incarnationNumber": c.sut_incarnation + ahead,
    }
    reply = await c.ping(a, c.ping_body(a, [about_sut]))
    assert reply.ok, reply.raw
    own = [ch for ch in reply.body["changes"] if ch["address"] == c.sut]
    assert len(own) == 1, reply.body
    refuted = own[0]
    assert refuted["status"] == "alive"
    # max(now, old + 1, rumour + 1): a rumour dated in the future is outbid too.
    assert refuted["incarnationNumber"] > c.sut_incarnation + ahead
    assert refuted["source"] == c.sut
    assert refuted["sourceIncarnationNumber"] == refuted["incarnationNumber"]
    assert (
        reply.body.get("sourceIncarnationNumber", refuted["incarnationNumber"])
        == (refuted["incarnationNumber"])
    )
    member = (await c.members())[c.sut]
    assert member == {
        "address": c.sut,
        "status": "alive",
        "incarnationNumber": refuted["incarnationNumber"],
    }
    # Gossip about an older incarnation is not refuted again.
    reply = await c.ping(a, c.ping_body(a, [about_sut]))
    assert reply.ok
    assert (await c.members())[c.sut]["incarnationNumber"] == refuted["incarnationNumber"]


def labels_with_sign(positive: bool) -> dict[str, str]:
    """Labels whose signed checksum (§12.3) is positive or negative."""
    for i in range(100):
        labels = {"zone": f"z{i}"}
        if (labels_checksum(labels) > 0) == positive:
            return labels
    raise AssertionError("no labels found")


async def test_update_rule_rows(cluster: MakeCluster) -> None:
    c = await cluster(9)
    sender, same_alive, suspect, older, tomb, leave, newer, wins, loses = c.fakes
    win_labels, lose_labels = labels_with_sign(True), labels_with_sign(False)
    unknown_tombstone = unreachable_address()
    unknown_faulty = unreachable_address()
    await exhaust_changes(c, sender)
    before = await c.members()
    batch = [
        change(same_alive, "alive", same_alive.incarnation),  # same: ignored
        change(suspect, "suspect", suspect.incarnation),  # higher precedence: accepted
        change(older, "faulty", older.incarnation - 1),  # older: rejected
        change(tomb, "faulty", tomb.incarnation, tombstone=True),  # tombstone flag
        change(leave, "leave", leave.incarnation),
        change(newer, "alive", newer.incarnation + 1),  # newer: accepted
        # Δ0, same status: go's label tie-break, a higher signed checksum wins.
        change(wins, "alive", wins.incarnation, labels=win_labels),
        change(loses, "alive", loses.incarnation, labels=lose_labels),
        {"address": unknown_tombstone, "status": "tombstone", "incarnationNumber": 1},
        {"address": unknown_faulty, "status": "faulty", "incarnationNumber": 7},
    ]
    origin = {"source": sender.address, "sourceIncarnationNumber": sender.incarnation}
    reply = await c.ping(sender, c.ping_body(sender, [{**origin, **ch} for ch in batch]))
    assert reply.ok, reply.raw
    members = await c.members()
    seen = {a: (m["status"], m["incarnationNumber"]) for a, m in members.items()}
    assert seen[same_alive.address] == ("alive", same_alive.incarnation)
    assert seen[suspect.address] == ("suspect", suspect.incarnation)
    assert seen[older.address] == ("alive", older.incarnation)
    assert seen[tomb.address] == ("tombstone", tomb.incarnation)
    assert seen[leave.address] == ("leave", leave.incarnation)
    assert seen[newer.address] == ("alive", newer.incarnation + 1)
    assert unknown_tombstone not in seen, "never create a member as a tombstone"
    assert seen[unknown_faulty] == ("faulty", 7)
    assert members[wins.address].get("labels") == win_labels
    assert "labels" not in members[loses.address]
    assert members[c.sut] == before[c.sut], "no refutation without a rumour about the SUT"

    # Rejected changes are not disseminated: only the accepted ones come back to others.
    other = c.fakes[1]
    reply = await c.ping(other, c.ping_body(other))
    echoed = {ch["address"]: ch for ch in reply.body["changes"]}
    assert set(echoed) == {
        suspect.address,
        tomb.address,
        leave.address,
        newer.address,
        wins.address,
        unknown_faulty,
    }
    # Tombstones travel as faulty + flag; the change keeps its source.
    assert echoed[tomb.address]["status"] == "faulty"
    assert echoed[tomb.address]["tombstone"] is True
    assert echoed[suspect.address]["source"] == sender.address
    assert echoed[wins.address]["labels"] == win_labels

    second = [
        change(suspect, "alive", suspect.incarnation),  # suspect -> alive needs Δ+1
        change(leave, "suspect", leave.incarnation),  # lower precedence at Δ0
        change(tomb, "alive", tomb.incarnation + 1),  # tombstone -> alive at Δ+1
        change(newer, "tombstone", newer.incarnation + 1),  # literal tombstone, Δ0
    ]
    reply = await c.ping(sender, c.ping_body(sender, second))
    assert reply.ok, reply.raw
    stats = await c.stats()
    members = {m["address"]: m for m in stats["membership"]["members"]}
    seen = {a: (m["status"], m["incarnationNumber"]) for a, m in members.items()}
    assert seen[suspect.address] == ("suspect", suspect.incarnation)
    assert seen[leave.address] == ("leave", leave.incarnation)
    assert seen[tomb.address] == ("alive", tomb.incarnation + 1)
    assert seen[newer.address] == ("tombstone", newer.incarnation + 1)
    assert stats["membership"]["checksum"] == go_checksum(members.values())


async def test_full_sync_then_exactly_one_reverse_join(cluster: MakeCluster) -> None:
    c = await cluster(3)
    a = c.fakes[0]
    loop = asyncio.get_running_loop()
    await exhaust_changes(c, a)
    since = loop.time()
    # Nothing to say and the same checksum: an empty answer, no join.
    reply = await c.ping(a, c.ping_body(a))
    assert reply.body["changes"] == []
    await asyncio.sleep(0.3)
    assert c.requests("/protocol/join", since) == []

    # A ping-req with a wrong checksum gets a full sync but starts no reverse sync.
    wrong = (c.model_checksum() + 1) % 2**32
    reply = await c.ping_req(a, c.fakes[1].address, checksum=wrong)
    assert reply.ok, reply.raw
    assert reply.body["pingStatus"] is True
    assert len(reply.body["changes"]) == len(c.model()), "a full sync"
    await asyncio.sleep(0.5)
    assert c.requests("/protocol/join", since) == [], "reverse full sync after a ping-req"

    # The fakes know one more member: the reverse full sync must bring it in.
    ghost: dict[str, Any] = {
        "address": unreachable_address(),
        "status": "faulty",
        "incarnationNumber": 9,
    }
    c.extra_members[ghost["address"]] = ghost
    since = loop.time()
    reply = await c.ping(a, c.ping_body(a, checksum=wrong))
    assert reply.ok
    full = {ch["address"]: ch for ch in reply.body["changes"]}
    assert set(full) == {f.address for f in c.fakes} | {c.sut}, "full membership"
    for member in c.model()[:-1]:
        got = full[member["address"]]
        assert got["status"] == member["status"]
        assert got["incarnationNumber"] == member["incarnationNumber"]
        assert got["source"] == c.sut
    await c.wait_for(lambda: bool(c.requests("/protocol/join", since)), 3.0, "reverse join")
    await asyncio.sleep(0.5)
    joins = c.requests("/protocol/join", since)
    assert [j.fake for j in joins] == [a.address], "exactly one join, to the pinger"
    assert joins[0].body["incarnationNumber"] == c.sut_incarnation
    members = await c.members()
    assert members[ghost["address"]]["status"] == "faulty"
    # Unlike bootstrap join lists, what a reverse full sync learns is disseminated.
    other = c.fakes[1]
    reply = await c.ping(other, c.ping_body(other))
    assert ghost["address"] in {ch["address"] for ch in reply.body["changes"]}


async def test_reverse_full_syncs_are_limited_to_five(cluster: MakeCluster) -> None:
    c = await cluster(6)
    holders, extra = c.fakes[:5], c.fakes[5]
    loop = asyncio.get_running_loop()
    await exhaust_changes(c, extra)
    for fake in holders:
        fake.join_mode = Mode.HOLD
    since = loop.time()
    wrong = (c.model_checksum() + 1) % 2**32
    for fake in holders:
        reply = await c.ping(fake, c.ping_body(fake, checksum=wrong))
        assert len(reply.body["changes"]) == len(c.model()), "a full sync"
    await c.wait_for(lambda: all(f.holding == 1 for f in holders), 3.0, "five held reverse joins")
    # Past go's 1 s reverse-sync timeout: with it, slots would be free again here.
    await asyncio.sleep(1.2)
    for _ in range(3):
        reply = await c.ping(extra, c.ping_body(extra, checksum=wrong))
        assert len(reply.body["changes"]) == len(c.model()), "still a full sync"
    await asyncio.sleep(0.5)
    joins = c.requests("/protocol/join", since)
    assert sorted(j.fake for j in joins) == sorted(f.address for f in holders), (
        "no sixth concurrent reverse full sync"
    )

    for fake in holders:
        fake.join_mode = Mode.ANSWER
        fake.release()
    await c.wait_for(lambda: all(f.holding == 0 for f in holders), 3.0, "released joins")
    await asyncio.sleep(0.2)  # the SUT applies the answers and frees its slots
    since = loop.time()
    reply = await c.ping(extra, c.ping_body(extra, checksum=wrong))
    assert len(reply.body["changes"]) == len(c.model())
    await c.wait_for(
        lambda: bool(c.requests("/protocol/join", since, fakes=[extra])), 3.0, "a join again"
    )
