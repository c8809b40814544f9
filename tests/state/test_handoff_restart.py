"""Handoff across restarts and deaths: resumed pulls, and lost ranges a dead gainer never took."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ringpop import Ringpop
from ringpop.state.events import HandoffProgress
from ringpop.state.handoff import RangeHandoff
from ringpop.state.memory import MemoryStore
from ringpop.state.replicated import ReplicatedStore
from ringpop.state.replicator import ReplicaOptions
from ringpop.state.sqlite import SQLiteStore
from ringpop.state.store import Store
from tests.forward.conftest import Member, until
from tests.state.cluster import EVERYTHING, STEADY

ONE = ReplicaOptions(n=1, r=1, w=1, timeout=2.0)


class Node:
    """A node with a store, a ReplicatedStore (N=1) and a RangeHandoff."""

    def __init__(self, store: Store, address: str = "127.0.0.1:0", **handoff: float) -> None:
        self.rp = Ringpop("forward-test", address, options=STEADY, ownership_n=1)
        Member(self.rp)
        self.store = store
        self.settings = {"delay": 0.05, "page": 7, "grace": 0.2, "retry": 0.1, **handoff}

    async def start(self, peers: list[str]) -> Node:
        await self.rp.start()
        self.kv = ReplicatedStore(self.rp, self.store, ONE, hint_interval=0.05)
        self.handoff = RangeHandoff(self.kv, **self.settings)  # type: ignore[arg-type]
        await self.rp.bootstrap([*peers, self.rp.whoami()])
        return self

    @property
    def address(self) -> str:
        return self.rp.whoami()

    async def keys(self) -> set[str]:
        return {r.key for r in (await self.store.scan(EVERYTHING, limit=100_000)).records}

    async def stop(self) -> None:
        await self.handoff.close()
        await self.kv.close()
        await self.rp.close(self_evict=False)


async def test_a_restarted_puller_resumes_its_ranges_instead_of_starting_over(
    tmp_path: Path,
) -> None:
    source = await Node(MemoryStore()).start([])
    values = {f"key-{i}": b"v" * 20 for i in range(1500)}
    await source.kv.put_many(values)
    first = Node(SQLiteStore(tmp_path / "puller.db"), rate=15_000)
    stopped = asyncio.Event()

    def on_progress(event: HandoffProgress) -> None:
        if first.handoff.counts["records"] >= 300 and not stopped.is_set():
            stopped.set()

    first.rp.events.on(HandoffProgress, on_progress)
    await first.start([source.address])
    address = first.address
    try:
        await asyncio.wait_for(stopped.wait(), 20)
        await first.stop()  # the puller dies mid-pull (its store is a file)
        before = first.handoff.counts["records"]
        # the ring as the closed node left it (lookup() refuses once closed)
        mine = {k for k in values if first.rp.node.ring.lookup(k) == address}
        assert before < len(mine)
        await first.store.close()

        again = Node(SQLiteStore(tmp_path / "puller.db"), address)
        try:
            await again.start([source.address])
            await until(lambda: again.rp.node.ring.server_count == 2)
            assert await again.handoff.idle(30)
            assert await again.keys() == mine
            stats = again.handoff.stats()
            assert stats["resumed"] > 0
            # what the first run pulled is not pulled again (a page per range at most)
            assert stats["records"] <= len(mine) - before + 7 * stats["completed"]
            assert stats["records"] < len(mine)
        finally:
            await again.stop()
            await again.store.close()
    finally:
        await source.stop()


async def test_a_range_whose_gainer_went_unconfirmed_goes_to_its_replacement_then_dropped() -> None:
    holder = await Node(MemoryStore()).start([])
    values = {f"key-{i}": str(i).encode() for i in range(600)}
    await holder.kv.put_many(values)
    # a gainer that takes ranges from the holder but never pulls or confirms them
    dead = Node(MemoryStore(), delay=3600.0)
    await dead.start([holder.address])
    await until(lambda: holder.rp.node.ring.server_count == 2)
    await asyncio.sleep(0.5)  # past the holder's grace: its drops wait for the dead gainer
    assert holder.handoff.drops
    assert len(await holder.keys()) == len(values)
    # a third node joins; then the dead gainer goes for good
    third = await Node(MemoryStore()).start([holder.address, dead.address])
    await until(lambda: all(n.rp.node.ring.server_count == 3 for n in (holder, third)))
    # the gainer goes without having confirmed (it leaves the ring: as a death declared)
    await dead.handoff.close()
    await dead.kv.close()
    await dead.rp.close(self_evict=True)
    try:
        await until(
            lambda: not holder.handoff.drops and not third.handoff.pulls,
            timeout=20,
        )
        owners = {k: holder.rp.lookup(k) for k in values}
        assert await third.keys() == {k for k, o in owners.items() if o == third.address}
        assert await holder.keys() == {k for k, o in owners.items() if o == holder.address}
        assert third.handoff.stats()["offers"] > 0
    finally:
        await third.stop()
        await holder.stop()
