"""The shared retry loop in virtual time: it waits on the injected clock, follows the
policy, reports every step as events, and those events carry exactly the stats."""

from __future__ import annotations

import asyncio

import pytest

from ringpop.clock import ManualClock
from ringpop.eventbus import Event, EventEmitter
from ringpop.events import (
    RequestProxied,
    RetryAborted,
    RetryAttempted,
    RetryFailed,
    RetryRerouted,
    RetryScheduled,
    RetrySucceeded,
)
from ringpop.forward import OwnershipError, RetryPolicy
from ringpop.forward.events import ForwardStyle
from ringpop.forward.retrying import AttemptError, Retrier, RetriesExhaustedError
from ringpop.ring import HashRing
from ringpop.stats import MemoryBackend, Stats
from ringpop.stats.recorder import StatsRecorder

ME, B, C = "10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"


class Harness:
    def __init__(self, style: ForwardStyle) -> None:
        self.ring = HashRing()
        for server in (ME, B, C):
            self.ring.add_server(server)
        self.clock = ManualClock()
        self.events = EventEmitter()
        self.seen: list[Event] = []
        self.events.on(Event, self.seen.append)
        self.backend = MemoryBackend()
        StatsRecorder(Stats(ME, self.backend)).attach(self.events)
        self.retrier = Retrier(self.ring, ME, self.events, self.clock, style)
        self.sent: list[str] = []
        self.failing: set[str] = set()

    def key_of(self, server: str) -> str:
        return next(k for k in (f"k{i}" for i in range(10_000)) if self.ring.lookup(k) == server)

    async def send(self, destination: str) -> str:
        self.sent.append(destination)
        self.clock.advance(0.25)  # each attempt takes a quarter of a second
        if destination in self.failing:
            raise AttemptError(f"{destination}: refused", unreachable=True)
        return f"served by {destination}"

    def kinds(self) -> list[str]:
        return [type(e).__name__ for e in self.seen]


async def settle(task: asyncio.Task[str]) -> None:
    for _ in range(20):  # let the task run until it waits on the clock
        await asyncio.sleep(0)
    assert not task.done()


async def test_waits_on_the_injected_clock_and_reroutes() -> None:
    h = Harness("node")
    key = h.key_of(B)
    h.failing.add(B)
    policy = RetryPolicy(3, (10.0, 20.0), reroute=True)
    task = asyncio.create_task(h.retrier.run((key,), B, h.send, policy, endpoint="/proxy/req"))
    await settle(task)  # the first retry waits 10 s of virtual time
    assert h.sent == [B]
    h.clock.advance(9.0)
    await settle(task)
    assert h.sent == [B]
    h.ring.remove_server(B)  # the ring drops B: the retry goes to the key's new owner
    new_owner = h.ring.lookup(key)
    h.clock.advance(1.0)
    assert await asyncio.wait_for(task, 1) == f"served by {new_owner}"
    assert h.sent == [B, new_owner]
    assert h.kinds() == [
        "RequestProxied",
        "RetryScheduled",
        "RetryRerouted",
        "RetryAttempted",
        "RequestProxied",
        "RetrySucceeded",
    ]
    proxied = [e for e in h.seen if isinstance(e, RequestProxied)]
    assert [e.seconds for e in proxied] == [0.25, 0.25]  # timed on the injected clock
    assert h.backend.counters == {
        "requestProxy.send.error": 1,
        "requestProxy.retry.scheduled": 1,
        "requestProxy.retry.reroute": 1,
        "requestProxy.send.success": 1,
        "requestProxy.retry.succeeded": 1,
    }
    assert h.backend.timings["requestProxy.send"] == [250.0, 250.0]


async def test_failover_goes_at_once_to_the_next_owner_or_serves_here() -> None:
    h = Harness("node")
    key = next(k for k in (f"f{i}" for i in range(10_000)) if h.ring.lookup_n(k, 3)[:2] == [B, C])
    h.failing.update({B, C})

    async def local() -> str:
        return "served here"

    policy = RetryPolicy(2, (30.0,), reroute=True)
    answer = await h.retrier.run(
        (key,), B, h.send, policy, endpoint="/proxy/req", failover=True, local=local
    )
    assert answer == "served here"  # B and C unreachable, we are the third owner
    assert h.sent == [B, C]
    rerouted = [e for e in h.seen if isinstance(e, RetryRerouted)]
    assert [(e.destination, e.reason, e.attempt) for e in rerouted] == [
        (C, "failover", 0),
        (ME, "failover", 0),
    ]
    assert h.backend.counters["requestProxy.failover"] == 2
    assert "requestProxy.retry.scheduled" not in h.backend.counters  # no waiting at all


async def test_go_style_gives_up_with_events_and_no_stats() -> None:
    h = Harness("go")
    key = h.key_of(B)
    h.failing.add(B)
    policy = RetryPolicy(2, (0.0,), reroute=False)
    with pytest.raises(RetriesExhaustedError, match="refused") as failed:
        await h.retrier.run((key,), B, h.send, policy, endpoint="/app")
    assert failed.value.retries == 2
    assert h.sent == [B, B, B]
    assert [e.attempt for e in h.seen if isinstance(e, RetryAttempted)] == [1, 2]
    [final] = [e for e in h.seen if isinstance(e, RetryFailed)]
    assert (final.attempts, final.style) == (2, "go")
    assert all(e.style == "go" for e in h.seen if isinstance(e, RetryScheduled))
    assert h.backend.counters == {}
    assert h.backend.timings == {}


async def test_a_final_failure_is_not_retried() -> None:
    h = Harness("go")
    key = h.key_of(B)

    async def closed(destination: str) -> str:
        h.sent.append(destination)
        raise AttemptError(f"{destination}: channel is closed", final=True)

    policy = RetryPolicy(3, (5.0,), reroute=False)
    with pytest.raises(RetriesExhaustedError, match="channel is closed") as failed:
        await h.retrier.run((key,), B, closed, policy, endpoint="/app")  # no wait on the clock
    assert failed.value.retries == 0
    assert h.sent == [B]
    assert [type(e) for e in h.seen if isinstance(e, RetryScheduled | RetryFailed)] == [RetryFailed]


async def test_keys_that_split_abort_the_retries() -> None:
    h = Harness("node")
    ring = HashRing()
    for server in (ME, C):
        ring.add_server(server)
    first = next(
        k
        for k in (f"s{i}" for i in range(10_000))
        if h.ring.lookup(k) == B and ring.lookup(k) == ME
    )
    second = next(
        k for k in (f"s{i}" for i in range(10_000)) if h.ring.lookup(k) == B and ring.lookup(k) == C
    )
    h.failing.add(B)
    h.events.on(RetryScheduled, lambda e: h.ring.remove_server(B))
    with pytest.raises(OwnershipError):
        await h.retrier.run(
            (first, second), B, h.send, RetryPolicy(3, (0.0,), reroute=True), endpoint="/x"
        )
    [aborted] = [e for e in h.seen if isinstance(e, RetryAborted)]
    assert aborted.attempt == 1
    assert not [e for e in h.seen if isinstance(e, RetrySucceeded | RetryFailed)]
    assert h.backend.counters["requestProxy.retry.aborted"] == 1


async def test_manual_clock_sleepers_wake_in_deadline_order() -> None:
    clock = ManualClock()
    woke: list[float] = []

    async def sleeper(seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(seconds)

    tasks = [asyncio.create_task(sleeper(s)) for s in (3.0, 1.0, 2.0)]
    await asyncio.sleep(0)
    clock.advance(1.5)
    await asyncio.sleep(0)
    assert woke == [1.0]
    clock.advance(10.0)
    await asyncio.gather(*tasks)
    assert sorted(woke) == [1.0, 2.0, 3.0]
    await clock.sleep(0)  # no wait at all
