"""The facade's ownership queries and OwnershipChanged events, on a real TCP cluster."""

from __future__ import annotations

import asyncio

import pytest

from ringpop import Ringpop
from ringpop.events import OwnershipChanged
from ringpop.hashing import fingerprint32
from ringpop.ring.ownership import HASH_SPACE, Range, RangeChange
from tests.forward.conftest import FAST, start_members, until


def total(ranges: list[Range]) -> int:
    return sum(r.size for r in ranges)


def merged(changes: list[RangeChange]) -> list[Range]:
    out: list[Range] = []
    for r in sorted(c.range for c in changes):
        if out and out[-1].end == r.start:
            out[-1] = Range(out[-1].start, r.end)
        else:
            out.append(r)
    return out


async def test_owns_range_of_and_owned_ranges_agree_with_lookup() -> None:
    members = await start_members(3)
    try:
        rp = members[0].rp
        for i in range(200):
            key = f"k{i}"
            assert rp.owns(key) == (rp.lookup(key) == rp.whoami())
            assert rp.owns(key, 2) == (rp.whoami() in rp.lookup_n(key, 2))
            r = rp.range_of(key)
            assert fingerprint32(key) in r
            assert rp.owns(key) == any(fingerprint32(key) in o for o in rp.owned_ranges(1))
        shares = [total(m.rp.owned_ranges(1)) for m in members]
        assert sum(shares) == HASH_SPACE
        assert sum(total(m.rp.owned_ranges(3, rank=1)) for m in members) == HASH_SPACE
        assert all(total(m.rp.owned_ranges()) == HASH_SPACE for m in members)  # n=3 of 3
        for wrong in (0, True, 1.0):  # True was taken as n=1, as lookup_n refuses it
            with pytest.raises((ValueError, TypeError), match="whole number"):
                rp.owns("k", wrong)  # type: ignore[arg-type]
    finally:
        await asyncio.gather(*(m.rp.close(self_evict=False) for m in members))


async def test_a_joining_node_gains_what_the_others_lose() -> None:
    members = await start_members(3)
    events: dict[str, list[OwnershipChanged]] = {m.address: [] for m in members}
    for m in members:
        m.rp.events.on(OwnershipChanged, events[m.address].append)
    joiner = Ringpop("forward-test", "127.0.0.1:0", options=FAST, ownership_n=2)
    mine: list[OwnershipChanged] = []
    joiner.events.on(OwnershipChanged, mine.append)
    try:
        for m in members:
            m.rp.ownership_n = 2
        address = await joiner.start()
        assert mine == []  # the ring of one before bootstrap is not ownership
        await joiner.bootstrap([m.address for m in members] + [address])
        await until(lambda: all(len(m.rp.node.ring.servers()) == 4 for m in members))
        assert len(joiner.node.ring.servers()) == 4
        # the first event says what joining gave it, and who held it before
        joined = mine[0]
        assert merged(list(joined.primary_gained)) == joiner.owned_ranges(1)
        assert merged(list(joined.gained)) == joiner.owned_ranges(2)
        assert {c.old_owner for c in joined.primary_gained} == {m.address for m in members}
        assert joined.lost == joined.primary_lost == ()
        # each old member saw the joiner take some of its primary ranges
        for m in members:
            lost = [c for e in events[m.address] for c in e.primary_lost]
            assert lost
            assert all(c.new_owner == address for c in lost)
            assert all(e.n == 2 for e in events[m.address])
        # what the others lost as primaries is what the joiner now owns
        seen = [e for m in members for e in events[m.address]]
        lost_ranges = merged([c for e in seen for c in e.primary_lost])
        assert lost_ranges == joiner.owned_ranges(1)
        # and the joiner now replicates (n=2) what it gained at rank 0 or 1
        assert total(joiner.owned_ranges()) > total(joiner.owned_ranges(1))
    finally:
        await joiner.close(self_evict=False)
        await asyncio.gather(*(m.rp.close(self_evict=False) for m in members))


async def test_survivors_gain_a_stopped_nodes_ranges() -> None:
    members = await start_members(3)
    gone = members[2]
    owned = gone.rp.owned_ranges(1)
    events: list[OwnershipChanged] = []
    for m in members[:2]:
        m.rp.events.on(OwnershipChanged, events.append)
    try:
        await gone.rp.close()  # self-evicts: the others remove it from their rings
        await until(lambda: all(len(m.rp.node.ring.servers()) == 2 for m in members[:2]))
        gained = [c for e in events for c in e.primary_gained if e.address == c.new_owner]
        assert all(c.old_owner == gone.address for c in gained)
        # each survivor reported its own share; together they took everything it owned
        by_node = {m.address: [c for c in gained if c.new_owner == m.address] for m in members[:2]}
        assert all(by_node.values())
        assert merged(gained) == owned
    finally:
        await asyncio.gather(*(m.rp.close(self_evict=False) for m in members[:2]))
