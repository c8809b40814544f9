"""A bootstrap that backs off after failed joins retries as soon as a peer joins it.

Cold start of a whole cluster: the first processes up find nobody listening, and their
join backoff grows (0.1, 0.2, 0.4, ... s) while the others are still starting. They
answer joins meanwhile, so the late starters learn about them and ping them, but they
refuse pings until they are ready - and get suspected. A join request from a peer
proves that peer is up: the backing-off node retries at once, that peer first.
"""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest

from ringpop.clock import LoopClock
from ringpop.discovery import StaticHosts
from ringpop.membership.join import bootstrap
from ringpop.membership.node import SwimNode
from ringpop.membership.protocol import protocol_handlers
from ringpop.messages import JoinRequest, decode
from ringpop.options import Options
from ringpop.testing.memnet import CallRecord, MemoryNetwork

pytestmark = pytest.mark.looptime(noop_cycles=1)

HOSTS = [f"10.0.0.{i}:3000" for i in range(1, 5)]


def make_node(network: MemoryNetwork, address: str, seed: int) -> SwimNode:
    transport = network.membership(address)
    node = SwimNode(
        address,
        transport,
        options=Options(auto_gossip=False),
        clock=LoopClock(start_ms=1_700_000_000_000),
        rng=random.Random(seed),
    )
    transport.serve(protocol_handlers(node))
    return node


async def test_backing_off_bootstrap_retries_when_a_peer_joins_it() -> None:
    loop = asyncio.get_running_loop()
    network = MemoryNetwork(latency=0.001)
    joins: list[CallRecord] = []
    network.add_tap(lambda call: joins.append(call) if call.endpoint == "/protocol/join" else None)
    first = make_node(network, HOSTS[0], seed=1)
    early = asyncio.ensure_future(bootstrap(first, StaticHosts(HOSTS)))
    # Nobody else is up for 3 s: every round fails at once and the backoff grows to
    # delays of 0.8-1.6 s and more.
    await asyncio.sleep(3.0)
    assert not first.ready
    rounds_before = len({c.time for c in joins if c.source == HOSTS[0]})
    assert rounds_before >= 4

    came_up = loop.time()
    others = [make_node(network, address, seed=i + 2) for i, address in enumerate(HOSTS[1:])]
    late = [asyncio.ensure_future(bootstrap(n, StaticHosts(HOSTS))) for n in others]
    await asyncio.wait_for(asyncio.shield(early), timeout=0.2)
    ready_after = loop.time() - came_up
    await asyncio.gather(*late)

    # Ready a few round trips after the others came up, not a backoff later.
    assert ready_after < 0.05
    # The retry went first to the peers that had joined it.
    joined_first = {c.source for c in joins if c.destination == HOSTS[0] and c.time >= came_up}
    retry = [c for c in joins if c.source == HOSTS[0] and c.time >= came_up]
    first_retry = {c.destination for c in retry if c.time == retry[0].time}
    assert joined_first
    assert first_retry <= set(HOSTS[1:])
    assert first_retry & joined_first
    assert {decode(c.body, JoinRequest).source for c in retry} == {HOSTS[0]}
    for node in [first, *others]:
        await node.stop()


async def test_without_joiners_the_backoff_is_kept() -> None:
    network = MemoryNetwork(latency=0.001)
    joins: list[float] = []
    network.add_tap(
        lambda call: joins.append(call.time) if call.endpoint == "/protocol/join" else None
    )
    node = make_node(network, HOSTS[0], seed=1)
    task = asyncio.ensure_future(bootstrap(node, StaticHosts(HOSTS)))
    await asyncio.sleep(5.0)
    rounds = sorted(set(joins))
    gaps = [b - a for a, b in itertools.pairwise(rounds)]
    # Delays never shrink (uniform in [cap(k-1), cap(k)), cap(k) = 0.1 x 2^k) and
    # reach past 0.8 s within 5 s: nothing woke the node up early.
    assert all(b >= a - 0.01 for a, b in itertools.pairwise(gaps))
    assert max(gaps) > 0.8
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await node.stop()
