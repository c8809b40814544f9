"""What lets 10,000 simulated nodes fit one process (docs/scale.md), checked for
sameness: sharing must change no result.

* the ring built in one sorted pass (a batch of many servers) is the ring built
  server by server: every point, tie, owner, lookup and both checksums, with tied
  points (servers sharing an identity hash to the same points);
* member lists holding interned members (shared between lists) keep the checksum
  of the same members computed from scratch, in both flavours, through updates and
  evictions;
* a warm start is a converged cluster (one checksum, every node knows every node
  alive, nothing to piggyback) through the join response's path, and replays: the
  same seed gives the same figures from it.
"""

from __future__ import annotations

import random

import looptime
import pytest

from ringpop.clock import ManualClock
from ringpop.membership.checksum import membership_checksum
from ringpop.membership.memberlist import MemberList
from ringpop.membership.status import Status
from ringpop.messages import Change
from ringpop.ring import HashRing
from ringpop.testing import SimCluster
from ringpop.testing.scenarios import Outcome, run_forked, run_scenario, scale_options


def _ring_state(ring: HashRing) -> tuple[object, ...]:
    keys = [f"key-{i}" for i in range(2000)]
    return (
        ring.points(),
        ring.checksum,
        ring.replica_checksum,
        [ring.lookup(k) for k in keys],
        [ring.lookup_n(k, 3) for k in keys[:200]],
        ring.servers(),
        [ring.identity_of(a) for a in ring.servers()],
    )


@pytest.mark.parametrize("points", [1, 4, 100])
def test_bulk_built_ring_is_the_incremental_ring(points: int) -> None:
    rng = random.Random(points)
    servers: list[tuple[str, str | None]] = [
        (f"10.1.{i // 200}.{i % 200}:31", None) for i in range(300)
    ]
    # Two pairs share an identity: their points tie (same hashes).
    servers[5] = (servers[5][0], "shared-a")
    servers[77] = (servers[77][0], "shared-a")
    servers[120] = (servers[120][0], "shared-b")
    servers[250] = (servers[250][0], "shared-b")
    rng.shuffle(servers)
    one_by_one = HashRing(points)
    for address, identity in servers:
        one_by_one.add_server(address, identity)
    bulk = HashRing(points)
    added, removed = bulk.add_remove_servers(servers, [])
    assert sorted(added) == sorted(a for a, _ in servers)
    assert removed == []
    assert _ring_state(bulk) == _ring_state(one_by_one)
    hashes = [h for h, _, _ in bulk.points()]
    assert len(set(hashes)) == len(hashes) - 2 * points  # the two shared identities tie
    # Later changes behave the same on both (removal of a tied server, re-adding).
    victims = [*[a for a, i in servers if i == "shared-a"][:1], servers[3][0]]
    for ring in (one_by_one, bulk):
        ring.add_remove_servers([], victims)
    assert _ring_state(bulk) == _ring_state(one_by_one)
    # A big batch into a non-empty ring (after removals) also goes the bulk way.
    more = [(f"10.2.{i // 200}.{i % 200}:31", None) for i in range(400)]
    for address, identity in more:
        one_by_one.add_server(address, identity)
    bulk.add_remove_servers(more, [])
    assert _ring_state(bulk) == _ring_state(one_by_one)
    pytest.importorskip("numpy")  # lookup_many needs it (an extra)
    keys = [f"k{i}" for i in range(500)]
    assert bulk.lookup_many(keys) == [one_by_one.lookup(k) for k in keys]


@pytest.mark.parametrize("flavour", ["go", "node"])
def test_interned_members_keep_the_checksum(flavour: str) -> None:
    rng = random.Random(3)
    lists = [
        MemberList(
            f"10.0.0.{i}:3000",
            clock=ManualClock(),
            rng=random.Random(i),
            checksum_flavour=flavour,  # type: ignore[arg-type]
        )
        for i in range(1, 4)
    ]
    statuses = ["alive", "suspect", "faulty", "leave", "tombstone"]
    for step in range(400):
        address = f"10.9.{rng.randrange(3)}.{rng.randrange(30)}:3000"
        labels = {"zone": "a"} if rng.random() < 0.1 else {}
        change = Change(
            address=address,
            status=rng.choice(statuses),
            incarnation_number=1000 + step // 3,
            labels=labels,
        )
        for members in lists:
            members.apply([change])
            if rng.random() < 0.05:
                members.evict(address)
    for members in lists:
        assert members.checksum == membership_checksum(members.members(), flavour)  # type: ignore[arg-type]
    # The same state in two lists is one object (no labels), not a copy.
    shared = [
        (a.get(m.address), m)
        for a, b in [(lists[0], lists[1])]
        for m in b.members()
        if m.status != Status.TOMBSTONE and not m.labels
    ]
    assert any(x is y for x, y in shared)


def _warm(size: int, seed: int) -> tuple[SimCluster, list[int]]:
    async def go() -> tuple[SimCluster, list[int]]:
        cluster = SimCluster(size, seed=seed, options=scale_options(), record=False)
        await cluster.warm_start()
        state = [len(cluster.checksums())]
        assert cluster.converged()
        assert all(len(rp.node.disseminator) == 0 for rp in cluster.ringpops.values())
        assert all(rp.node.ring.server_count == size for rp in cluster.ringpops.values())
        await cluster.run_for(3)
        state.append(len(cluster.checksums()))
        await cluster.stop()
        return cluster, state

    loop = looptime.new_event_loop(noop_cycles=1)
    try:
        return loop.run_until_complete(go())
    finally:
        loop.close()


def test_warm_start_is_converged_and_stays_so() -> None:
    _cluster, checksums = _warm(60, seed=2)
    assert checksums == [1, 1]


def _run(name: str, size: int, seed: int) -> Outcome:
    loop = looptime.new_event_loop(noop_cycles=1)
    try:
        return loop.run_until_complete(run_scenario(name, size, seed, scale_options(), warm=True))
    finally:
        loop.close()


def test_warm_start_same_seed_same_figures() -> None:
    first = _run("kill", 40, seed=5)
    again = _run("kill", 40, seed=5)
    other = _run("kill", 40, seed=6)

    def replayable(o: Outcome) -> tuple[object, ...]:
        traffic = {k: v for k, v in o.traffic.items() if "cpu" not in k}
        return o.figures, o.theory, traffic, o.curves

    assert replayable(first) == replayable(again)
    assert first.figures != other.figures or first.curves != other.curves
    assert first.cost["warm"] == 1.0
    with pytest.raises(ValueError, match="cold start"):
        _run("cold", 10, seed=1)


def test_forked_scenarios_give_the_figures_of_fresh_warm_runs() -> None:
    options = scale_options()
    loop = looptime.new_event_loop(noop_cycles=1)
    try:
        forked = loop.run_until_complete(run_forked(["kill", "kill1pct"], 40, 5, options))
    finally:
        loop.close()
    fresh = [_run("kill", 40, seed=5), _run("kill1pct", 40, seed=5)]
    for a, b in zip(forked, fresh, strict=True):
        assert a.figures == b.figures
        assert a.curves == b.curves
        assert a.theory == b.theory
        assert "settle_cpu_s" in a.cost
