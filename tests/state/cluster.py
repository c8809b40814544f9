"""In-process clusters of Ringpop nodes, each with a ReplicatedStore over a MemoryStore."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import msgspec

from ringpop import Options, Ringpop
from ringpop.ring.ownership import HASH_SPACE, Range
from ringpop.state import wire
from ringpop.state.handoff import RangeHandoff
from ringpop.state.memory import MemoryStore
from ringpop.state.replicated import ReplicatedStore
from ringpop.state.replicator import ReplicaOptions
from ringpop.state.store import Record
from ringpop.tchannel import BadRequestError, Channel, Request, Response
from tests.forward.conftest import Member, start_members

# a stopped node stays in the others' rings for the whole test (no suspicion timeout)
STEADY = Options(min_protocol_period=0.05, suspect_period=60.0)
EVERYTHING = Range(0, HASH_SPACE)
TWO = ReplicaOptions(n=2, r=1, w=2, timeout=2.0)


class CountingStore(MemoryStore):
    """A MemoryStore that counts the reads it served."""

    def __init__(self) -> None:
        super().__init__()
        self.gets = 0

    async def get(self, key: str) -> Record | None:
        self.gets += 1
        return await super().get(key)


@dataclass
class Node:
    member: Member
    store: CountingStore
    kv: ReplicatedStore

    @property
    def address(self) -> str:
        return self.member.address


async def cluster(count: int, options: ReplicaOptions, hint_interval: float = 0.05) -> list[Node]:
    """``count`` nodes on 127.0.0.1 that agree on their ring."""
    members = await start_members(count, STEADY)
    nodes = []
    for i, member in enumerate(members):
        store = CountingStore()
        kv = ReplicatedStore(
            member.rp, store, options, hint_interval=hint_interval, rng=random.Random(i)
        )
        nodes.append(Node(member, store, kv))
    return nodes


async def restart(node: Node, peers: list[Node], options: ReplicaOptions) -> Node:
    """Start ``node`` again on its address with its store (as if kept on disk)."""
    rp = Ringpop("forward-test", node.address, options=STEADY)
    member = Member(rp)
    await rp.bootstrap([p.address for p in peers] + [node.address])
    kv = ReplicatedStore(rp, node.store, options, hint_interval=0.05)
    return Node(member, node.store, kv)


async def close_all(nodes: list[Node]) -> None:
    """Stop every node (their stores are in memory: nothing else to release)."""
    for node in nodes:
        await node.kv.close()
    await asyncio.gather(*(n.member.rp.close(self_evict=False) for n in nodes))


def by_address(nodes: list[Node]) -> dict[str, Node]:
    return {n.address: n for n in nodes}


async def holders(nodes: list[Node], key: str) -> set[str]:
    """Nodes whose store holds ``key``."""
    return {n.address for n in nodes if await n.store.get(key) is not None}


async def settled_holders(nodes: list[Node], key: str, expected: set[str]) -> set[str]:
    """:func:`holders` once it is ``expected`` (within 5 s), else as it is then: a write
    returns at its quorum, and the other replicas' calls may still be landing."""
    found: set[str] = set()
    for _ in range(250):
        found = await holders(nodes, key)
        if found == expected:
            break
        await asyncio.sleep(0.02)
    return found


@asynccontextmanager
async def handoff_cluster(
    count: int,
    options: ReplicaOptions,
    *,
    ownership_n: int | None = None,
    prepare: Callable[[list[Node]], None] | None = None,
    **handoff: Any,
) -> AsyncIterator[tuple[list[Node], list[RangeHandoff]]]:
    """:func:`cluster` with a :class:`RangeHandoff` per node (``handoff``: its
    options), all closed on exit; ``ownership_n`` set on every node when given, and
    ``prepare`` called with the nodes before the handoffs are made (they keep the
    store each ``kv`` has then)."""
    nodes = await cluster(count, options)
    if ownership_n is not None:
        for node in nodes:
            node.member.rp.ownership_n = ownership_n
    if prepare is not None:
        prepare(nodes)
    handoffs = [RangeHandoff(node.kv, **handoff) for node in nodes]
    try:
        yield nodes, handoffs
    finally:
        for h in handoffs:
            await h.close()
        await close_all(nodes)  # closing a node twice (a test stopped it) does nothing


@dataclass
class Joiner:
    """A node started outside a cluster, with a store and a handoff, not yet joined."""

    rp: Ringpop
    kv: ReplicatedStore
    handoff: RangeHandoff

    async def join(self, peers: list[Node]) -> None:
        await self.rp.bootstrap([*(p.address for p in peers), self.rp.whoami()])

    async def close(self) -> None:
        await self.handoff.close()
        await self.kv.close()
        await self.rp.close(self_evict=False)


async def joiner(store: MemoryStore, options: ReplicaOptions, **handoff: Any) -> Joiner:
    """A started node of ``options.n`` replicas over ``store`` (``handoff``: its options)."""
    rp = Ringpop("forward-test", "127.0.0.1:0", options=STEADY, ownership_n=options.n)
    Member(rp)
    await rp.start()
    kv = ReplicatedStore(rp, store, options, hint_interval=0.05)
    return Joiner(rp, kv, RangeHandoff(kv, **handoff))


@asynccontextmanager
async def scan_peers(
    serves: str, page: bytes, lies: list[bytes]
) -> AsyncIterator[tuple[Channel, Channel, list[str]]]:
    """Two channels answering ``/state/scan``: an older peer that serves only format
    ``serves`` (``page`` for it; "unknown page format" for the others) and records
    the formats asked, and a peer answering ``lies`` (last first), whatever is asked."""
    asked: list[str] = []

    async def serve(request: Request) -> Response:
        scan = msgspec.json.decode(request.arg3, type=wire.Scan)
        asked.append(scan.format)
        if scan.format != serves:
            raise BadRequestError(f"unknown page format {scan.format!r} (json, {serves})")
        return Response(b"", page)

    async def lie(request: Request) -> Response:
        return Response(b"", lies.pop())

    old, bogus = Channel("127.0.0.1:0"), Channel("127.0.0.1:0")
    old.register("ringpop-state", wire.SCAN, serve)
    bogus.register("ringpop-state", wire.SCAN, lie)
    await old.listen()
    await bogus.listen()
    try:
        yield old, bogus, asked
    finally:
        await old.close()
        await bogus.close()
