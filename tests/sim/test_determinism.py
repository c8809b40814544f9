"""Same seed, same story: a simulation replays exactly, event for event.

Each run gets a fresh looptime loop starting at time 0, so even float rounding of
loop times is identical between runs.
"""

from __future__ import annotations

import asyncio
from typing import NamedTuple

import looptime

from ringpop.options import Options
from ringpop.testing import Observation, SimCluster


class Outcome(NamedTuple):
    events: list[Observation]
    checksums: list[tuple[float, tuple[int, ...]]]
    calls: int
    dropped: int


async def story(seed: int) -> Outcome:
    cluster = SimCluster(16, seed=seed, options=Options(faulty_period=6.0, tombstone_period=4.0))
    checksums: list[tuple[float, tuple[int, ...]]] = []

    async def sample() -> None:
        while True:
            checksums.append((cluster.now(), tuple(n.checksum for n in cluster.nodes.values())))
            await asyncio.sleep(0.25)

    sampler = asyncio.ensure_future(sample())
    a = cluster.addresses
    # Lossy links exercise ping-req and the loss dice; jitter exercises the latency dice.
    cluster.network.set_loss(a[1], a[2], 0.3)
    cluster.network.set_loss(a[4], a[9], 0.5, symmetric=False)
    await cluster.bootstrap()
    await cluster.run_for(3)
    cluster.network.pause(a[5])
    await cluster.run_for(4)
    cluster.network.resume(a[5])
    await cluster.crash(a[11])
    cluster.network.partition(a[:3], a[3:])
    await cluster.run_for(8)
    cluster.network.heal_partition()
    await cluster.healers[a[0]].heal()
    await cluster.run_for(20)
    sampler.cancel()
    await cluster.stop()
    stats = cluster.network.stats
    return Outcome(list(cluster.observations), checksums, stats.calls, stats.messages_dropped)


def run(seed: int) -> Outcome:
    loop = looptime.new_event_loop(noop_cycles=1)
    try:
        return loop.run_until_complete(story(seed))
    finally:
        loop.close()


def test_same_seed_same_outcome() -> None:
    first, second = run(7), run(7)
    assert len(first.events) > 100
    assert first.events == second.events
    assert first.checksums == second.checksums
    assert (first.calls, first.dropped) == (second.calls, second.dropped)
    # The story really had faults in it: suspicions, a death, a final agreement.
    statuses = {e.status for e in first.events}
    assert {"suspect", "faulty", "tombstone"} <= statuses
    last = first.checksums[-1][1]
    assert len(set(last[:11] + last[12:])) == 1


def test_another_seed_another_outcome() -> None:
    assert run(7).events != run(8).events
