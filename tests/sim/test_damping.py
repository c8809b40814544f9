"""Flap damping on simulated nodes: scores, damp-req confirmation, ring eviction."""

from __future__ import annotations

import msgspec
import pytest

from ringpop.admin import stats_response
from ringpop.membership.damper import Damper
from ringpop.membership.network import RemoteError
from ringpop.messages import DampReqResponse, StatsResponse, decode, encode
from ringpop.options import Options
from ringpop.testing import SimCluster

pytestmark = pytest.mark.looptime(noop_cycles=1)

FLAPPY = Options(
    ping_timeout=0.2,
    ping_req_timeout=0.3,
    suspect_period=30.0,  # paused members are suspected, never declared faulty
    damp_req_interval=2.0,
    damp_suppress_duration=20.0,
    damp_evict_from_ring=True,
    damped_max_percentage=20.0,
)


async def _dampers(cluster: SimCluster) -> dict[str, Damper]:
    """Every node's own damper: the facade builds and starts one (damping is on by default)."""
    await cluster.start()
    dampers = cluster.dampers
    assert set(dampers) == set(cluster.addresses)
    return dampers


async def test_flapping_member_is_damped_and_leaves_the_ring() -> None:
    cluster = SimCluster(6, options=FLAPPY)
    dampers = await _dampers(cluster)
    await cluster.bootstrap()
    await cluster.wait_for(cluster.converged, timeout=10)
    flapper, watcher = cluster.addresses[5], cluster.addresses[0]
    for _ in range(8):  # each pause: suspected, then refuted -> two penalties per observer
        cluster.network.pause(flapper)
        await cluster.run_for(1.5)
        cluster.network.resume(flapper)
        await cluster.run_for(1.5)
    assert dampers[watcher].score(flapper) >= FLAPPY.damp_suppress_limit
    assert flapper in dampers[watcher].scores.flappers
    damped_at = await cluster.wait_for(
        lambda: any(flapper in d.damped for d in dampers.values()), timeout=10
    )
    damping = next(a for a, d in dampers.items() if flapper in d.damped)
    assert not cluster.nodes[damping].ring.has_server(flapper)
    assert flapper not in {cluster.nodes[damping].ring.lookup(f"key-{i}") for i in range(500)}
    # Other members were never penalised into flapping.
    assert dampers[watcher].scores.flappers == {flapper}
    # While it still flaps (score above the reuse limit), it stays damped: each
    # expiry is followed by a new confirmation.
    await cluster.run_for(FLAPPY.damp_suppress_duration + 3 * FLAPPY.damp_req_interval)
    assert flapper in dampers[damping].damped
    assert not cluster.nodes[damping].ring.has_server(flapper)
    # Once the scores have decayed below the suppress limit (half-life 300 s), the
    # damp-req answers no longer confirm it (§10: all scores >= suppress), so when
    # the damping runs out it is back in the ring.
    back_at = await cluster.wait_for(
        lambda: cluster.nodes[damping].ring.has_server(flapper), timeout=900, step=1.0
    )
    assert dampers[damping].score(flapper) < FLAPPY.damp_suppress_limit
    assert back_at - damped_at >= FLAPPY.damp_suppress_duration
    assert cluster.nodes[damping].ring.lookup_n(flapper, 6)  # the ring is whole again
    assert cluster.nodes[damping].ring.server_count == 6
    await cluster.stop()


async def test_damp_req_handler_and_stats() -> None:
    cluster = SimCluster(3, options=FLAPPY)
    dampers = await _dampers(cluster)
    await cluster.bootstrap()
    a, b, c = cluster.addresses
    node = cluster.nodes[a]
    dampers[a].scores.penalize(b, node.clock.monotonic())
    handler = dampers[a].handlers()["/protocol/damp-req"]
    answer = decode(
        await handler(b'{"flappers": ["%s", "10.9.9.9:1"]}' % b.encode()), DampReqResponse
    )
    assert [(s.member, s.damp_score) for s in answer.scores] == [(b, 500)]
    with pytest.raises(RemoteError) as missing:
        await handler(b"{}")
    assert missing.value.type == "ringpop.server.damp-req.bad-request.flappers-required"
    with pytest.raises(RemoteError) as not_array:
        await handler(b'{"flappers": "x"}')
    assert not_array.value.type == "ringpop.server.damp-req.bad-request.flappers-array"
    stats = decode(encode(stats_response(node, 0.0, dampers[a])), StatsResponse)
    scores = {m.address: m.damp_score for m in stats.membership.members}
    assert scores[b] == 500
    assert scores[c] == 0
    assert scores[a] is msgspec.UNSET  # no score for the local member
    await cluster.stop()
