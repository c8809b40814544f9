"""Whole-cluster simulations in virtual time: convergence, failure detection, healing.

Every scenario runs full Ringpop nodes (the production constructor) over a MemoryNetwork
(2 ms latency + up to 2 ms jitter), bootstrapped from a static host list, with
seeded randomness; ``looptime`` fast-forwards the loop, so minutes of cluster life
take a fraction of a second. Figures (virtual seconds) go to ``record_property``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

import msgspec
import pytest

from ringpop.membership.status import Status
from ringpop.options import Options
from ringpop.testing import SimCluster

# One no-op loop cycle before each time jump (looptime's default is 42) is enough for
# code without I/O and makes big clusters 2-4x faster; outcomes are identical.
pytestmark = pytest.mark.looptime(noop_cycles=1)

Record = Callable[[str, object], None]

SUSPECT = 5.0
FAULTY = 20.0
TOMBSTONE = 10.0
EPS = 0.001


@pytest.mark.parametrize(("size", "seed"), [(20, 3), (50, 1)])
async def test_cluster_converges_to_one_checksum(
    size: int, seed: int, record_property: Record
) -> None:
    cluster = SimCluster(size, seed=seed)
    results = await cluster.bootstrap()
    joined_at = cluster.now()
    assert all(node.ready for node in cluster.nodes.values())
    # Everyone joined its join_size in one round of min(6, n - 1) parallel joins.
    assert {(r.rounds, r.attempts, r.alone) for r in results} == {(1, 6, False)}
    converged_at = await cluster.wait_for(cluster.converged, timeout=30, step=0.01)
    record_property("virtual_convergence_s", converged_at)
    assert converged_at < 5.0
    node = cluster.nodes[cluster.addresses[0]]
    assert len(node.members) == size
    assert node.ring.servers() == sorted(cluster.addresses)
    # Stable afterwards: nobody suspects anybody on a healthy network.
    await cluster.run_for(10)
    assert cluster.converged()
    assert {e.status for e in cluster.observations if e.time > joined_at} <= {Status.ALIVE.value}
    assert all(n.protocol_rate == pytest.approx(0.2) for n in cluster.nodes.values())
    assert cluster.network.handler_failures == []
    await cluster.stop()


async def test_crashed_node_goes_suspect_faulty_tombstone_evicted(record_property: Record) -> None:
    options = Options(suspect_period=SUSPECT, faulty_period=FAULTY, tombstone_period=TOMBSTONE)
    cluster = SimCluster(20, seed=5, options=options)
    await cluster.bootstrap()
    await cluster.wait_for(cluster.converged, timeout=30)
    await cluster.run_for(5)
    victim = cluster.addresses[7]
    others = cluster.live(exclude=[victim])
    crashed_at = cluster.now()
    await cluster.crash(victim)
    tombstoned = await cluster.wait_for(
        lambda: cluster.status_everywhere(victim, others) == {Status.TOMBSTONE.value},
        timeout=120,
        step=0.1,
    )
    # Evictions are not events: poll finely around the time they are due.
    first_tombstone = min(seen_at(cluster, others, victim, "tombstone"))
    await asyncio.sleep(first_tombstone + TOMBSTONE - 0.05 - tombstoned)
    evicted_at: dict[str, float] = {}
    while len(evicted_at) < len(others):
        for observer in others:
            if observer not in evicted_at and victim not in cluster.nodes[observer].members:
                evicted_at[observer] = cluster.now()
        await asyncio.sleep(0.001)

    def seen(status: str) -> dict[str, float]:
        times = seen_at(cluster, others, victim, status)
        return {o: t - crashed_at for o, t in zip(others, times, strict=True)}

    suspect, faulty, tombstone = seen("suspect"), seen("faulty"), seen("tombstone")
    evicted = {o: t - crashed_at for o, t in evicted_at.items()}
    first = {
        name: min(times.values()) for name, times in [("suspect", suspect), ("faulty", faulty)]
    }
    first["tombstone"] = min(tombstone.values())
    for name, times in [
        ("suspect", suspect),
        ("faulty", faulty),
        ("tombstone", tombstone),
        ("evicted", evicted),
    ]:
        record_property(f"{name}_first_s", round(min(times.values()), 3))
        record_property(f"{name}_last_s", round(max(times.values()), 3))
    # Detection: a ping (1.5 s) and a ping-req round (1.5 s) after the victim's turn.
    assert first["suspect"] < 8.0
    assert max(suspect.values()) - first["suspect"] < 2.0
    # The first suspecter's timer fires exactly one suspect period later; nobody waits
    # longer than its own timer, gossip brings it earlier to the rest.
    assert first["faulty"] == pytest.approx(first["suspect"] + SUSPECT, abs=EPS)
    assert first["tombstone"] == pytest.approx(first["faulty"] + FAULTY, abs=EPS)
    for observer in others:
        assert faulty[observer] <= suspect[observer] + SUSPECT + EPS
        assert tombstone[observer] <= faulty[observer] + FAULTY + EPS
        # Eviction is local only: exactly one tombstone period after the tombstone.
        assert evicted[observer] == pytest.approx(tombstone[observer] + TOMBSTONE, abs=0.002)
    assert max(faulty.values()) - first["faulty"] < 2.0
    assert max(tombstone.values()) - first["tombstone"] < 2.0
    assert len(cluster.checksums(others)) == 1
    # No false positives about anybody else.
    assert {
        e.status for e in cluster.observations if e.subject != victim and e.time > crashed_at
    } <= {Status.ALIVE.value}
    assert cluster.network.handler_failures == []
    await cluster.stop()


def seen_at(cluster: SimCluster, observers: list[str], subject: str, status: str) -> list[float]:
    """When each observer first accepted ``subject`` as ``status``."""
    times = [cluster.first_observation(o, subject, status) for o in observers]
    assert None not in times, f"not every node saw {subject} {status}"
    return [t for t in times if t is not None]


@pytest.mark.parametrize(
    ("pause", "ping_timeout", "suspected"),
    [
        (3.0, 1.0, True),
        (4.0, 1.5, True),
        # With the default timeouts a ping-req can only fail after the ping timeout
        # plus the helper's ping timeout (3 s) of silence: a shorter pause is never
        # suspected, and a 3.0 s one only by a ping sent in the last hop before it.
        (2.9, 1.5, False),
    ],
)
async def test_paused_node_is_suspected_and_refutes(
    pause: float, ping_timeout: float, suspected: bool, record_property: Record
) -> None:
    cluster = SimCluster(20, seed=2, options=Options(ping_timeout=ping_timeout))
    await cluster.bootstrap()
    await cluster.wait_for(cluster.converged, timeout=30)
    await cluster.run_for(2)
    victim = cluster.addresses[3]
    before = cluster.nodes[victim].local.incarnation
    paused_at = cluster.now()
    cluster.network.pause(victim)
    await cluster.run_for(pause)
    cluster.network.resume(victim)
    converged_at = await cluster.wait_for(cluster.converged, timeout=10, step=0.01)
    await cluster.run_for(SUSPECT + 2)  # past any suspect timer
    assert cluster.converged()
    about = [e for e in cluster.observations if e.subject == victim and e.time >= paused_at]
    suspects = [e for e in about if e.status == "suspect"]
    assert not [e for e in about if e.status in ("faulty", "tombstone", "leave")]
    after = cluster.nodes[victim].local.incarnation
    if suspected:
        assert suspects
        record_property("first_suspect_s", round(suspects[0].time - paused_at, 3))
        record_property("reconverged_s", round(converged_at - paused_at, 3))
        assert all(e.incarnation == before for e in suspects)
        assert after > before  # refuted by reincarnating
        local = cluster.nodes[victim].local
        assert all(cluster.nodes[a].members.get(victim) == local for a in cluster.addresses)
    else:
        assert suspects == []
        assert after == before
    assert cluster.network.handler_failures == []
    await cluster.stop()


async def test_partition_then_heal_pass_merges(record_property: Record) -> None:
    # Heal passes on demand only: no periodic healer, no fast heal.
    options = Options(heal_enabled=False, fast_heal_enabled=False)
    cluster = SimCluster(20, seed=11, options=options)
    await cluster.bootstrap()
    await cluster.wait_for(cluster.converged, timeout=30)
    left, right = cluster.addresses[:10], cluster.addresses[10:]
    cluster.network.partition(left, right)
    split_at = cluster.now()

    def split() -> bool:
        return all(
            cluster.status_everywhere(a, side) == {Status.FAULTY.value}
            for a, side in [(x, right) for x in left] + [(x, left) for x in right]
        )

    split_done = await cluster.wait_for(split, timeout=60, step=0.1)
    record_property("both_sides_faulty_s", round(split_done - split_at, 3))
    await cluster.run_for(2)
    assert len(cluster.checksums(left)) == 1
    assert len(cluster.checksums(right)) == 1
    assert len(cluster.checksums()) == 2
    # The network is back, but gossip never pings faulty members: still two clusters.
    cluster.network.heal_partition()
    await cluster.run_for(5)
    assert len(cluster.checksums()) == 2
    healed_at = cluster.now()
    targets = await cluster.healers[left[0]].heal()
    assert len(targets) == 1
    assert targets[0] in right
    # That pass was the reincarnation phase (the members the sides disagree about
    # refute); as with ringpop-node and ringpop-go, whose heal pings' responses are
    # not applied, a later pass merges: run one a second, as many as it takes.
    for _ in range(10):
        await cluster.run_for(1)
        if cluster.converged():
            break
        await cluster.healers[left[0]].heal()
    converged_at = await cluster.wait_for(cluster.converged, timeout=30, step=0.01)
    record_property("heal_to_one_checksum_s", round(converged_at - healed_at, 3))
    assert converged_at - healed_at < 10
    await cluster.run_for(SUSPECT + 2)
    assert cluster.converged()
    assert cluster.network.handler_failures == []
    await cluster.stop()


@pytest.mark.parametrize(("size", "seed"), [(20, 1), (50, 2)])
async def test_piggyback_reaches_everyone_in_log_n_periods(
    size: int, seed: int, record_property: Record
) -> None:
    cluster = SimCluster(size, seed=seed)
    await cluster.bootstrap()
    await cluster.wait_for(cluster.converged, timeout=30)
    # Wait until every bootstrap change has used up its maxP: nothing pending anywhere.
    await cluster.wait_for(
        lambda: sum(len(n.disseminator) for n in cluster.nodes.values()) == 0, timeout=30
    )
    source = cluster.addresses[0]
    node = cluster.nodes[source]
    joins_before = cluster.network.stats.by_endpoint["/protocol/join"]
    node.set_local_labels({"zone": "b"})
    incarnation = node.local.incarnation
    started = cluster.now()

    def everywhere() -> bool:
        return all(
            (m := cluster.nodes[a].members.get(source)) is not None and m.incarnation == incarnation
            for a in cluster.addresses
        )

    done = await cluster.wait_for(everywhere, timeout=30, step=0.001)
    periods = (done - started) / node.options.min_protocol_period
    record_property("periods", round(periods, 1))
    assert periods <= 2 * math.log2(size)
    # Piggybacking alone did it: no full sync (they go with a reverse join) was needed.
    assert cluster.network.stats.by_endpoint["/protocol/join"] == joins_before
    await cluster.stop()


async def test_admin_endpoints_over_the_simulated_network() -> None:
    cluster = SimCluster(8, seed=4)
    await cluster.bootstrap()
    await cluster.wait_for(cluster.converged, timeout=30)
    client = cluster.network.membership("10.9.9.9:3000")  # an operator's admin tool
    a = cluster.addresses

    async def admin(address: str, endpoint: str, body: bytes = b"") -> dict[str, object]:
        answer = msgspec.json.decode(await client.call(address, endpoint, body, timeout=2))
        assert isinstance(answer, dict)
        return answer

    stats = await admin(a[0], "/admin/stats")
    membership = stats["membership"]
    assert isinstance(membership, dict)
    assert membership["checksum"] == cluster.nodes[a[0]].checksum
    owners = {(await admin(x, "/admin/lookup", b'{"key": "user:42"}'))["dest"] for x in a}
    assert len(owners) == 1
    # Leave: everybody sees it, the leaver leaves every ring; join: back everywhere.
    await admin(a[2], "/admin/member/leave")
    others = cluster.live(exclude=[a[2]])
    await cluster.wait_for(
        lambda: cluster.status_everywhere(a[2], others) == {Status.LEAVE.value}, timeout=10
    )
    assert all(a[2] not in cluster.nodes[x].ring.servers() for x in others)
    assert (await admin(a[2], "/admin/member/join"))["status"] == "rejoined"
    await cluster.wait_for(cluster.converged, timeout=10)
    # Gossip stop/tick: a stopped node only pings when told to.
    await admin(a[3], "/admin/gossip/stop")
    assert (await admin(a[3], "/admin/gossip/status"))["status"] == "stopped"
    before = cluster.nodes[a[3]].ping_count
    await cluster.run_for(2)
    assert cluster.nodes[a[3]].ping_count == before
    tick = await admin(a[3], "/admin/gossip/tick")
    assert tick["checksum"] == cluster.nodes[a[3]].checksum
    assert cluster.nodes[a[3]].ping_count == before + 1
    await admin(a[3], "/admin/gossip/start")
    # A heal pass on demand finds nothing to heal in a healthy cluster.
    assert (await admin(a[0], "/admin/healpartition/disco"))["targets"] == []
    assert cluster.network.handler_failures == []
    await cluster.stop()
