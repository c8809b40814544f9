"""A dead member goes suspect -> faulty -> tombstone -> evicted, and the facade says so."""

from __future__ import annotations

import asyncio

from ringpop import Options, Ringpop
from ringpop.events import ChecksumComputed, Event, MembersEvicted, ServerRemoved

QUICK = Options(
    min_protocol_period=0.05,
    ping_timeout=0.2,
    ping_req_timeout=0.3,
    suspect_period=0.3,
    faulty_period=0.3,
    tombstone_period=0.3,
)


async def test_eviction_is_an_event() -> None:
    nodes = [Ringpop("evict-test", "127.0.0.1:0", options=QUICK) for _ in range(3)]
    addresses = [await n.start() for n in nodes]
    await asyncio.gather(*(n.bootstrap(addresses) for n in nodes))
    watcher, victim = nodes[0], nodes[2]
    seen: list[Event] = []
    for kind in (MembersEvicted, ServerRemoved, ChecksumComputed):
        watcher.events.on(kind, seen.append)
    try:
        await victim.close(self_evict=False)  # crash: stop answering, say nothing
        for _ in range(100):  # at most 10 s
            if any(isinstance(e, MembersEvicted) for e in seen):
                break
            await asyncio.sleep(0.1)
        evicted = [e for e in seen if isinstance(e, MembersEvicted)]
        assert evicted
        assert evicted[0].addresses == (addresses[2],)
        assert evicted[0].checksum == watcher.node.checksum
        assert ServerRemoved(addresses[2]) in seen
        # Tombstones are already outside the checksum, so the last change of the
        # checksum came with the tombstone and eviction leaves it as it is.
        computed = [e for e in seen if isinstance(e, ChecksumComputed)]
        assert computed[-1].checksum == watcher.node.checksum
        assert watcher.node.members.get(addresses[2]) is None
    finally:
        await asyncio.gather(*(n.close(self_evict=False) for n in nodes[:2]))


async def test_ring_and_membership_stats_are_emitted() -> None:
    from ringpop.stats import MemoryBackend

    backends = [MemoryBackend(), MemoryBackend()]
    nodes = [Ringpop("evict-test", "127.0.0.1:0", options=QUICK, stats_backend=b) for b in backends]
    addresses = [await n.start() for n in nodes]
    try:
        await asyncio.gather(*(n.bootstrap(addresses) for n in nodes))
        for _ in range(50):
            if backends[0].counters["ping.send"] >= 2:
                break
            await asyncio.sleep(0.05)
        stats = backends[0]
        assert stats.counters["ring.server-added"] >= 1
        assert stats.gauges["ring.servers"] == 2
        assert stats.gauges["ring.checksum"] == nodes[0].node.ring.checksum
        assert stats.gauges["checksum"] == nodes[0].node.checksum
        assert stats.gauges["num-members"] == 2
        assert stats.counters["join.send"] >= 1
        assert stats.counters["ping.send"] >= 2
        assert stats.counters["membership-update.alive"] >= 1
        assert stats.timings["ping"]
        assert stats.timings["protocol.frequency"]
    finally:
        await asyncio.gather(*(n.close(self_evict=False) for n in nodes))
