"""The facade's typed events: callbacks and async iterators, from real nodes."""

from __future__ import annotations

import asyncio
import logging

import pytest

from ringpop import Ringpop
from ringpop.events import (
    ChecksumComputed,
    Event,
    EventEmitter,
    LookupTiming,
    MembershipChanged,
    Ready,
    RingChanged,
    ServerAdded,
    ServerRemoved,
)
from tests.forward.conftest import FAST, until


async def test_joining_and_leaving_emit_membership_and_ring_events() -> None:
    a = Ringpop("events-test", "127.0.0.1:0", options=FAST)
    b = Ringpop("events-test", "127.0.0.1:0", options=FAST)
    seen: list[Event] = []
    a.events.on(Event, seen.append)
    ring_events = a.events.subscribe(RingChanged, ServerAdded, ServerRemoved)
    try:
        addresses = [await a.start(), await b.start()]
        await asyncio.gather(a.bootstrap(addresses), b.bootstrap(addresses))
        await until(lambda: len(a.node.ring.servers()) == 2)
        [ready] = [e for e in seen if isinstance(e, Ready)]
        assert ready.address == a.whoami()
        added = {e.address for e in seen if isinstance(e, ServerAdded)}
        assert added == set(addresses)
        changed = [e for e in seen if isinstance(e, MembershipChanged)]
        assert changed
        assert b.whoami() in {u.address for e in changed for u in e.updates}
        assert changed[-1].checksum == a.node.members.checksum
        checksums = [e for e in seen if isinstance(e, ChecksumComputed)]
        assert checksums[-1].checksum == a.node.members.checksum
        rings = [e for e in seen if isinstance(e, RingChanged)]
        assert rings[-1].checksum == a.node.ring.checksum

        await b.close()  # self-evicts: b leaves a's ring
        await until(lambda: len(a.node.ring.servers()) == 1)
        removed = [e for e in seen if isinstance(e, ServerRemoved)]
        assert [e.address for e in removed] == [b.whoami()]

        got: list[Event] = []
        async with asyncio.timeout(5):
            async for event in ring_events:
                got.append(event)
                if isinstance(event, ServerRemoved):
                    break
        kinds = {type(e) for e in got}
        assert kinds == {RingChanged, ServerAdded, ServerRemoved}
        assert all(not isinstance(e, MembershipChanged) for e in got)
    finally:
        ring_events.close()
        await a.close(self_evict=False)
        await b.close(self_evict=False)


async def test_lookup_timing_only_while_someone_listens() -> None:
    rp = Ringpop("events-test", "127.0.0.1:0", options=FAST)
    await rp.bootstrap([])  # lookup() needs a node that joined (alone here)
    try:
        timings: list[LookupTiming] = []
        rp.lookup("a")
        assert not rp.events.wants(LookupTiming)
        rp.events.on(LookupTiming, timings.append)
        assert rp.events.wants(LookupTiming)
        rp.lookup("b")
        assert [t.key for t in timings] == ["b"]
        assert timings[0].seconds >= 0
        rp.events.off(LookupTiming, timings.append)
        rp.lookup("c")
        assert len(timings) == 1
    finally:
        await rp.close()


async def test_subscription_ends_after_close_and_drops_oldest_when_full() -> None:
    emitter = EventEmitter()
    subscription = emitter.subscribe(ServerAdded, maxsize=3)
    for i in range(5):
        emitter.emit(ServerAdded(f"s{i}"))
        emitter.emit(ServerRemoved(f"s{i}"))  # not subscribed
    assert subscription.dropped == 2
    subscription.close()
    got = [e async for e in subscription]
    assert [e.address for e in got if isinstance(e, ServerAdded)] == ["s3", "s4"]
    # closed: ends at once, every time, and sees nothing new
    emitter.emit(ServerAdded("late"))
    assert [e async for e in subscription] == []
    assert not emitter.wants(ServerAdded)


async def test_subscription_as_a_context_manager() -> None:
    emitter = EventEmitter()
    async with emitter.subscribe() as events:
        emitter.emit(Ready("x", 1))
        event = await asyncio.wait_for(events.__anext__(), 1)
        assert event == Ready("x", 1)
    assert not emitter.wants(Ready)


def test_a_failing_callback_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    emitter = EventEmitter()
    calls: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("callback bug")

    def registers_more(event: Event) -> None:  # changing callbacks while emitting is fine
        emitter.on(ServerRemoved, calls.append)

    emitter.on(ServerAdded, broken)
    emitter.on(ServerAdded, calls.append)
    emitter.on(Event, registers_more)
    with caplog.at_level(logging.ERROR, logger="ringpop.events"):
        emitter.emit(ServerAdded("x"))
    assert calls == [ServerAdded("x")]
    assert "callback bug" in caplog.text
    emitter.off(ServerAdded, broken)
    emitter.emit(ServerRemoved("y"))
    assert calls[-1] == ServerRemoved("y")


def test_off_for_a_callback_not_registered_is_nothing() -> None:
    """off() of a callback already removed raised ValueError: a second close() of a
    RangeHandoff failed with "list.remove(x): x not in list"."""
    emitter = EventEmitter()
    calls: list[Event] = []
    emitter.on(ServerAdded, calls.append)
    emitter.off(ServerAdded, calls.append)
    emitter.off(ServerAdded, calls.append)
    emitter.off(ServerRemoved, calls.append)
    emitter.off_stats(calls.append)
    emitter.emit(ServerAdded("x"))
    assert calls == []


async def test_an_async_callback_runs_and_its_failure_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``async def`` callbacks were called and their coroutine dropped ("never
    awaited"): the handler never ran."""
    emitter = EventEmitter()
    seen: list[Event] = []
    ran = asyncio.Event()

    async def handler(event: Event) -> None:
        await asyncio.sleep(0)
        seen.append(event)
        ran.set()

    async def broken(event: Event) -> None:
        raise RuntimeError("async callback bug")

    emitter.on(ServerAdded, handler)
    emitter.on(ServerAdded, broken)
    with caplog.at_level(logging.ERROR):
        emitter.emit(ServerAdded("x"))
        await asyncio.wait_for(ran.wait(), 1)
        for _ in range(10):
            await asyncio.sleep(0)
    assert seen == [ServerAdded("x")]
    assert "async callback bug" in caplog.text


def test_an_async_callback_emitted_outside_a_loop_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    emitter = EventEmitter()

    async def handler(event: Event) -> None:
        raise AssertionError("must not run")

    emitter.on(ServerAdded, handler)
    with caplog.at_level(logging.ERROR):
        emitter.emit(ServerAdded("x"))
    assert "needs a running event loop" in caplog.text


async def test_a_stuck_async_callback_does_not_pile_up_tasks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every event started one more task of a stuck ``async def`` callback: a callback
    waiting on a stalled database under thousands of events a second grew the node
    by a task per event, without bound."""
    from ringpop.eventbus import MAX_RUNNING

    emitter = EventEmitter()
    release = asyncio.Event()
    finished: list[Event] = []
    quick: list[Event] = []

    async def stuck(event: Event) -> None:
        await release.wait()
        finished.append(event)

    async def other(event: Event) -> None:
        quick.append(event)

    emitter.on(ServerAdded, stuck)
    emitter.on(ServerAdded, other)
    with caplog.at_level(logging.WARNING):
        for i in range(MAX_RUNNING + 500):
            emitter.emit(ServerAdded(f"s{i}"))
            if i % 100 == 0:
                await asyncio.sleep(0)  # `other` keeps up
    await until(lambda: len(quick) == MAX_RUNNING + 500)
    assert emitter.dropped == 500
    assert len(emitter._running) == MAX_RUNNING
    assert "has 1000 tasks running" in caplog.text
    release.set()
    await until(lambda: len(finished) == MAX_RUNNING)
    await until(lambda: not emitter._running)
    emitter.emit(ServerAdded("later"))  # room again
    await until(lambda: finished[-1] == ServerAdded("later"))
    assert emitter.dropped == 500


def test_a_bad_registration_is_refused_where_it_is_made() -> None:
    """``on("ServerAdded", cb)`` was taken, then every later emit raised TypeError
    into whatever emitted (the gossip loop included)."""
    emitter = EventEmitter()
    with pytest.raises(TypeError, match="must be an Event class, not 'ServerAdded'"):
        emitter.on("ServerAdded", print)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be an Event class"):
        emitter.subscribe(ServerAdded, int)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be callable"):
        emitter.on(ServerAdded, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be callable"):
        emitter.on_stats(5)  # type: ignore[arg-type]
    for maxsize in (0, -1, 1.5):  # 0 was asyncio's "no bound"
        with pytest.raises(ValueError, match="maxsize must be a whole number"):
            emitter.subscribe(maxsize=maxsize)  # type: ignore[arg-type]
    emitter.emit(ServerAdded("x"))  # nothing was registered: emit still works
