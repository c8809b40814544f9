"""Lifeguard in whole-cluster simulations (virtual time, memnet).

* the local health multiplier rises while a node's own traffic is slow and falls
  back once it is not;
* suspicion timeouts start at max and shrink with independent confirmations;
* with Lifeguard off the §9 timings are exactly the spec's;
* a stalled node (paused 300 ms of every second) is declared faulty less often
  with Lifeguard on than off, counted in the same test.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import pytest

from ringpop.clock import LoopClock
from ringpop.membership.node import SwimNode
from ringpop.membership.status import Status
from ringpop.messages import Change
from ringpop.options import Options
from ringpop.testing import SimCluster, sim_address
from ringpop.testing.memnet import MemoryNetwork

pytestmark = pytest.mark.looptime(noop_cycles=1)

Record = Callable[[str, object], None]

# Tight timeouts, so that a 300 ms stall matters at all (with the defaults, 1.5 s
# ping timeout, it goes unnoticed).
TIGHT = Options(ping_timeout=0.1, ping_req_timeout=0.25, suspect_period=0.5)
# min = 2.5 x 1 x 0.2 s = 0.5 s = TIGHT.suspect_period, max = 3 s (N = 10).
TIGHT_LIFEGUARD = TIGHT.replace(lifeguard_enabled=True, lifeguard_suspicion_mult=2.5)


async def test_lhm_rises_while_own_traffic_is_slow_and_falls_back() -> None:
    cluster = SimCluster(6, seed=4, options=TIGHT_LIFEGUARD)
    await cluster.bootstrap()
    await cluster.wait_for(cluster.converged, timeout=30)
    await cluster.run_for(2)
    slow = cluster.addresses[2]
    node = cluster.nodes[slow]
    assert node.health.score == 0
    # Every message to and from `slow` takes 150 ms: a 300 ms round trip, beyond the
    # 100 ms ping timeout and the 250 ms ping-req timeout.
    for other in cluster.live(exclude=[slow]):
        cluster.network.set_link(slow, other, latency=0.15, jitter=0.0)
    samples: list[int] = []
    for _ in range(100):
        await asyncio.sleep(0.1)
        samples.append(node.health.score)
    assert max(samples) >= 2
    assert sum(samples[50:]) / 50 >= 1.0  # it stays up while the slowness lasts
    for other in cluster.live(exclude=[slow]):
        cluster.network.set_link(slow, other)
    recovered = await cluster.wait_for(lambda: node.health.score == 0, timeout=10, step=0.1)
    assert recovered > 0
    await cluster.run_for(3)
    assert node.health.score == 0
    assert {n.health.score for n in cluster.nodes.values()} == {0}
    await cluster.stop()


async def test_lhm_stays_zero_on_a_healthy_cluster() -> None:
    cluster = SimCluster(8, seed=2, options=Options(lifeguard_enabled=True))
    await cluster.bootstrap()
    await cluster.wait_for(cluster.converged, timeout=30)
    await cluster.run_for(10)
    assert {n.health.score for n in cluster.nodes.values()} == {0}
    assert all(n.protocol_rate == pytest.approx(0.2) for n in cluster.nodes.values())
    await cluster.stop()


def _lone_node(options: Options, size: int) -> tuple[SwimNode, list[str]]:
    """A node that knows ``size`` members (itself included) and does not gossip."""
    network = MemoryNetwork(rng=random.Random(1))
    addresses = [sim_address(i) for i in range(size)]
    node = SwimNode(
        addresses[0],
        network.membership(addresses[0]),
        options=options.replace(auto_gossip=False),
        clock=LoopClock(),
        rng=random.Random(1),
    )
    node.apply_changes(
        [Change(source=a, address=a, status="alive", incarnation_number=7) for a in addresses[1:]]
    )
    return node, addresses


def _suspect(subject: str, source: str) -> Change:
    return Change(source=source, address=subject, status="suspect", incarnation_number=7)


async def test_suspicion_timeout_shrinks_with_confirmations() -> None:
    options = Options(lifeguard_enabled=True, lifeguard_suspicion_mult=5.0)
    node, addresses = _lone_node(options, 10)  # min = 5 x 0.2 = 1 s, max = 6 s
    loop = asyncio.get_running_loop()
    subject, origin, *others = addresses[1:]
    start = node.clock.monotonic()
    node.apply_changes([_suspect(subject, origin)], peer=origin)
    timer = node.timers.get(subject)
    assert timer is not None
    assert timer.due_at == pytest.approx(start + 6.0)
    node.apply_changes([_suspect(subject, origin)], peer=origin)  # the origin again
    node.apply_changes([_suspect(subject, others[0])], peer=others[0])
    node.apply_changes([_suspect(subject, others[0])], peer=others[1])  # relayed, same source
    timer = node.timers.get(subject)
    assert timer is not None
    assert timer.due_at == pytest.approx(start + 3.5)  # 6 - 5 x log 2 / log 4
    await asyncio.sleep(0.4)
    node.apply_changes([_suspect(subject, others[1]), _suspect(subject, others[2])])
    timer = node.timers.get(subject)
    assert timer is not None
    assert timer.due_at == pytest.approx(start + 1.0)  # k = 3 confirmations: min
    await asyncio.sleep(0.59)
    assert node.members.get(subject).status == Status.SUSPECT  # type: ignore[union-attr]
    await asyncio.sleep(0.02)
    assert node.members.get(subject).status == Status.FAULTY  # type: ignore[union-attr]
    assert loop.time() - start == pytest.approx(1.01)
    assert subject not in node.suspicions
    # A lone suspicion runs to max; a refutation cancels it.
    lone = others[3]
    node.apply_changes([_suspect(lone, origin)])
    await asyncio.sleep(5.9)
    assert node.members.get(lone).status == Status.SUSPECT  # type: ignore[union-attr]
    await asyncio.sleep(0.2)
    assert node.members.get(lone).status == Status.FAULTY  # type: ignore[union-attr]
    refuted = others[4]
    node.apply_changes([_suspect(refuted, origin)])
    await asyncio.sleep(1.0)
    node.apply_changes(
        [Change(source=refuted, address=refuted, status="alive", incarnation_number=8)]
    )
    assert refuted not in node.timers
    assert refuted not in node.suspicions
    await node.stop()


async def test_refuting_a_suspicion_raises_lhm() -> None:
    node, addresses = _lone_node(Options(lifeguard_enabled=True), 4)
    incarnation = node.local.incarnation
    node.apply_changes(
        [
            Change(
                source=addresses[1],
                address=node.address,
                status="suspect",
                incarnation_number=incarnation,
            )
        ]
    )
    assert node.local.incarnation > incarnation
    assert node.local.status == Status.ALIVE
    assert node.health.score == 1
    node.apply_changes([_suspect(addresses[2], addresses[1])])  # about someone else
    assert node.health.score == 1
    await node.stop()


async def test_off_uses_the_spec_suspect_period() -> None:
    node, addresses = _lone_node(Options(suspect_period=5.0), 10)
    start = node.clock.monotonic()
    for source in addresses[2:6]:
        node.apply_changes([_suspect(addresses[1], source)])
    timer = node.timers.get(addresses[1])
    assert timer is not None
    assert timer.due_at == pytest.approx(start + 5.0)  # confirmations change nothing
    assert len(node.suspicions) == 0
    await node.stop()


@pytest.mark.parametrize("lifeguard", [False, True])
async def test_crash_detection_off_is_spec_on_is_within_min_max(
    lifeguard: bool, record_property: Record
) -> None:
    options = Options(suspect_period=5.0, lifeguard_enabled=lifeguard)
    cluster = SimCluster(10, seed=7, options=options)
    await cluster.bootstrap()
    await cluster.wait_for(cluster.converged, timeout=30)
    await cluster.run_for(3)
    victim = cluster.addresses[5]
    others = cluster.live(exclude=[victim])
    await cluster.crash(victim)
    await cluster.wait_for(
        lambda: cluster.status_everywhere(victim, others) == {Status.FAULTY.value},
        timeout=60,
        step=0.05,
    )
    # The first faulty declaration is made by a timer (later ones may be gossip).
    first = min(
        (e for e in cluster.observations if e.subject == victim and e.status == "faulty"),
        key=lambda e: e.time,
    )
    suspected = cluster.first_observation(first.observer, victim, "suspect")
    assert suspected is not None
    window = first.time - suspected
    record_property("suspect_to_faulty_s", window)
    if lifeguard:
        # min = 25 x 0.2 s = 5 s, max = 30 s; the other members confirm, so near min.
        assert 5.0 - 0.01 <= window < 10.0
    else:
        assert window == pytest.approx(5.0, abs=0.01)  # exactly the spec's period
    await cluster.stop()


async def _stalled_run(options: Options, seed: int, seconds: float) -> dict[str, int]:
    """10 nodes; one is paused 300 ms of every second. Counts of false positives."""
    cluster = SimCluster(10, seed=seed, options=options)
    await cluster.bootstrap()
    await cluster.wait_for(cluster.converged, timeout=30)
    await cluster.run_for(2)
    stalled = cluster.addresses[3]
    started = cluster.now()

    async def stall() -> None:
        while True:
            await asyncio.sleep(0.7)
            cluster.network.pause(stalled)
            await asyncio.sleep(0.3)
            cluster.network.resume(stalled)

    task = asyncio.get_running_loop().create_task(stall())
    await cluster.run_for(seconds)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    events = [e for e in cluster.observations if e.time >= started]
    counts = {
        "suspect_stalled": sum(e.status == "suspect" and e.subject == stalled for e in events),
        "suspect_healthy": sum(e.status == "suspect" and e.subject != stalled for e in events),
        "faulty_stalled": sum(e.status == "faulty" and e.subject == stalled for e in events),
        "faulty_healthy": sum(e.status == "faulty" and e.subject != stalled for e in events),
        "lhm_end_stalled": cluster.nodes[stalled].health.score,
    }
    await cluster.stop()
    return counts


async def test_stalled_node_fewer_false_faulty_with_lifeguard(record_property: Record) -> None:
    off: dict[str, int] = {}
    on: dict[str, int] = {}
    for seed in (1, 2, 3):
        for options, total in ((TIGHT, off), (TIGHT_LIFEGUARD, on)):
            for key, value in (await _stalled_run(options, seed, 120.0)).items():
                total[key] = total.get(key, 0) + value
    record_property("off", off)
    record_property("on", on)
    print(
        f"\nstalled node, 3 x 120 virtual s: off {off}\n                                 on  {on}"
    )
    # Nothing is down: every faulty declaration is false.
    false_faulty_off = off["faulty_stalled"] + off["faulty_healthy"]
    false_faulty_on = on["faulty_stalled"] + on["faulty_healthy"]
    assert false_faulty_off >= 5
    assert false_faulty_on < false_faulty_off
