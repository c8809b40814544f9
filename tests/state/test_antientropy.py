"""Anti-entropy and handoff faults over real TCP (in-process nodes on 127.0.0.1)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ringpop.ring.ownership import Range
from ringpop.state.antientropy import AntiEntropy
from ringpop.state.events import HandoffProgress
from ringpop.state.hlc import Version
from ringpop.state.memory import MemoryStore
from ringpop.state.replicator import ReplicaOptions
from ringpop.state.store import Columns, Cursor, Record
from ringpop.state.transfer import RangeClient
from ringpop.tchannel import UnexpectedError
from tests.state.cluster import EVERYTHING, Node, handoff_cluster, joiner
from tests.state.cluster import TWO as OPTIONS

THREE = ReplicaOptions(n=3, r=2, w=2, timeout=2.0)


async def test_anti_entropy_converges_replicas_that_missed_writes() -> None:
    # the handoffs serve the range endpoints
    async with handoff_cluster(3, THREE, delay=0.1) as (nodes, _):
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


class BrokenStore(MemoryStore):
    """A store whose scans fail (a disk error)."""

    async def scan_columns(
        self, range: Range, cursor: Cursor | None = None, limit: int = 500, max_bytes: int = 0
    ) -> Columns:
        raise OSError("disk on fire")


async def test_a_store_error_is_an_unexpected_error_never_an_empty_page() -> None:
    def broken(nodes: list[Node]) -> None:
        nodes[0].kv.store = BrokenStore()

    async with handoff_cluster(2, OPTIONS, ownership_n=2, prepare=broken, delay=0.1) as (nodes, _):
        client = RangeClient(nodes[1].member.rp, "ringpop-state", timeout=2.0)
        with pytest.raises(UnexpectedError):
            await client.scan(nodes[0].address, EVERYTHING, None, 10)


async def test_a_pull_whose_source_dies_midway_completes_from_the_others() -> None:
    quick: dict[str, Any] = {"delay": 0.1, "page": 5, "grace": 60.0, "retry": 0.1}
    async with handoff_cluster(3, THREE, **quick) as (nodes, _):
        values = {f"key-{i}": str(i).encode() for i in range(300)}
        await nodes[0].kv.put_many(values)
        killed: list[str] = []

        def on_progress(event: HandoffProgress) -> None:
            if not killed:
                killed.append(event.source)
                victim = next(n for n in nodes if n.address == event.source)
                asyncio.get_running_loop().create_task(victim.member.rp.close(self_evict=False))

        store = MemoryStore()
        new = await joiner(store, THREE, **quick)
        new.rp.events.on(HandoffProgress, on_progress)
        await new.join(nodes)
        try:
            assert await new.handoff.idle(20.0)
            assert killed
            mine = {k for k in values if new.rp.whoami() in new.rp.lookup_n(k, 3)}
            held = {r.key for r in (await store.scan(EVERYTHING, limit=1000)).records}
            assert mine <= held
            assert new.handoff.stats()["completed"] >= 1
        finally:
            await new.close()


@pytest.mark.parametrize(
    "setting",
    [
        {"fanout": 1},
        {"leaf": 0},
        {"max_calls": 0},
        {"max_records": 0},
        {"interval": float("inf")},
        {"interval": float("nan")},
        {"fanout": 257},
        {"fanout": 2.5},
        {"leaf": float("inf")},
        {"max_calls": True},
    ],
)
async def test_settings_anti_entropy_cannot_work_with_are_refused(
    setting: dict[str, float],
) -> None:
    """A fanout of 1 would never narrow a differing range, one of 10**9 cut a range into
    10**9 in memory; refused with the settings."""
    from tests.state.cluster import close_all, cluster

    [node] = await cluster(1, ReplicaOptions(n=1, r=1, w=1, timeout=2.0))
    try:
        with pytest.raises((ValueError, TypeError), match=r"anti-entropy needs|whole number"):
            AntiEntropy(node.kv, **setting)  # type: ignore[arg-type]
    finally:
        await close_all([node])
