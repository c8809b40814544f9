"""One-way loss at the message layer, in virtual time (docs/membership.md#late-news).

Six nodes, 5 s periods. For 20 s every request from n4-n6 to n1-n3 is lost, and so is
every answer from n4-n6 to a request of n1-n3: n1-n3 still reach n4-n6 with requests,
nothing comes back. Over TCP an asymmetric drop soon breaks connections both ways (the
fault suite's asymmetric partition); this is the gray failure above TCP, where requests
pass and only the answers are lost.

With the spec's protocol period (``background_probes=0``) each probe of the far side
costs a ping plus a ping-req timeout, so members of the same side may exchange nothing
for longer than the suspect period, and a suspicion heard from across the cut cannot
reach its subject to be refuted: same-side members are declared faulty (7 of 12 seeds
when this was written). With background probes the period goes on while those probes
wait, and nobody on either side is declared faulty or tombstone by its own side,
during the fault or after it.
"""

from __future__ import annotations

import pytest

from ringpop.membership.status import Status
from ringpop.options import Options
from ringpop.testing import Observation, SimCluster

pytestmark = pytest.mark.looptime(noop_cycles=1)

GONE = (Status.FAULTY.value, Status.TOMBSTONE.value)


async def _one_way(seed: int, options: Options) -> list[Observation]:
    """Same-side faulty/tombstone sightings over the fault and 20 s after it."""
    cluster = SimCluster(6, seed=seed, options=options)
    await cluster.bootstrap()
    await cluster.wait_for(cluster.converged, timeout=30)
    left, right = cluster.addresses[:3], cluster.addresses[3:]
    for sender in right:
        for receiver in left:
            cluster.network.set_loss(sender, receiver, 1.0, symmetric=False)
    start = cluster.now()
    await cluster.run_for(20)
    cluster.network.clear_faults()
    await cluster.run_for(20)
    await cluster.stop()
    side = {a: 0 for a in left} | {a: 1 for a in right}
    return [
        seen
        for seen in cluster.observations
        if seen.time >= start and seen.status in GONE and side[seen.observer] == side[seen.subject]
    ]


@pytest.mark.parametrize("lifeguard", [False, True])
@pytest.mark.parametrize("seed", range(1, 7))
async def test_background_probes_keep_each_side_whole(seed: int, lifeguard: bool) -> None:
    options = Options(
        suspect_period=5.0,
        faulty_period=5.0,
        tombstone_period=5.0,
        background_probes=3,
        lifeguard_enabled=lifeguard,
    )
    assert await _one_way(seed, options) == []
