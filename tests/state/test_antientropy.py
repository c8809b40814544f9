"""Anti-entropy and handoff faults over real TCP (in-process nodes on 127.0.0.1)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from ringpop import Ringpop
from ringpop.ring.ownership import Range
from ringpop.state.antientropy import AntiEntropy
from ringpop.state.events import HandoffProgress
from ringpop.state.handoff import RangeHandoff
from ringpop.state.hlc import Version
from ringpop.state.memory import MemoryStore
from ringpop.state.replicated import ReplicatedStore
from ringpop.state.replicator import ReplicaOptions
from ringpop.state.store import Columns, Cursor, Record
from ringpop.state.transfer import RangeClient
from ringpop.tchannel import UnexpectedError
from tests.forward.conftest import Member
from tests.state.cluster import EVERYTHING, STEADY, close_all, cluster
from tests.state.test_handoff import OPTIONS

THREE = ReplicaOptions(n=3, r=2, w=2, timeout=2.0)


async def test_anti_entropy_converges_replicas_that_missed_writes() -> None:
    nodes = await cluster(3, THREE)
    handoffs = [RangeHandoff(n.kv, delay=0.1) for n in nodes]  # serves the range endpoints
    engines = [AntiEntropy(n.kv, interval=0, leaf=20, fanout=4) for n in nodes]
    try:
        await nodes[0].kv.put_many({f"k{i}": b"v" for i in range(300)})
        # writes that reached one replica only (hints and read repair both missed)
        for i in range(40):
            await nodes[i % 3].store.put(Record(f"lonely-{i}", b"x", Version(5, 0, "z")))
        current = await nodes[1].store.get("k7")
        assert current is not None
        newest = Record(
            "k7", b"newer", Version(current.version.wall, current.version.logical + 1, "z")
        )
        await nodes[1].store.put(newest)
        for engine in engines:
            await engine.run_once()
        digests = {await n.store.digest(EVERYTHING) for n in nodes}
        assert len(digests) == 1
        assert await nodes[2].store.get("k7") == newest
        moved = sum(e.stats()["sent"] + e.stats()["received"] for e in engines)
        assert moved >= 40 * 2 + 2
        calls = sum(e.stats()["calls"] for e in engines)
        for engine in engines:  # converged: one digest call per peer, nothing moves
            await engine.run_once()
        assert sum(e.stats()["calls"] for e in engines) - calls == 6
        assert sum(e.stats()["sent"] + e.stats()["received"] for e in engines) == moved
    finally:
        for engine in engines:
            await engine.close()
        for h in handoffs:
            await h.close()
        await close_all(nodes)


class BrokenStore(MemoryStore):
    """A store whose scans fail (a disk error)."""

    async def scan_columns(
        self, range: Range, cursor: Cursor | None = None, limit: int = 500, max_bytes: int = 0
    ) -> Columns:
        raise OSError("disk on fire")


async def test_a_store_error_is_an_unexpected_error_never_an_empty_page() -> None:
    nodes = await cluster(2, OPTIONS)
    for node in nodes:
        node.member.rp.ownership_n = 2
    nodes[0].kv.store = BrokenStore()
    handoffs = [RangeHandoff(n.kv, delay=0.1) for n in nodes]
    try:
        client = RangeClient(nodes[1].member.rp, "ringpop-state", timeout=2.0)
        with pytest.raises(UnexpectedError):
            await client.scan(nodes[0].address, EVERYTHING, None, 10)
    finally:
        for h in handoffs:
            await h.close()
        await close_all(nodes)


async def test_a_pull_whose_source_dies_midway_completes_from_the_others() -> None:
    nodes = await cluster(3, THREE)
    handoffs = [RangeHandoff(n.kv, delay=0.1, page=5, grace=60.0, retry=0.1) for n in nodes]
    values = {f"key-{i}": str(i).encode() for i in range(300)}
    await nodes[0].kv.put_many(values)
    killed: list[str] = []

    def on_progress(event: HandoffProgress) -> None:
        if not killed:
            killed.append(event.source)
            victim = next(n for n in nodes if n.address == event.source)
            asyncio.get_running_loop().create_task(victim.member.rp.close(self_evict=False))

    store = MemoryStore()
    rp, kv, handoff = await _join_n3([n.address for n in nodes], store, on_progress)
    try:
        assert await handoff.idle(20.0)
        assert killed
        mine = {k for k in values if rp.whoami() in rp.lookup_n(k, 3)}
        held = {r.key for r in (await store.scan(EVERYTHING, limit=1000)).records}
        assert mine <= held
        assert handoff.stats()["completed"] >= 1
    finally:
        await handoff.close()
        await kv.close()
        await rp.close(self_evict=False)
        for h in handoffs:
            await h.close()
        await close_all([n for n in nodes if n.address not in killed])


async def _join_n3(
    peers: list[str], store: MemoryStore, on_progress: Callable[[HandoffProgress], None]
) -> tuple[Ringpop, ReplicatedStore, RangeHandoff]:
    rp = Ringpop("forward-test", "127.0.0.1:0", options=STEADY, ownership_n=3)
    Member(rp)
    await rp.start()
    kv = ReplicatedStore(rp, store, THREE, hint_interval=0.05)
    handoff = RangeHandoff(kv, delay=0.1, page=5, grace=60.0, retry=0.1)
    rp.events.on(HandoffProgress, on_progress)
    await rp.bootstrap([*peers, rp.whoami()])
    return rp, kv, handoff
