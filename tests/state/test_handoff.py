"""Range handoff over real TCP: in-process nodes on 127.0.0.1 pull what they gain."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from ringpop import Ringpop
from ringpop.ring.ownership import Range
from ringpop.state import wire
from ringpop.state.events import HandoffCompleted
from ringpop.state.handoff import RangeHandoff
from ringpop.state.hlc import Version
from ringpop.state.memory import MemoryStore
from ringpop.state.rangeserver import NOT_A_REPLICA
from ringpop.state.replicated import ReplicatedStore
from ringpop.state.replicator import ReplicaOptions
from ringpop.state.store import Record
from ringpop.state.transfer import RangeClient, TransferError
from ringpop.tchannel import BadRequestError, Channel, Request, Response
from ringpop.tchannel.api import application_error
from tests.forward.conftest import Member
from tests.state.cluster import EVERYTHING, STEADY, close_all, cluster

OPTIONS = ReplicaOptions(n=2, r=1, w=2, timeout=2.0)


async def _join(
    peers: list[str], store: MemoryStore
) -> tuple[Ringpop, ReplicatedStore, RangeHandoff]:
    rp = Ringpop("forward-test", "127.0.0.1:0", options=STEADY, ownership_n=2)
    Member(rp)
    await rp.start()
    kv = ReplicatedStore(rp, store, OPTIONS, hint_interval=0.05)
    handoff = RangeHandoff(kv, delay=0.1, page=7, grace=0.2, retry=0.1)
    await rp.bootstrap([*peers, rp.whoami()])
    return rp, kv, handoff


async def test_a_joining_node_pulls_its_ranges_and_the_old_holders_drop_them() -> None:
    nodes = await cluster(2, OPTIONS)
    handoffs = []
    for node in nodes:
        node.member.rp.ownership_n = 2
        handoffs.append(RangeHandoff(node.kv, delay=0.1, page=7, grace=0.2, retry=0.1))
    values = {f"key-{i}": str(i).encode() for i in range(200)}
    await nodes[0].kv.put_many(values)
    store = MemoryStore()
    rp, kv, handoff = await _join([n.address for n in nodes], store)
    completed: list[HandoffCompleted] = []
    rp.events.on(HandoffCompleted, completed.append)
    try:
        for _ in range(200):  # every node sees the 3-node ring, pulls end
            if all(n.member.rp.node.ring.server_count == 3 for n in nodes) and not handoff.pulls:
                break
            await asyncio.sleep(0.05)
        assert await handoff.idle(10.0)
        mine = {k for k in values if rp.whoami() in rp.lookup_n(k, 2)}
        assert mine
        assert {r.key for r in (await store.scan(EVERYTHING, limit=1000)).records} == mine
        assert handoff.stats()["records"] >= len(mine)
        for _ in range(100):  # the node that lost ranges drops them after the grace
            if all(not h.drops for h in handoffs):
                break
            await asyncio.sleep(0.05)
        for node in nodes:
            held = {r.key for r in (await node.store.scan(EVERYTHING, limit=1000)).records}
            assert held == {k for k in values if node.address in rp.lookup_n(k, 2)}
        for key, value in values.items():
            record = await kv.get(key)
            assert record is not None
            assert record.value == value
    finally:
        await handoff.close()
        await kv.close()
        await rp.close(self_evict=False)
        for h in handoffs:
            await h.close()
        await close_all(nodes)


async def test_requests_for_ranges_not_held_and_malformed_bodies_are_refused() -> None:
    nodes = await cluster(2, OPTIONS)
    handoffs = []
    for node in nodes:
        node.member.rp.ownership_n = 2
        handoffs.append(RangeHandoff(node.kv, delay=0.1))
    await nodes[0].kv.put("k", b"v")
    stranger = Channel("127.0.0.1:0")
    await stranger.listen()
    target = nodes[0].address

    async def call(endpoint: str, body: bytes) -> Response:
        return await stranger.call(target, "ringpop-state", endpoint, b"", body, timeout=2.0)

    try:
        scan = msgspec.json.encode(wire.Scan(Range(0, 1 << 32)))
        refused = await call(wire.SCAN, scan)  # a node outside the ring holds nothing
        assert application_error(refused).type == NOT_A_REPLICA
        done = await call(wire.DONE, msgspec.json.encode(wire.Done(Range(0, 10))))
        assert application_error(done).type == NOT_A_REPLICA
        for bad in (b"{", b'{"range": {"start": 10, "end": 5}}', b'{"range": 3}'):
            with pytest.raises(BadRequestError):
                await call(wire.SCAN, bad)
        with pytest.raises(BadRequestError):
            await call(wire.SCAN, msgspec.json.encode(wire.Scan(Range(0, 10), limit=10**6)))
        assert await nodes[0].store.get("k") is not None  # nothing changed
        assert handoffs[0].stats()["refused"] == 2
    finally:
        await stranger.close()
        for h in handoffs:
            await h.close()
        await close_all(nodes)


async def test_a_malformed_or_foreign_page_is_refused_whole() -> None:
    """A peer answering records outside the range: TransferError, nothing applied."""
    nodes = await cluster(2, OPTIONS)
    for node in nodes:
        node.member.rp.ownership_n = 2
    bogus = Channel("127.0.0.1:0")

    async def serve(request: Request) -> Response:
        record = Record("k", b"v", Version(1, 0, "x"))  # hash of "k" is not in [0, 1)
        return Response(b"", msgspec.json.encode(wire.PageBody([record], None)))

    bogus.register("ringpop-state", wire.SCAN, serve)
    await bogus.listen()
    try:
        client = RangeClient(nodes[0].member.rp, "ringpop-state", timeout=2.0)
        with pytest.raises(TransferError, match="outside"):
            await client.scan(bogus.host_port, Range(0, 1), None, 10)
    finally:
        await bogus.close()
        await close_all(nodes)
