"""Fast heal in virtual time: a partition of 35 s with the default periods, healed.

With fast heal (on by default) one checksum with every member alive follows within
5 s of the network returning, through a probe or a contact, and nobody declares a
member of its own side faulty, tombstone or evicted; with only the periodic healer
(30 s, probability 3/N) the two sides normally stay apart for longer. The
simulated network drops traffic across the split, so this tests the heal logic, not
TCP's backlog (``tests/cluster/test_partition_heal.py``).
"""

from __future__ import annotations

import pytest

from ringpop.membership.status import Status
from ringpop.options import Options
from ringpop.testing import Observation, SimCluster

pytestmark = pytest.mark.looptime(noop_cycles=1)


def _given_up(cluster: SimCluster, left: list[str], right: list[str]) -> bool:
    return all(
        cluster.status_everywhere(a, side) <= {Status.FAULTY.value, Status.TOMBSTONE.value, None}
        for a, side in [(x, right) for x in left] + [(x, left) for x in right]
    )


def _alive_everywhere(cluster: SimCluster) -> bool:
    return cluster.converged() and all(
        sum(1 for m in node.members if m.status == Status.ALIVE) == len(cluster.addresses)
        for node in cluster.nodes.values()
    )


async def _split_and_heal(
    size: int, seed: int, options: Options
) -> tuple[SimCluster, float, list[str], list[str]]:
    cluster = SimCluster(size, seed=seed, options=options)
    await cluster.bootstrap()  # starts every node's healer, fast heal included
    await cluster.wait_for(cluster.converged, timeout=30)
    half = size // 2
    left, right = cluster.addresses[:half], cluster.addresses[half:]
    cluster.network.partition(left, right)
    # 35 s: the periodic healer's passes (30 s after start, then every 30 s) do not
    # coincide with the network's return.
    await cluster.run_for(35)
    # Failed probes wait for ping-req timeouts (5 s each), so giving every member of
    # the other side up can take a little longer than 30 s.
    await cluster.wait_for(lambda: _given_up(cluster, left, right), timeout=60, step=0.5)
    cluster.network.heal_partition()
    healed_at = cluster.now()
    return cluster, healed_at, left, right


def _wrong(cluster: SimCluster, sides: list[list[str]], since: float) -> list[Observation]:
    side_of = {a: i for i, group in enumerate(sides) for a in group}
    return [
        e
        for e in cluster.observations
        if e.time >= since
        and e.status in (Status.FAULTY.value, Status.TOMBSTONE.value)
        and side_of[e.observer] == side_of[e.subject]
    ]


@pytest.mark.parametrize(("size", "seed"), [(6, 1), (6, 2), (6, 3), (20, 4)])
async def test_fast_heal_after_30s_partition(size: int, seed: int) -> None:
    cluster, healed_at, left, right = await _split_and_heal(size, seed, Options())
    converged_at = await cluster.wait_for(lambda: _alive_everywhere(cluster), timeout=5, step=0.05)
    assert converged_at - healed_at < 5
    await cluster.run_for(10)  # suspect period and more: nothing wrong follows
    assert _alive_everywhere(cluster)
    assert _wrong(cluster, [left, right], 0.0) == []
    assert sum(h.fast.merged for h in cluster.healers.values()) >= 1
    await cluster.stop()


async def test_fast_heal_after_the_sides_evicted_each_other() -> None:
    """The fault bench's periods (5 s each): after 30 s each side has evicted the other,
    so only probes of (and contacts from) evicted members can heal it quickly."""
    options = Options(suspect_period=5.0, faulty_period=5.0, tombstone_period=5.0)
    cluster, healed_at, left, right = await _split_and_heal(6, 5, options)
    assert all(cluster.status_everywhere(a, right) == {None} for a in left)
    converged_at = await cluster.wait_for(lambda: _alive_everywhere(cluster), timeout=5, step=0.05)
    assert converged_at - healed_at < 5
    assert sum(h.fast.merged for h in cluster.healers.values()) >= 1
    await cluster.run_for(10)
    assert _alive_everywhere(cluster)
    assert _wrong(cluster, [left, right], 0.0) == []
    await cluster.stop()


async def test_without_fast_heal_the_sides_stay_apart_for_a_while() -> None:
    options = Options(fast_heal_enabled=False)
    cluster, _, _, _ = await _split_and_heal(6, 1, options)
    await cluster.run_for(5)
    assert len(cluster.checksums()) == 2
    assert sum(h.fast.started for h in cluster.healers.values()) == 0
    await cluster.stop()


async def test_a_self_evicted_node_still_running_is_not_resurrected_nor_probed_forever() -> None:
    """A node that left (self-eviction marks it faulty) but still serves while it drains:
    a probe merges with it, finds it says so itself, and stops probing it."""
    cluster = SimCluster(4, seed=7, options=Options())
    await cluster.bootstrap()  # starts every node's healer, fast heal included
    await cluster.wait_for(cluster.converged, timeout=30)
    leaving, others = cluster.addresses[0], cluster.addresses[1:]
    await cluster.ringpops[leaving].self_evict()
    await cluster.wait_for(
        lambda: cluster.status_everywhere(leaving, others) == {Status.FAULTY.value}, timeout=10
    )
    await cluster.run_for(20)
    assert cluster.status_everywhere(leaving, others) == {Status.FAULTY.value}
    started = sum(cluster.healers[a].fast.started for a in others)
    assert started <= len(others)  # about one probe each, then no more
    assert all(leaving not in cluster.healers[a].fast.down for a in others)
    await cluster.stop()
