"""SwimNode on a MemoryNetwork: gossip timing, ping-req rules, bootstrap, full syncs,
self-eviction and the join handler's errors. Loop time is virtual (looptime).

The node under test is real; the members around it are scripted :class:`Peer` objects
that answer as told and record what they receive.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import random
from collections.abc import Iterable
from typing import Any

import msgspec
import pytest

from ringpop.clock import LoopClock
from ringpop.discovery import StaticHosts
from ringpop.membership.heal import Healer, HealError
from ringpop.membership.join import BootstrapError, bootstrap
from ringpop.membership.network import CallError, RemoteError
from ringpop.membership.node import SelfEvictionError, SwimNode
from ringpop.membership.protocol import protocol_handlers
from ringpop.membership.status import Status
from ringpop.messages import (
    Change,
    JoinRequest,
    JoinResponse,
    PingReqRequest,
    PingReqResponse,
    PingRequest,
    PingResponse,
    decode,
    encode,
)
from ringpop.options import Options
from ringpop.testing.memnet import CallRecord, MemoryNetwork

pytestmark = pytest.mark.looptime(noop_cycles=1)  # virtual time; no I/O, so 1 no-op cycle

NODE = "127.0.0.1:3000"
INC = 1_000


def peer_address(i: int) -> str:
    """A peer on another IP than :data:`NODE`."""
    return f"10.0.0.{i + 1}:3000"


def alive(address: str, incarnation: int = INC, *, source: str = "") -> Change:
    return Change(address=address, status="alive", incarnation_number=incarnation, source=source)


class Peer:
    """A scripted member: answers join, ping and ping-req; records the requests."""

    def __init__(
        self, network: MemoryNetwork, address: str, *, app: str | msgspec.UnsetType = "ringpop"
    ) -> None:
        self.address = address
        self.app = app
        self.transport = network.membership(address)
        self.received: list[tuple[str, bytes]] = []
        self.gate: asyncio.Event | None = None
        """While set to an unset event, every handler waits for it."""
        self.membership: list[Change] = [alive(address)]
        self.ping_changes: list[Change] = []
        self.ping_status: bool | None = True
        """The ``pingStatus`` of ping-req answers; ``None``: answer with an error."""
        self.ping_req_changes: list[Change] = []
        self.transport.serve(
            {
                "/protocol/join": self._join,
                "/protocol/ping": self._ping,
                "/protocol/ping-req": self._ping_req,
            }
        )

    def count(self, endpoint: str) -> int:
        return sum(1 for e, _ in self.received if e == endpoint)

    async def _enter(self, endpoint: str, body: bytes) -> None:
        self.received.append((endpoint, body))
        if self.gate is not None:
            await self.gate.wait()

    async def _join(self, body: bytes) -> bytes:
        await self._enter("/protocol/join", body)
        return encode(
            JoinResponse(app=self.app, coordinator=self.address, membership=list(self.membership))
        )

    async def _ping(self, body: bytes) -> bytes:
        await self._enter("/protocol/ping", body)
        return encode(PingResponse(changes=list(self.ping_changes)))

    async def _ping_req(self, body: bytes) -> bytes:
        await self._enter("/protocol/ping-req", body)
        request = decode(body, PingReqRequest)
        if self.ping_status is None:
            raise RemoteError("ringpop.not-ready", "Ringpop is not ready")
        return encode(
            PingReqResponse(
                changes=list(self.ping_req_changes),
                ping_status=self.ping_status,
                target=request.target,
            )
        )


def make_node(
    network: MemoryNetwork, address: str = NODE, *, seed: int = 1, **options: Any
) -> SwimNode:
    transport = network.membership(address)
    node = SwimNode(
        address,
        transport,
        options=Options(**options),
        clock=LoopClock(start_ms=INC * 1000),
        rng=random.Random(seed),
    )
    transport.serve(protocol_handlers(node))
    return node


def knows(node: SwimNode, addresses: Iterable[str]) -> None:
    """Make ``node`` know ``addresses`` alive and ready, without gossip or dissemination."""
    node.apply_changes([alive(a) for a in addresses], disseminate=False)
    node.mark_ready()


def tap(network: MemoryNetwork, endpoint: str | None = None) -> list[CallRecord]:
    records: list[CallRecord] = []

    def record(call: CallRecord) -> None:
        if endpoint is None or call.endpoint == endpoint:
            records.append(call)

    network.add_tap(record)
    return records


def now() -> float:
    return asyncio.get_running_loop().time()


# -- gossip timing (§8.1) ---------------------------------------------------------------


async def test_tick_is_skipped_while_one_runs() -> None:
    network = MemoryNetwork()
    node = make_node(network, auto_gossip=False)
    peer = Peer(network, peer_address(0))
    knows(node, [peer.address])
    peer.gate = asyncio.Event()
    first = asyncio.ensure_future(node.tick())
    await asyncio.sleep(0.1)
    assert await node.tick() is False
    assert node.ping_count == 1
    peer.gate.set()
    assert await first is True
    assert peer.count("/protocol/ping") == 1
    assert await node.tick() is True
    assert node.ping_count == 2


async def test_ticks_start_200ms_apart_without_drift() -> None:
    network = MemoryNetwork(latency=0.01)  # 20 ms round trips: fast pings
    node = make_node(network, auto_gossip=False)
    peer = Peer(network, peer_address(0))
    knows(node, [peer.address])
    pings = tap(network, "/protocol/ping")
    node.start_gossip()
    await asyncio.sleep(6.0)
    await node.stop()
    assert 29 <= len(pings) <= 31
    gaps = {round(b.time - a.time, 6) for a, b in itertools.pairwise(pings)}
    assert gaps == {0.2}  # start to start: the 20 ms round trip does not accumulate
    assert node.protocol_rate == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("one_way", "rate"),
    [(0.15, 0.6), (0.04, 0.2), (0.3, 1.2)],
)
async def test_protocol_rate_is_twice_the_median_at_least_200ms(
    one_way: float, rate: float
) -> None:
    network = MemoryNetwork(latency=one_way)
    node = make_node(network, auto_gossip=False)
    peer = Peer(network, peer_address(0))
    knows(node, [peer.address])
    pings = tap(network, "/protocol/ping")
    node.start_gossip()
    await asyncio.sleep(10.0)
    await node.stop()
    assert node.tick_durations()
    assert set(map(round6, node.tick_durations())) == {round6(2 * one_way)}
    assert node.protocol_rate == pytest.approx(rate)
    gaps = {round6(b.time - a.time) for a, b in itertools.pairwise(pings)}
    assert gaps == {rate}


def round6(value: float) -> float:
    return round(value, 6)


async def test_protocol_rate_uses_the_median_of_recent_ticks() -> None:
    network = MemoryNetwork(latency=0.001)
    node = make_node(network, auto_gossip=False, ping_req_size=1)
    fast = [Peer(network, peer_address(i)) for i in range(3)]
    slow = Peer(network, peer_address(9))
    network.set_link(NODE, slow.address, latency=0.25)
    knows(node, [p.address for p in [*fast, slow]])
    node.start_gossip()
    await asyncio.sleep(12.0)
    await node.stop()
    durations = sorted(node.tick_durations())
    # 3 of 4 ticks are fast: the median is fast, one slow member does not slow gossip.
    assert node.protocol_rate == pytest.approx(max(0.2, 2 * durations[len(durations) // 2]))
    assert node.protocol_rate == pytest.approx(0.2)


# -- ping-req outcomes (§8.4, node semantics) ------------------------------------------------


async def probe(node: SwimNode, network: MemoryNetwork, target: str) -> float:
    """Tick until a tick pings ``target``; that tick's duration."""
    pings = tap(network, "/protocol/ping")
    for _ in range(10):
        start = now()
        before = len(pings)
        await node.tick()
        if any(p.destination == target and p.source == node.address for p in pings[before:]):
            return now() - start
    raise AssertionError(f"{target} never pinged")


def ping_req_setup(
    helpers: int = 3, **options: Any
) -> tuple[MemoryNetwork, SwimNode, Peer, list[Peer]]:
    network = MemoryNetwork(latency=0.001)
    node = make_node(network, auto_gossip=False, **options)
    target = Peer(network, "10.0.1.1:3000")
    others = [Peer(network, peer_address(i)) for i in range(helpers)]
    knows(node, [target.address, *(p.address for p in others)])
    network.crash(target.address)
    return network, node, target, others


async def test_any_ping_status_false_suspects_at_the_incarnation_at_ping_time() -> None:
    network, node, target, helpers = ping_req_setup()
    helpers[0].ping_status = False
    helpers[1].ping_status = None
    helpers[2].ping_status = None
    took = await probe(node, network, target.address)
    member = node.members.get(target.address)
    assert member is not None
    assert (member.status, member.incarnation) == (Status.SUSPECT, INC)
    assert sum(h.count("/protocol/ping-req") for h in helpers) == 3
    assert took == pytest.approx(1.5 + 0.002, abs=0.001)  # ping timeout + one round trip
    assert node.timers.get(target.address) is not None


async def test_suspicion_about_a_superseded_incarnation_is_dropped() -> None:
    network, node, target, helpers = ping_req_setup()
    for helper in helpers:
        helper.ping_status = False
    # A helper's answer tells us the target has meanwhile reincarnated.
    helpers[1].ping_req_changes = [alive(target.address, INC + 5, source=helpers[1].address)]
    await probe(node, network, target.address)
    member = node.members.get(target.address)
    assert member is not None
    assert (member.status, member.incarnation) == (Status.ALIVE, INC + 5)


async def test_all_helpers_failing_is_inconclusive() -> None:
    network, node, target, helpers = ping_req_setup()
    for helper in helpers[:2]:
        helper.ping_status = None  # application error
    network.crash(helpers[2].address)  # timeout
    took = await probe(node, network, target.address)
    member = node.members.get(target.address)
    assert member is not None
    assert member.status == Status.ALIVE
    assert took == pytest.approx(1.5 + 5.0, abs=0.001)  # waited for the last helper


async def test_one_ping_status_true_settles_it_at_once() -> None:
    network, node, target, helpers = ping_req_setup()
    helpers[0].ping_status = False
    helpers[1].gate = asyncio.Event()  # never answers in time
    helpers[2].ping_status = True
    took = await probe(node, network, target.address)
    member = node.members.get(target.address)
    assert member is not None
    assert member.status == Status.ALIVE
    assert took == pytest.approx(1.5 + 0.002, abs=0.001)
    helpers[1].gate.set()


async def test_no_helpers_suspects_immediately() -> None:
    network, node, target, _ = ping_req_setup(helpers=0)
    requests = tap(network, "/protocol/ping-req")
    took = await probe(node, network, target.address)
    member = node.members.get(target.address)
    assert member is not None
    assert (member.status, member.incarnation) == (Status.SUSPECT, INC)
    assert requests == []
    assert took == pytest.approx(1.5)


async def test_ping_req_uses_at_most_k_helpers() -> None:
    network, node, target, helpers = ping_req_setup(helpers=6, ping_req_size=3)
    for helper in helpers:
        helper.ping_status = False
    await probe(node, network, target.address)
    asked = [h for h in helpers if h.count("/protocol/ping-req")]
    assert len(asked) == 3
    for helper in asked:
        request = decode(helper.received[-1][1], PingReqRequest)
        assert request.target == target.address


# -- bootstrap (§14) ----------------------------------------------------------------------


@pytest.mark.parametrize(("hosts", "joins"), [(1, 1), (2, 2), (4, 4), (6, 6), (10, 6)])
async def test_first_round_sends_min_6_n_joins_in_parallel(hosts: int, joins: int) -> None:
    network = MemoryNetwork(latency=0.01)
    node = make_node(network, auto_gossip=False)
    peers = [Peer(network, peer_address(i)) for i in range(hosts)]
    calls = tap(network, "/protocol/join")
    result = await bootstrap(node, StaticHosts([NODE, *(p.address for p in peers)]))
    assert (result.rounds, result.attempts, len(result.joined)) == (1, joins, joins)
    assert len(calls) == joins
    assert len({c.time for c in calls}) == 1
    assert now() == pytest.approx(0.02)  # one round trip: all in parallel
    assert node.ready


async def test_join_response_without_app_is_accepted_another_app_is_not() -> None:
    network = MemoryNetwork(latency=0.01)
    node = make_node(network, auto_gossip=False)
    silent = Peer(network, peer_address(0), app=msgspec.UNSET)  # sends no app: unknown
    result = await bootstrap(node, StaticHosts([NODE, silent.address]))
    assert result.joined == [silent.address]
    assert node.members.get(silent.address) is not None
    other = make_node(network, peer_address(5), auto_gossip=False)
    Peer(network, peer_address(6), app="other")
    with pytest.raises(BootstrapError) as caught:
        await bootstrap(other, StaticHosts([other.address, peer_address(6)]))
    assert caught.value.permanent
    assert "ringpop.invalid-join.app" in str(caught.value)


@pytest.mark.parametrize(("other_ip", "expected_other"), [(7, 6), (3, 3)])
async def test_hosts_on_another_ip_are_preferred(other_ip: int, expected_other: int) -> None:
    network = MemoryNetwork()
    node = make_node(network, auto_gossip=False)
    same = [Peer(network, f"127.0.0.1:{3001 + i}") for i in range(6)]
    other = [Peer(network, peer_address(i)) for i in range(other_ip)]
    calls = tap(network, "/protocol/join")
    hosts = [p.address for p in same + other] + [NODE]
    await bootstrap(node, StaticHosts(hosts))
    assert len(calls) == 6
    chosen = {c.destination for c in calls}
    assert len(chosen & {p.address for p in other}) == expected_other


async def test_rounds_back_off_until_join_size_is_reached() -> None:
    network = MemoryNetwork(latency=0.0)
    node = make_node(network, auto_gossip=False)
    hosts = [peer_address(i) for i in range(5)]
    Peer(network, hosts[0])  # the others come up later
    calls = tap(network, "/protocol/join")

    async def late_starters() -> None:
        await asyncio.sleep(0.5)
        Peer(network, hosts[1])
        Peer(network, hosts[2])

    starter = asyncio.ensure_future(late_starters())
    result = await bootstrap(node, StaticHosts([NODE, *hosts]))
    assert starter.done()
    assert node.ready
    assert len(result.joined) == 3
    rounds: dict[float, list[str]] = {}
    for call in calls:
        rounds.setdefault(call.time, []).append(call.destination)
    starts = sorted(rounds)
    assert len(starts) == result.rounds >= 3
    # 5 joins (all hosts), then (3 - 1) x 2 = 4 to the ones not yet joined.
    assert [len(rounds[t]) for t in starts[:2]] == [5, 4]
    assert all(hosts[0] not in rounds[t] for t in starts[1:])
    # Backoff: delay k is uniform in [cap(k-1), cap(k)), cap(k) = 0.1 x 2^k.
    caps = [0.0] + [0.1 * 2**k for k in range(len(starts))]
    for k, (a, b) in enumerate(itertools.pairwise(starts)):
        assert caps[k] - 1e-6 <= b - a <= caps[k + 1] + 1e-6
    assert result.attempts == sum(len(v) for v in rounds.values())


async def test_bootstrap_gives_up_after_max_join_duration() -> None:
    network = MemoryNetwork()
    node = make_node(network, auto_gossip=False, max_join_duration=10.0)
    hosts = [peer_address(i) for i in range(4)]  # nobody there
    started = now()
    with pytest.raises(BootstrapError, match="joined 0 of the needed members"):
        await bootstrap(node, StaticHosts([NODE, *hosts]))
    assert 10.0 <= now() - started < 20.0
    assert not node.ready


async def test_alone_when_the_list_names_only_self() -> None:
    network = MemoryNetwork()
    node = make_node(network, auto_gossip=False)
    result = await bootstrap(node, StaticHosts([NODE]))
    assert result.alone
    assert node.ready
    assert network.stats.calls == 0
    assert now() == 0.0


async def test_join_lists_are_not_disseminated_and_timers_start() -> None:
    network = MemoryNetwork(latency=0.001)
    node = make_node(network)
    peers = [Peer(network, peer_address(i)) for i in range(3)]
    suspect, faulty, gone = "10.0.2.1:3000", "10.0.2.2:3000", "10.0.2.3:3000"
    for peer in peers:
        peer.membership = [
            alive(peer.address),
            alive("10.0.2.9:3000"),
            Change(address=suspect, status="suspect", incarnation_number=INC),
            Change(address=faulty, status="faulty", incarnation_number=INC),
            Change(address=gone, status="faulty", incarnation_number=INC, tombstone=True),
        ]
    pings = tap(network, "/protocol/ping")
    await bootstrap(node, StaticHosts([NODE, *(p.address for p in peers)]))
    joined_at = now()
    assert set(node.disseminator.pending()) == {NODE}
    assert node.members.get(gone) is None  # a tombstone never creates a member
    suspect_timer = node.timers.get(suspect)
    faulty_timer = node.timers.get(faulty)
    assert suspect_timer is not None
    assert faulty_timer is not None
    assert (suspect_timer.state, suspect_timer.due_at) == (Status.SUSPECT, joined_at + 5.0)
    assert (faulty_timer.state, faulty_timer.due_at) == (Status.FAULTY, joined_at + 86_400.0)
    await asyncio.sleep(0.3)
    first = decode(pings[0].body, PingRequest)
    assert first.changes == [node.members.local_change()]
    await asyncio.sleep(5.0)
    member = node.members.get(suspect)
    assert member is not None
    assert member.status == Status.FAULTY
    await node.stop()


# -- reverse full sync (§7.5) ---------------------------------------------------------------


async def test_at_most_5_reverse_full_syncs_in_flight() -> None:
    network = MemoryNetwork(latency=0.001)
    node = make_node(network, auto_gossip=False)
    peers = [Peer(network, peer_address(i)) for i in range(7)]
    knows(node, [])
    node.disseminator.clear()  # nothing pending: a checksum mismatch means full sync
    gate = asyncio.Event()
    for peer in peers:
        peer.gate = gate

    async def ping_from(peer: Peer) -> PingResponse:
        body = encode(
            PingRequest(
                checksum=1,
                changes=[],
                source=peer.address,
                source_incarnation_number=INC,
                app="ringpop",
            )
        )
        return decode(
            await peer.transport.call(NODE, "/protocol/ping", body, timeout=1), PingResponse
        )

    responses = [await ping_from(peer) for peer in peers]
    assert all(len(r.changes) == len(node.members) for r in responses)  # full syncs
    await asyncio.sleep(0.01)
    assert node.reverse_syncs_running == 5
    assert sum(p.count("/protocol/join") for p in peers) == 5
    gate.set()
    await asyncio.sleep(0.01)
    assert node.reverse_syncs_running == 0
    assert sum(p.count("/protocol/join") for p in peers) == 5  # skipped, not queued
    # The joined memberships were applied and are disseminated (unlike bootstrap).
    assert set(node.disseminator.pending()) == {p.address for p in peers[:5]}


@pytest.mark.parametrize("source", [7, 2**64, True, {"x": 1}, ["127.0.0.1:1"], "", "no-port"])
async def test_ping_from_an_unusable_source_is_answered_as_from_an_unknown_peer(
    source: Any,
) -> None:
    network = MemoryNetwork(latency=0.001)
    node = make_node(network, auto_gossip=False)
    peer = Peer(network, peer_address(0))
    knows(node, [])
    node.disseminator.clear()  # nothing pending: a known peer would get a full sync
    contacts: list[str] = []
    node.contact_listeners.append(contacts.append)
    body = {
        "checksum": 1,
        "changes": [],
        "source": source,
        "sourceIncarnationNumber": INC,
        "app": "ringpop",
    }

    async def ping(body: dict[str, Any]) -> PingResponse:
        raw = json.dumps(body).encode()
        return decode(
            await peer.transport.call(NODE, "/protocol/ping", raw, timeout=1), PingResponse
        )

    assert (await ping(body)).changes == []  # no full sync (a known peer would get one)
    new = alive(peer_address(1))
    response = await ping({**body, "changes": [msgspec.to_builtins(new)]})
    assert [c.address for c in response.changes] == [new.address]
    assert node.members.get(new.address) is not None  # its usable change applied
    ping_req = {**body, "target": peer.address}
    del ping_req["app"]
    answer = await peer.transport.call(
        NODE, "/protocol/ping-req", json.dumps(ping_req).encode(), timeout=1
    )
    assert decode(answer, PingReqResponse).ping_status is True
    await asyncio.sleep(0.01)
    assert node.reverse_syncs_running == 0
    assert peer.count("/protocol/join") == 0
    assert contacts == []
    await node.stop()


async def test_reverse_full_sync_slot_is_freed_by_its_timeout() -> None:
    network = MemoryNetwork(latency=0.001)
    node = make_node(network, auto_gossip=False, max_reverse_full_syncs=1)
    peer = Peer(network, peer_address(0))
    knows(node, [])
    peer.gate = asyncio.Event()
    assert node.start_reverse_full_sync(peer.address)
    assert not node.start_reverse_full_sync(peer.address)
    await asyncio.sleep(5.01)  # reverse_full_sync_timeout
    assert node.reverse_syncs_running == 0
    assert node.start_reverse_full_sync(peer.address)
    peer.gate.set()
    await node.stop()


# -- startup sync (beyond the spec) ------------------------------------------------------


def ping_body(peer: Peer, checksum: int) -> bytes:
    return encode(
        PingRequest(
            checksum=checksum,
            changes=[],
            source=peer.address,
            source_incarnation_number=INC,
            app="ringpop",
        )
    )


async def ping_node(peer: Peer, checksum: int) -> PingResponse:
    answer = await peer.transport.call(NODE, "/protocol/ping", ping_body(peer, checksum), timeout=1)
    return decode(answer, PingResponse)


async def test_startup_sync_pulls_a_differing_view_while_the_node_is_new() -> None:
    network = MemoryNetwork(latency=0.001)
    node = make_node(network, auto_gossip=False)
    peer = Peer(network, peer_address(0))
    hidden = peer_address(7)  # known to the peer only, as after a simultaneous start
    peer.membership = [alive(peer.address), alive(hidden)]
    knows(node, [peer.address])
    assert set(node.disseminator.pending()) == {NODE}  # our own alive change: not a full sync

    response = await ping_node(peer, checksum=1)
    assert [c.address for c in response.changes] == [NODE]  # changes, as the spec says
    await asyncio.sleep(0.01)
    assert peer.count("/protocol/join") == 1  # ... and the view of the peer is pulled
    assert node.members.get(hidden) is not None
    assert hidden in node.disseminator.pending()  # learned by sync: disseminated

    await ping_node(peer, checksum=1)
    await asyncio.sleep(0.01)
    assert peer.count("/protocol/join") == 1  # at most one per startup_sync_interval
    await asyncio.sleep(0.5)
    await ping_node(peer, checksum=1)
    await asyncio.sleep(0.01)
    assert peer.count("/protocol/join") == 2
    await node.stop()


async def test_startup_sync_stops_once_a_ping_agrees_with_us() -> None:
    network = MemoryNetwork(latency=0.001)
    node = make_node(network, auto_gossip=False)
    peer = Peer(network, peer_address(0))
    knows(node, [peer.address])
    await ping_node(peer, checksum=node.checksum)
    await asyncio.sleep(1)
    await ping_node(peer, checksum=1)
    await asyncio.sleep(0.01)
    assert peer.count("/protocol/join") == 0
    await node.stop()


async def test_startup_sync_stops_after_its_window() -> None:
    network = MemoryNetwork(latency=0.001)
    node = make_node(network, auto_gossip=False, startup_sync_window=2.0)
    peer = Peer(network, peer_address(0))
    knows(node, [peer.address])
    await asyncio.sleep(2.5)
    await ping_node(peer, checksum=1)
    await asyncio.sleep(0.01)
    assert peer.count("/protocol/join") == 0
    await node.stop()


async def test_without_startup_sync_a_ping_answered_with_changes_starts_no_join() -> None:
    network = MemoryNetwork(latency=0.001)
    node = make_node(network, auto_gossip=False, startup_sync_enabled=False)
    peer = Peer(network, peer_address(0))
    knows(node, [peer.address])
    response = await ping_node(peer, checksum=1)
    assert [c.address for c in response.changes] == [NODE]
    await asyncio.sleep(0.01)
    assert peer.count("/protocol/join") == 0  # the spec's exact behaviour (§7.3, §7.5)
    await node.stop()


# -- self-eviction (§15) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factor", "pingable", "pinged"),
    [(15, 10, 4), (15, 1, 1), (15, 3, 2), (1, 10, 2), (15, 30, 12)],
)
async def test_self_evict_pings_min_maxp_and_40_percent(
    factor: int, pingable: int, pinged: int
) -> None:
    network = MemoryNetwork(latency=0.001)
    node = make_node(network, auto_gossip=False, piggyback_factor=factor)
    peers = [Peer(network, peer_address(i)) for i in range(pingable)]
    knows(node, [p.address for p in peers])
    assert pinged == min(node.disseminator.max_p, math.ceil(0.4 * pingable))
    pings = tap(network, "/protocol/ping")
    assert await node.self_evict() == pinged
    assert len(pings) == len({p.destination for p in pings}) == pinged
    assert node.local.status == Status.FAULTY
    assert NODE not in node.ring.servers()
    for ping in pings:
        changes = decode(ping.body, PingRequest).changes
        assert [(c.address, c.status) for c in changes] == [(NODE, "faulty")]
    assert not node.gossiping


async def test_second_self_eviction_is_refused() -> None:
    network = MemoryNetwork(latency=0.001)
    node = make_node(network, auto_gossip=False)
    peer = Peer(network, peer_address(0))
    knows(node, [peer.address])
    peer.gate = asyncio.Event()
    first = asyncio.ensure_future(node.self_evict())
    await asyncio.sleep(0.1)
    with pytest.raises(SelfEvictionError, match="already executing a self-eviction"):
        await node.self_evict()
    peer.gate.set()
    assert await first == 1


# -- the join handler (§4.1) ----------------------------------------------------------------


def join_body(source: str, app: str = "ringpop") -> bytes:
    return encode(JoinRequest(app=app, source=source, incarnation_number=INC))


@pytest.mark.parametrize(
    ("body", "error_type", "message"),
    [
        (
            b"not json",
            "Error",
            "need JSON req body with source and incarnationNumber",
        ),
        (
            join_body(NODE),
            "ringpop.self-join",
            "A node tried joining a cluster by attempting to join itself. "
            f"The joiner ({NODE}) must join someone else.",
        ),
        (
            join_body(NODE, app="other"),  # node checks self before app
            "ringpop.self-join",
            "A node tried joining a cluster by attempting to join itself. "
            f"The joiner ({NODE}) must join someone else.",
        ),
        (
            join_body("nonsense"),
            "ringpop.invalid-join.source",
            "A node tried joining a cluster with an invalid host-port (nonsense)",
        ),
        (
            join_body("10.9.0.1:3000"),
            "ringpop.invalid-join.blacklist",
            r"10.9.0.1:3000 tried joining a cluster, but its host is part of the blacklist: "
            r"^10\.9\., :4000$",
        ),
        (
            join_body("10.0.0.1:3000", app="other"),
            "ringpop.invalid-join.app",
            "A node tried joining a different app cluster. "
            "The expected app (ringpop) did not match the actual app (other).",
        ),
    ],
)
async def test_join_errors_carry_node_types_and_messages(
    body: bytes, error_type: str, message: str
) -> None:
    network = MemoryNetwork()
    node = make_node(network, auto_gossip=False, member_blacklist=(r"^10\.9\.", ":4000$"))
    client = network.membership("10.0.0.1:3000")
    with pytest.raises(RemoteError) as caught:
        await client.call(NODE, "/protocol/join", body, timeout=1)
    assert (caught.value.type, caught.value.message) == (error_type, message)
    assert len(node.members) == 1


async def test_join_missing_fields_is_a_plain_error() -> None:
    network = MemoryNetwork()
    make_node(network, auto_gossip=False)
    client = network.membership("10.0.0.1:3000")
    with pytest.raises(RemoteError) as caught:
        await client.call(NODE, "/protocol/join", b'{"app": "ringpop"}', timeout=1)
    assert caught.value.type == "Error"
    assert caught.value.message.startswith("need req body with app, source and incarnationNumber")


async def test_join_is_served_before_ready_and_does_not_add_the_joiner() -> None:
    network = MemoryNetwork()
    node = make_node(network, auto_gossip=False)
    client = network.membership("10.0.0.1:3000")
    raw = await client.call(NODE, "/protocol/join", join_body("10.0.0.1:3000"), timeout=1)
    response = decode(raw, JoinResponse)
    assert not node.ready
    assert response.coordinator == NODE
    assert response.membership_checksum == node.checksum
    assert [c.address for c in response.membership] == [NODE]
    assert len(node.members) == 1
    ping = PingRequest(checksum=1, changes=[], source="10.0.0.1:3000", source_incarnation_number=1)
    with pytest.raises(RemoteError) as caught:
        await client.call(NODE, "/protocol/ping", encode(ping), timeout=1)
    assert caught.value.type == "ringpop.not-ready"


async def test_unreachable_peer_is_a_call_error_not_a_crash() -> None:
    network = MemoryNetwork()
    node = make_node(network, auto_gossip=False)
    knows(node, ["10.0.5.5:3000"])  # nobody listens there
    assert await node.send_ping("10.0.5.5:3000") is False
    with pytest.raises(CallError):
        await node.send_join("10.0.5.5:3000", timeout=1)


# -- partition healing (§11) ----------------------------------------------------------------


def heal_setup(known_status: str | None) -> tuple[MemoryNetwork, SwimNode, Peer, Healer]:
    network = MemoryNetwork(latency=0.001)
    node = make_node(network, auto_gossip=False)
    target = Peer(network, peer_address(0))
    target.membership = [alive(target.address), alive(peer_address(1))]
    if known_status is not None:
        node.apply_changes(
            [Change(address=target.address, status=known_status, incarnation_number=INC)]
        )
    node.mark_ready()
    return network, node, target, Healer(node, StaticHosts([NODE, target.address]))


@pytest.mark.parametrize(
    ("known_status", "phase_changes"),
    [("faulty", [(peer_address(0), "suspect")]), (None, None)],
    ids=["reincarnation", "merge"],
)
async def test_heal_attempt_pings_the_target(
    known_status: str | None, phase_changes: list[tuple[str, str]] | None
) -> None:
    _, node, target, healer = heal_setup(known_status)
    assert await healer.heal() == [target.address]
    assert target.count("/protocol/join") == target.count("/protocol/ping") == 1
    sent = decode(target.received[-1][1], PingRequest).changes
    if phase_changes is None:  # merge: they get our whole (merged) membership
        assert {c.address for c in sent} == {NODE, target.address, peer_address(1)}
        member = node.members.get(peer_address(1))
        assert member is not None
        assert member.status == Status.ALIVE
    else:  # reincarnation: only the source-less suspects, nothing merged
        assert [(c.address, c.status) for c in sent] == phase_changes
        assert all(c.source == "" for c in sent)
        assert node.members.get(peer_address(1)) is None


@pytest.mark.parametrize("known_status", ["faulty", None], ids=["reincarnation", "merge"])
async def test_heal_attempt_fails_when_its_ping_fails(known_status: str | None) -> None:
    _, _, target, healer = heal_setup(known_status)

    async def refuse(body: bytes) -> bytes:
        raise RemoteError("ringpop.not-ready", "Ringpop is not ready")

    target.transport.serve({"/protocol/ping": refuse})
    with pytest.raises(HealError):
        await healer.attempt(target.address)
    assert await healer.heal() == []
