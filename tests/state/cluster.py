"""In-process clusters of Ringpop nodes, each with a ReplicatedStore over a MemoryStore."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from ringpop import Options, Ringpop
from ringpop.ring.ownership import HASH_SPACE, Range
from ringpop.state.memory import MemoryStore
from ringpop.state.replicated import ReplicatedStore
from ringpop.state.replicator import ReplicaOptions
from ringpop.state.store import Record
from tests.forward.conftest import Member, start_members

# a stopped node stays in the others' rings for the whole test (no suspicion timeout)
STEADY = Options(min_protocol_period=0.05, suspect_period=60.0)
EVERYTHING = Range(0, HASH_SPACE)


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
