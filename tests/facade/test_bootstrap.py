"""Bootstraps that never give up, and no silent one-node island (issue 6 item 6)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from ringpop import Options, Ringpop
from ringpop.events import BootstrapStalled, Event, IslandAvoided, Ready
from ringpop.membership.join import BootstrapError

IMPATIENT = Options(
    min_protocol_period=0.05,
    max_join_duration=0.4,
    join_retry_delay_min=0.05,
    join_retry_delay_max=0.1,
    join_timeout=0.3,
)


def free_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


async def test_without_join_forever_bootstrap_gives_up() -> None:
    lonely = Ringpop("boot-test", "127.0.0.1:0", options=IMPATIENT)
    me = await lonely.start()
    try:
        with pytest.raises(BootstrapError, match="giving up"):
            await lonely.bootstrap([me, free_address()])
        assert not lonely.is_ready
    finally:
        await lonely.close()


async def test_join_forever_waits_for_the_first_member_and_starts() -> None:
    later = free_address()
    waiting = Ringpop("boot-test", "127.0.0.1:0", options=IMPATIENT.replace(join_forever=True))
    me = await waiting.start()
    seen: list[Event] = []
    waiting.events.on(Event, seen.append)
    joining = asyncio.ensure_future(waiting.bootstrap([me, later]))
    try:
        await asyncio.sleep(1.0)  # well past max_join_duration: still trying, not failed
        assert not joining.done()
        assert not waiting.is_ready
        assert any(isinstance(e, BootstrapStalled) for e in seen)
        other = Ringpop("boot-test", later, options=IMPATIENT)
        await other.start()
        try:
            await asyncio.gather(joining, other.bootstrap([me, later]))
            assert waiting.is_ready
            assert any(isinstance(e, Ready) for e in seen)
            for _ in range(100):
                if len(waiting.node.members) == 2 == len(other.node.members):
                    break
                await asyncio.sleep(0.05)
            assert waiting.node.checksum == other.node.checksum
        finally:
            await other.close(self_evict=False)
    finally:
        joining.cancel()
        await waiting.close(self_evict=False)


async def test_join_forever_starts_with_a_partial_answer() -> None:
    first = Ringpop("boot-test", "127.0.0.1:0", options=IMPATIENT)
    a = await first.start()
    await first.bootstrap([a])
    second = Ringpop("boot-test", "127.0.0.1:0", options=IMPATIENT.replace(join_forever=True))
    b = await second.start()
    try:
        # join_size is min(3, 2) = 2 but only one host answers: started after 0.4 s anyway
        result = await asyncio.wait_for(second.bootstrap([a, b, free_address()]), 5)
        assert result.joined == [a]
        assert second.is_ready
    finally:
        await asyncio.gather(first.close(self_evict=False), second.close(self_evict=False))


async def test_no_silent_island() -> None:
    existing = Ringpop("boot-test", "127.0.0.1:0", options=IMPATIENT)
    a = await existing.start()
    await existing.bootstrap([a])
    newcomer = Ringpop("boot-test", "127.0.0.1:0", options=IMPATIENT)
    b = await newcomer.start()
    seen: list[IslandAvoided] = []
    newcomer.events.on(IslandAvoided, seen.append)
    try:
        # The seed list names only the newcomer; discovery knows the cluster.
        result = await asyncio.wait_for(newcomer.bootstrap([b], discover=[a, b]), 5)
        assert not result.alone
        assert result.joined == [a]
        assert seen == [IslandAvoided((a,))]
        assert newcomer.healer.provider is not None
        # Without a discovery source naming others, [self] is a one-node cluster.
        alone = Ringpop("boot-test", "127.0.0.1:0", options=IMPATIENT)
        c = await alone.start()
        assert (await alone.bootstrap([c], discover=[c])).alone
        await alone.close(self_evict=False)
    finally:
        await asyncio.gather(existing.close(self_evict=False), newcomer.close(self_evict=False))


async def test_self_eviction_hooks_and_refusal_of_a_second_eviction() -> None:
    from ringpop.membership.node import SelfEvictionError
    from ringpop.membership.status import Status

    nodes = [Ringpop("boot-test", "127.0.0.1:0", options=IMPATIENT) for _ in range(3)]
    addresses = [await n.start() for n in nodes]
    await asyncio.gather(*(n.bootstrap(addresses) for n in nodes))
    leaving = nodes[0]
    calls: list[str] = []

    async def before() -> None:
        calls.append(f"before:{leaving.node.local.status}")
        await asyncio.sleep(0.05)

    leaving.add_self_eviction_hooks(before=before, after=lambda: calls.append("after"))
    try:
        first = asyncio.ensure_future(leaving.self_evict())
        await asyncio.sleep(0)
        with pytest.raises(SelfEvictionError, match="already executing"):
            await leaving.self_evict()
        told = await first
        assert calls == ["before:alive", "after"]
        assert told == 1  # min(maxP, ceil(0.4 x 2), 2)
        assert leaving.node.local.status == Status.FAULTY
        assert not leaving.node.ring.has_server(addresses[0])
        for _ in range(100):
            views = [n.node.members.get(addresses[0]) for n in nodes[1:]]
            if all(v is not None and v.status == Status.FAULTY for v in views):
                break
            await asyncio.sleep(0.05)
        assert all(not n.node.ring.has_server(addresses[0]) for n in nodes[1:])
    finally:
        await asyncio.gather(*(n.close(self_evict=False) for n in nodes))


async def test_a_closed_node_refuses_to_start_or_bootstrap_again() -> None:
    """Bootstrap after close once "joined" a one-node cluster on a closed channel and
    restarted the healer's loops behind the caller's back."""
    from ringpop.errors import RingpopError

    rp = Ringpop("closed", "127.0.0.1:0")
    await rp.bootstrap([await rp.start()])
    await rp.close()
    await rp.close()  # twice is fine
    with pytest.raises(RingpopError, match="was closed; make a new one"):
        await rp.bootstrap([rp.whoami()])
    with pytest.raises(RingpopError, match="was closed"):
        await rp.start()


async def test_a_second_close_waits_for_the_first_and_close_lets_an_eviction_finish() -> None:
    """A second close() returned at once while the first was still leaving (a process
    could exit mid-eviction); a close() during self_evict() stopped the node under it,
    and the members never heard (0 told, the node stayed in their rings)."""
    from ringpop.membership.status import Status

    nodes = [Ringpop("boot-test", "127.0.0.1:0", options=IMPATIENT) for _ in range(3)]
    addresses = [await n.start() for n in nodes]
    await asyncio.gather(*(n.bootstrap(addresses) for n in nodes))
    leaving, closing, staying = nodes
    stages: list[str] = []

    async def slow_hook() -> None:
        await asyncio.sleep(0.2)
        stages.append("hook done")

    closing.add_self_eviction_hooks(before=slow_hook)
    try:
        first = asyncio.ensure_future(closing.close())
        await asyncio.sleep(0.05)
        await closing.close()  # returns only once the first close is over
        stages.append("second close returned")
        assert first.done()
        assert stages == ["hook done", "second close returned"]
        for _ in range(100):  # the one member left to tell is the one still running
            if leaving.node.ring.server_count == 2:
                break
            await asyncio.sleep(0.05)
        evicting = asyncio.ensure_future(leaving.self_evict())
        await asyncio.sleep(0)
        await leaving.close()
        assert await evicting == 1  # told a member before the node stopped
        for _ in range(100):
            views = [staying.node.members.get(a) for a in addresses[:2]]
            if all(v is not None and v.status == Status.FAULTY for v in views):
                break
            await asyncio.sleep(0.05)
        assert staying.node.ring.servers() == [addresses[2]]
    finally:
        await asyncio.gather(*(n.close(self_evict=False) for n in nodes))


async def test_waiting_for_ready_ends_when_the_node_closes() -> None:
    """wait_ready() without a timeout waited forever on a node closed before it was ready."""
    from ringpop.errors import RingpopError

    rp = Ringpop("closing", "127.0.0.1:0")
    await rp.start()
    waiting = asyncio.ensure_future(rp.wait_ready())
    await asyncio.sleep(0.05)
    await rp.close()
    with pytest.raises(RingpopError, match="closed before it was ready"):
        await asyncio.wait_for(waiting, 1.0)
    with pytest.raises(RingpopError, match="closed before it was ready"):
        await asyncio.wait_for(rp.wait_ready(), 1.0)
    ready = Ringpop("closing", "127.0.0.1:0")
    await ready.bootstrap([await ready.start()])
    await ready.close()
    await asyncio.wait_for(ready.wait_ready(), 1.0)  # it was ready: it says so


async def test_close_ends_a_bootstrap_in_progress_at_once() -> None:
    """A SIGTERM while the seeds do not answer: the join once went on retrying for
    its whole ``max_join_duration`` after the node was closed."""
    from ringpop.errors import RingpopError

    rp = Ringpop("closing", "127.0.0.1:0")
    me = await rp.start()
    joining = asyncio.ensure_future(rp.bootstrap([me, "127.0.0.1:1", "127.0.0.1:2"]))
    await asyncio.sleep(0.3)
    assert not joining.done()
    await rp.close()
    with pytest.raises(RingpopError, match="closed while bootstrapping"):
        await asyncio.wait_for(joining, 5)


async def test_bootstrap_joins_once_and_a_second_caller_shares_the_join() -> None:
    """Each call ran a join of its own and ``_joined`` again: ``Ready`` once per call,
    and ``OwnershipChanged`` for everything the node owns again (a handoff would pull
    it all again); ``close`` ended only the later of two concurrent bootstraps."""
    from ringpop.errors import RingpopError

    rp = Ringpop("once", "127.0.0.1:0")
    readies: list[Event] = []
    rp.events.on(Ready, readies.append)
    me = await rp.start()
    first, second = await asyncio.gather(rp.bootstrap([me]), rp.bootstrap([me]))
    assert first is second
    assert len(readies) == 1
    with pytest.raises(RingpopError, match="already bootstrapped"):
        await rp.bootstrap([me])
    await rp.close()

    rp = Ringpop("once", "127.0.0.1:0")
    me = await rp.start()
    joins = [asyncio.ensure_future(rp.bootstrap([me, "127.0.0.1:1", "127.0.0.1:2"]))]
    joins.append(asyncio.ensure_future(rp.bootstrap([me])))
    await asyncio.sleep(0.3)
    await rp.close()
    for join in joins:
        with pytest.raises(RingpopError, match="closed while bootstrapping"):
            await asyncio.wait_for(join, 5)


async def test_cancelling_a_bootstrap_stays_a_cancellation() -> None:
    rp = Ringpop("cancelled", "127.0.0.1:0")
    me = await rp.start()
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(rp.bootstrap([me, "127.0.0.1:1", "127.0.0.1:2"]), 0.3)
    finally:
        await rp.close()


@pytest.mark.parametrize("app", ["", 5, None, "bad\udcffname"])
def test_an_app_name_that_cannot_travel_is_refused(app: object) -> None:
    """An int went on the wire as a JSON number (no peer's app ever matched) and a lone
    surrogate failed only when the first join was encoded."""
    with pytest.raises(ValueError, match="app name must be a non-empty string of text"):
        Ringpop(app, "127.0.0.1:0")  # type: ignore[arg-type]
