"""The in-memory network: latency, timeouts, errors and every fault, in loop time.

Most cases go through membership's view (``network.membership(address)``: a
:class:`~ringpop.membership.network.TChannelNetwork` over the memory transport),
the rest through the :class:`~ringpop.transport.Transport` itself.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from ringpop.clock import LoopClock
from ringpop.membership.network import CallError, Network, RemoteError, TChannelNetwork
from ringpop.tchannel import (
    ApplicationError,
    BadRequestError,
    BusyError,
    CallTimeoutError,
    Channel,
    NetworkError,
    Request,
    Response,
    UnexpectedError,
)
from ringpop.testing.memnet import CallRecord, MemoryNetwork
from ringpop.transport import Transport

pytestmark = pytest.mark.looptime(noop_cycles=1)  # virtual time; no I/O, so 1 no-op cycle

A = "10.0.0.1:3000"
B = "10.0.0.2:3000"
C = "10.0.0.3:3000"


def echo_server(network: MemoryNetwork, address: str, seen: list[float] | None = None) -> None:
    async def echo(body: bytes) -> bytes:
        if seen is not None:
            seen.append(asyncio.get_running_loop().time())
        return b"echo:" + body

    network.membership(address).serve({"/echo": echo})


def pair(
    latency: float = 0.001, jitter: float = 0.0, rng: random.Random | None = None
) -> tuple[MemoryNetwork, TChannelNetwork]:
    network = MemoryNetwork(latency=latency, jitter=jitter, rng=rng)
    client = network.membership(A)
    echo_server(network, B)
    return network, client


def test_transports_are_transports_like_the_channel() -> None:
    network = MemoryNetwork()
    transport: Transport = network.transport(A)
    assert transport is network.get(A)
    assert isinstance(transport, Transport)
    assert isinstance(Channel("127.0.0.1:0"), Transport)
    view: Network = network.membership(B)
    assert isinstance(view, TChannelNetwork)
    assert view.channel is network.get(B)


async def test_round_trip_takes_two_hops_of_latency() -> None:
    network, client = pair(latency=0.25)
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert await client.call(B, "/echo", b"hi", timeout=1.0) == b"echo:hi"
    assert loop.time() - start == pytest.approx(0.5)
    assert network.stats.calls == 1
    assert network.stats.messages_sent == 2


async def test_jitter_comes_from_the_injected_rng() -> None:
    durations: list[list[float]] = []
    for _ in range(2):
        network, client = pair(latency=0.1, jitter=0.05)
        network.rng = random.Random(42)
        loop = asyncio.get_running_loop()
        runs = []
        for _ in range(5):
            start = loop.time()
            await client.call(B, "/echo", b"", timeout=1.0)
            runs.append(round(loop.time() - start, 6))
        durations.append(runs)
    assert durations[0] == durations[1]
    assert all(0.2 <= d <= 0.3 for d in durations[0])
    assert len(set(durations[0])) > 1


async def test_timeout_raises_call_error_on_time() -> None:
    network = MemoryNetwork(latency=0.001)
    client = network.membership(A)

    async def slow(body: bytes) -> bytes:
        await asyncio.sleep(10)
        return b""

    network.membership(B).serve({"/slow": slow})
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(CallError, match="timed out"):
        await client.call(B, "/slow", b"", timeout=1.5)
    assert loop.time() - start == pytest.approx(1.5)
    assert network.stats.timeouts == 1


async def test_unknown_and_stopped_addresses_fail_at_once() -> None:
    network, client = pair(latency=0.1)
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(CallError, match="refused"):
        await client.call(C, "/echo", b"", timeout=5)
    server = network.get(B)
    assert server is not None
    server.stop()
    with pytest.raises(CallError, match="refused"):
        await client.call(B, "/echo", b"", timeout=5)
    assert loop.time() == start
    assert network.stats.refused == 2
    assert network.addresses == [A]
    # A stopped address can come back with a new transport (a restarted node).
    echo_server(network, B)
    assert await client.call(B, "/echo", b"x", timeout=1) == b"echo:x"
    with pytest.raises(ValueError, match="running transport"):
        network.transport(B)


async def test_remote_error_reaches_the_caller() -> None:
    network = MemoryNetwork()
    client = network.membership(A)

    async def refuse(body: bytes) -> bytes:
        raise RemoteError("ringpop.not-ready", "Ringpop is not ready")

    network.membership(B).serve({"/refuse": refuse})
    with pytest.raises(RemoteError) as caught:
        await client.call(B, "/refuse", b"", timeout=1)
    assert caught.value.type == "ringpop.not-ready"
    assert caught.value.message == "Ringpop is not ready"
    assert network.stats.remote_errors == 1
    assert network.handler_failures == []


async def test_crashing_handler_and_unknown_endpoint_are_call_errors() -> None:
    network = MemoryNetwork()
    client = network.membership(A)

    async def broken(body: bytes) -> bytes:
        raise ZeroDivisionError("oops")

    network.membership(B).serve({"/broken": broken})
    with pytest.raises(CallError, match="unexpected") as caught:
        await client.call(B, "/broken", b"", timeout=1)
    assert not isinstance(caught.value, RemoteError)
    assert [(f.address, f.endpoint) for f in network.handler_failures] == [(B, "/broken")]
    assert isinstance(network.handler_failures[0].error, ZeroDivisionError)
    with pytest.raises(CallError, match="no handler") as caught:
        await client.call(B, "/nothing", b"", timeout=1)
    assert not isinstance(caught.value, RemoteError)


async def test_partition_drops_across_groups_until_healed() -> None:
    network, client = pair(latency=0.01)
    echo_server(network, C)
    network.partition([A], [B])
    assert not network.can_reach(A, B)
    assert network.can_reach(A, C)  # in no group: reaches everyone
    with pytest.raises(CallError, match="timed out"):
        await client.call(B, "/echo", b"", timeout=0.5)
    assert await client.call(C, "/echo", b"c", timeout=0.5) == b"echo:c"
    network.heal_partition()
    assert await client.call(B, "/echo", b"b", timeout=0.5) == b"echo:b"
    with pytest.raises(ValueError, match="two partition groups"):
        network.partition([A, B], [B])


async def test_partition_cuts_messages_in_flight() -> None:
    network, client = pair(latency=0.1)
    call = asyncio.ensure_future(client.call(B, "/echo", b"", timeout=1))
    await asyncio.sleep(0.05)
    network.partition([A], [B])
    with pytest.raises(CallError, match="timed out"):
        await call
    assert network.stats.messages_dropped == 1


async def test_crash_drops_both_directions_and_recover_restores() -> None:
    network, client = pair(latency=0.01)
    seen: list[float] = []
    echo_server(network, C, seen)
    network.crash(B)
    with pytest.raises(CallError, match="timed out"):
        await client.call(B, "/echo", b"", timeout=0.2)
    server = network.get(B)
    assert server is not None
    with pytest.raises(CallError, match="timed out"):
        await TChannelNetwork(server).call(C, "/echo", b"", timeout=0.2)
    assert seen == []  # the crashed node's request never arrived
    network.recover(B)
    assert await client.call(B, "/echo", b"", timeout=0.2) == b"echo:"


async def test_lost_response_after_the_handler_ran() -> None:
    network = MemoryNetwork(latency=0.01)
    client = network.membership(A)
    seen: list[float] = []
    echo_server(network, B, seen)
    network.set_loss(B, A, 1.0, symmetric=False)
    with pytest.raises(CallError, match="timed out"):
        await client.call(B, "/echo", b"", timeout=0.2)
    assert len(seen) == 1
    network.set_loss(B, A, 0.0, symmetric=False)
    assert await client.call(B, "/echo", b"", timeout=0.2) == b"echo:"


async def test_partial_loss_is_seeded() -> None:
    outcomes: list[list[bool]] = []
    for _ in range(2):
        network, client = pair(latency=0.01, rng=random.Random(5))
        network.set_loss(A, B, 0.3)
        run = []
        for _ in range(40):
            try:
                await client.call(B, "/echo", b"", timeout=0.1)
                run.append(True)
            except CallError:
                run.append(False)
        outcomes.append(run)
    assert outcomes[0] == outcomes[1]
    assert 5 < outcomes[0].count(False) < 35


async def test_per_link_latency() -> None:
    network, client = pair(latency=0.01)
    network.set_link(A, B, latency=0.5)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await client.call(B, "/echo", b"", timeout=2)
    assert loop.time() - start == pytest.approx(1.0)
    with pytest.raises(ValueError, match="probability"):
        network.set_link(A, B, loss=2.0)


async def test_pause_holds_requests_until_resume() -> None:
    network, client = pair(latency=0.01)
    seen: list[float] = []
    echo_server(network, C, seen)
    loop = asyncio.get_running_loop()
    start = loop.time()
    network.pause(C)
    assert network.is_paused(C)
    with pytest.raises(CallError, match="timed out"):
        await client.call(C, "/echo", b"", timeout=1.0)
    assert seen == []
    late = asyncio.ensure_future(client.call(C, "/echo", b"late", timeout=5.0))
    await asyncio.sleep(2.0)
    network.resume(C)
    assert await late == b"echo:late"
    # Both held requests were handled at the resume (the first one's caller gave up).
    assert [round(t - start, 6) for t in seen] == [3.0, 3.0]
    assert loop.time() - start == pytest.approx(3.01)


async def test_paused_node_sends_nothing() -> None:
    network, client = pair(latency=0.01)
    seen: list[float] = []
    echo_server(network, C, seen)
    network.pause(A)
    call = asyncio.ensure_future(client.call(C, "/echo", b"", timeout=5.0))
    await asyncio.sleep(1.0)
    assert seen == []
    network.clear_faults()
    assert await call == b"echo:"
    assert not network.is_paused(A)


async def test_stop_cancels_handlers_and_fails_own_calls() -> None:
    network = MemoryNetwork(latency=0.01)
    client = network.membership(A)
    server = network.membership(B)
    started = asyncio.Event()

    async def hang(body: bytes) -> bytes:
        started.set()
        await asyncio.sleep(100)
        return b""

    server.serve({"/hang": hang})
    client.serve({"/hang": hang})
    call = asyncio.ensure_future(client.call(B, "/hang", b"", timeout=50))
    await started.wait()
    stop(network, B)
    with pytest.raises(CallError, match="reset"):
        await call
    own = asyncio.ensure_future(server.call(A, "/hang", b"", timeout=50))
    with pytest.raises(CallError, match="stopped"):
        await own
    pending = asyncio.ensure_future(client.call(A, "/hang", b"", timeout=50))
    await asyncio.sleep(0.1)
    stop(network, A)
    with pytest.raises(CallError, match="stopped"):
        await pending


def stop(network: MemoryNetwork, address: str) -> None:
    transport = network.get(address)
    assert transport is not None
    transport.stop()


async def test_taps_see_every_call() -> None:
    network, client = pair()
    records: list[CallRecord] = []
    network.add_tap(records.append)
    await client.call(B, "/echo", b"1", timeout=1)
    with pytest.raises(CallError):
        await client.call(C, "/echo", b"2", timeout=1)
    network.remove_tap(records.append)
    await client.call(B, "/echo", b"3", timeout=1)
    assert [(r.source, r.destination, r.endpoint, r.body) for r in records] == [
        (A, B, "/echo", b"1"),
        (A, C, "/echo", b"2"),
    ]
    assert network.stats.by_endpoint["/echo"] == 3


async def test_loop_clock_follows_loop_time() -> None:
    clock = LoopClock(start_ms=1_000_000)
    assert clock.now_ms() == 1_000_000
    start = clock.monotonic()
    await asyncio.sleep(2.5)
    assert clock.monotonic() - start == pytest.approx(2.5)
    assert clock.now_ms() == 1_002_500


# -- the Transport itself: TChannel's call model and errors ---------------------------


async def test_transport_calls_carry_tchannel_requests_and_responses() -> None:
    network = MemoryNetwork(latency=0.01)
    client, server = network.transport(A), network.transport(B)
    seen: list[Request] = []

    async def handler(request: Request) -> Response:
        seen.append(request)
        return Response(b"head", request.arg3.upper())

    def plain(request: Request) -> Response:  # plain functions are handlers too
        return Response(b"", b"plain")

    server.register("app", "/up", handler)
    server.register("other", "/up", plain)
    assert await server.listen() == B
    assert server.host_port == B
    response = await client.call(B, "app", "/up", b"h", b"body", timeout=1, scheme="json")
    assert (response.ok, response.arg2, response.arg3) == (True, b"head", b"BODY")
    request = seen[0]
    assert (request.service, request.endpoint, request.arg2, request.remote) == (
        "app",
        "/up",
        b"h",
        A,
    )
    assert (request.scheme, request.caller, request.ttl) == ("json", "ringpop", 1)
    assert (await client.call(B, "other", "/up", timeout=1)).arg3 == b"plain"
    assert server.endpoints == [("app", "/up"), ("other", "/up")]
    server.unregister("app", "/up")
    with pytest.raises(BadRequestError, match="no handler"):
        await client.call(B, "app", "/up", timeout=1)
    as_transport: Transport = server
    assert as_transport.peer_connection(A) is None  # no connections kept


async def test_transport_errors_are_tchannel_errors() -> None:
    network = MemoryNetwork(latency=0.01)
    client, server = network.transport(A), network.transport(B)

    async def app_error(request: Request) -> Response:
        raise ApplicationError("app.no", "not here")

    async def busy(request: Request) -> Response:
        raise BusyError("too much")

    async def broken(request: Request) -> Response:
        raise KeyError("bug")

    server.register("app", "/error", app_error)
    server.register("app", "/busy", busy)
    server.register("app", "/broken", broken)
    answer = await client.call(B, "app", "/error", timeout=1)
    assert not answer.ok
    assert answer.json() == {"type": "app.no", "message": "not here"}
    assert network.stats.remote_errors == 1
    with pytest.raises(BusyError, match="too much"):
        await client.call(B, "app", "/busy", timeout=1)
    with pytest.raises(UnexpectedError):
        await client.call(B, "app", "/broken", timeout=1)
    assert [f.endpoint for f in network.handler_failures] == ["/broken"]
    with pytest.raises(NetworkError, match="refused"):
        await client.call(C, "app", "/busy", timeout=1)
    network.crash(B)
    with pytest.raises(CallTimeoutError):
        await client.call(B, "app", "/busy", timeout=0.5)
    with pytest.raises(CallTimeoutError):
        await client.ping(B, timeout=0.5)
    network.recover(B)
    await client.ping(B, timeout=0.5)
    await server.close()
    assert server.closed
    with pytest.raises(NetworkError, match="refused"):
        await client.ping(B, timeout=0.5)
