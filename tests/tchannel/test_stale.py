"""Stale connections: a silent peer's connection is aborted and its queue never sent.

Real TCP on 127.0.0.1 through :class:`SilentRelay`, which goes quiet without closing
anything (as a firewall dropping packets) and, when it resumes, delivers what the
sender's TCP would still retransmit. The peer counts the calls it served.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from ringpop.tchannel import CallTimeoutError, Channel, NetworkError, Request, Response
from ringpop.tchannel.stale import StaleWatch
from tests.tchannel.silent_relay import SilentRelay

pytestmark = pytest.mark.timeout(30)


class Counter:
    """The peer: ``/count`` answers at once, ``/slow`` after 0.5 s; both are counted."""

    def __init__(self) -> None:
        self.served: list[bytes] = []

    async def count(self, request: Request) -> Response:
        self.served.append(request.arg3)
        return Response(arg3=request.arg3)

    async def slow(self, request: Request) -> Response:
        self.served.append(request.arg3)
        await asyncio.sleep(0.5)
        return Response(arg3=request.arg3)


@pytest.fixture
async def peer() -> AsyncIterator[tuple[Channel, Counter]]:
    counter = Counter()
    channel = Channel("127.0.0.1:0")
    channel.register("svc", "/count", counter.count)
    channel.register("svc", "/slow", counter.slow)
    await channel.listen()
    try:
        yield channel, counter
    finally:
        await channel.close(drain_timeout=0)


@pytest.fixture
async def relay(peer: tuple[Channel, Counter]) -> AsyncIterator[SilentRelay]:
    host, port = peer[0].host_port.split(":")
    relay = SilentRelay((host, int(port)))
    await relay.start()
    try:
        yield relay
    finally:
        await relay.close()


async def _call(client: Channel, relay: SilentRelay, body: bytes, timeout: float) -> Response:
    return await client.call(relay.address, "svc", "/count", b"", body, timeout=timeout)


# -- the pure rule ---------------------------------------------------------------------


def test_watch_follows_tchannel_node_rule() -> None:
    watch = StaleWatch(1.5)
    assert not watch.timed_out(10.0)  # the first timeout only starts the watch
    assert watch.due() == 11.5
    assert not watch.timed_out(11.0)  # within the period
    assert watch.timed_out(11.6)  # later than the period, nothing read in between
    watch.read()
    assert watch.due() is None
    assert not watch.check(100.0)
    assert not watch.timed_out(20.0)  # a read restarted it
    assert not watch.check(21.4)
    assert watch.check(21.5)  # the timer's check: a whole period of silence


def test_watch_disabled() -> None:
    watch = StaleWatch(0)
    assert not watch.timed_out(1.0)
    assert not watch.timed_out(100.0)
    assert watch.due() is None
    assert not watch.check(1000.0)
    with pytest.raises(ValueError, match="negative"):
        StaleWatch(-1)


# -- real connections ------------------------------------------------------------------


async def test_silent_peer_connection_is_aborted_and_nothing_stale_arrives(
    peer: tuple[Channel, Counter], relay: SilentRelay
) -> None:
    _, counter = peer
    async with Channel(stale_period=0.4) as client:
        assert (await _call(client, relay, b"before", 1.0)).arg3 == b"before"
        first = client.peer_connection(relay.address)
        assert first is not None
        relay.partition()
        loop = asyncio.get_running_loop()
        long_call = asyncio.ensure_future(_call(client, relay, b"long", 20.0))
        started = loop.time()
        # These pile up in "TCP" while the peer is silent.
        stale = [_call(client, relay, b"stale%d" % index, 0.2) for index in range(3)]
        results = await asyncio.gather(*stale, return_exceptions=True)
        assert all(isinstance(result, CallTimeoutError) for result in results)
        # The first timeout (0.2 s) plus the stale period (0.4 s): aborted by then, and
        # the call that still had 19 s to go failed at once.
        with pytest.raises(NetworkError, match="stale"):
            await asyncio.wait_for(long_call, 2.0)
        assert loop.time() - started < 1.5
        assert first.closed
        assert first.stale
        assert client.stale_closed == 1
        await asyncio.sleep(0.1)  # the relay (the "network") sees the reset
        assert relay.dropped > 0  # what the relay held for the peer: discarded with the reset
        relay.heal()
        await asyncio.sleep(0.3)
        assert counter.served == [b"before"]  # none of the stale requests, ever
        assert (await _call(client, relay, b"after", 1.0)).arg3 == b"after"
        second = client.peer_connection(relay.address)
        assert second is not None
        assert second is not first
        await asyncio.sleep(0.2)
        assert counter.served == [b"before", b"after"]


async def test_a_lone_timed_out_call_is_enough(
    peer: tuple[Channel, Counter], relay: SilentRelay
) -> None:
    """One timeout and a whole quiet period after it (the timer's check)."""
    _, counter = peer
    async with Channel(stale_period=0.3) as client:
        await _call(client, relay, b"before", 1.0)
        relay.partition()
        with pytest.raises(CallTimeoutError):
            await _call(client, relay, b"lone", 0.2)
        await asyncio.sleep(0.5)
        assert client.stale_closed == 1
        assert client.peer_connection(relay.address) is None
        relay.heal()
        await asyncio.sleep(0.3)
        assert counter.served == [b"before"]


async def test_without_the_rule_the_backlog_arrives_late(
    peer: tuple[Channel, Counter], relay: SilentRelay
) -> None:
    """The failure this guards against, reproduced with the rule off (stale_period=0)."""
    _, counter = peer
    async with Channel(stale_period=0) as client:
        await _call(client, relay, b"before", 1.0)
        relay.partition()
        for index in range(3):
            with pytest.raises(CallTimeoutError):
                await _call(client, relay, b"stale%d" % index, 0.2)
        await asyncio.sleep(0.5)  # well past any stale period
        assert client.stale_closed == 0
        relay.heal()
        for _ in range(50):
            if len(counter.served) == 4:
                break
            await asyncio.sleep(0.02)
        assert counter.served == [b"before", b"stale0", b"stale1", b"stale2"]


async def test_slow_but_answering_peer_is_not_stale(
    peer: tuple[Channel, Counter], relay: SilentRelay
) -> None:
    """Calls time out (the handler takes 0.5 s) but responses keep arriving."""
    async with Channel(stale_period=0.3) as client:
        await _call(client, relay, b"warm", 1.0)
        conn = client.peer_connection(relay.address)
        timeouts = 0
        for index in range(8):  # ~1.6 s: over five stale periods
            slow = client.call(relay.address, "svc", "/slow", b"", b"s%d" % index, timeout=0.1)
            with pytest.raises(CallTimeoutError):
                await slow
            timeouts += 1
            await _call(client, relay, b"q%d" % index, 1.0)
            await asyncio.sleep(0.1)
        assert timeouts == 8
        assert client.stale_closed == 0
        assert client.peer_connection(relay.address) is conn


async def test_stale_period_option_is_validated() -> None:
    with pytest.raises(ValueError, match="stale_period"):
        Channel(stale_period=-1.0)
    assert Channel().options.stale_period == 1.5


async def test_bind_listens_elsewhere_and_advertises_host_port() -> None:
    """``bind`` (how the cluster tests put a relay in front of a node): the socket is
    bound to ``bind`` while the identity advertised in handshakes stays ``host_port``."""
    server = Channel("127.0.0.1:1", bind="127.0.0.1:0")
    server.register("svc", "/echo", _echo)
    await server.listen()
    try:
        assert server.host_port == "127.0.0.1:1"
        assert server.bind_address != server.host_port
        assert server.init_headers()["host_port"] == "127.0.0.1:1"
        async with Channel() as client:
            response = await client.call(
                server.bind_address, "svc", "/echo", b"", b"x", timeout=1.0
            )
            assert response.arg3 == b"x"
    finally:
        await server.close(drain_timeout=0)
    with pytest.raises(ValueError, match="bind needs"):
        Channel("127.0.0.1:0", bind="127.0.0.1:0")


async def _echo(request: Request) -> Response:
    return Response(arg3=request.arg3)
