"""Receiving rules (spec §1.1) with a real testpop and scripted peers: what
ringpop-common's fake nodes send is accepted, an unusable change is dropped alone,
counted in the node's stats and logged at most once per peer per minute."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from tests.conformance.conftest import MakeCluster
from tests.conformance.fakes import Cluster, free_port

pytestmark = pytest.mark.cluster

DROPPED_LOG = "dropped unusable entries from"


class StatsdCollector(asyncio.DatagramProtocol):
    """Counters received over UDP from the SUT's ``--statsd`` back end."""

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        for line in data.decode(errors="replace").splitlines():
            key, _, rest = line.partition(":")
            value, _, kind = rest.partition("|")
            if kind == "c":
                # ringpop.127_0_0_1_<port>.<stat key>
                self.counters[key.split(".", 2)[-1]] += int(float(value))


async def statsd(port: int) -> tuple[asyncio.DatagramTransport, StatsdCollector]:
    loop = asyncio.get_running_loop()
    transport, collector = await loop.create_datagram_endpoint(
        StatsdCollector, local_addr=("127.0.0.1", port)
    )
    return transport, collector


def dropped_lines(c: Cluster) -> list[str]:
    text = c.stderr_path.read_text(errors="replace")
    return [line for line in text.splitlines() if DROPPED_LOG in line]


async def test_join_response_listing_the_joiner_without_incarnation(
    cluster: MakeCluster,
) -> None:
    # ringpop-common's fakes list the joining node without incarnationNumber (and send
    # membershipChecksum null) until they have seen its incarnation.
    port = free_port()
    transport, collector = await statsd(port)
    try:
        c = await cluster(
            3, joiner_without_incarnation=True, extra_flags=[f"--statsd=127.0.0.1:{port}"]
        )
        joins = c.requests("/protocol/join")
        assert len(joins) == 3
        members = await c.members()
        assert {m["status"] for m in members.values()} == {"alive"}
        assert set(members) == {c.sut, *(f.address for f in c.fakes)}
        # The entry about the SUT itself was dropped, not applied as a rumour: no bump.
        assert members[c.sut]["incarnationNumber"] == c.sut_incarnation
        await c.wait_for(
            lambda: collector.counters["receive.dropped.incarnationNumber"] >= 3,
            3.0,
            "the dropped entries in the SUT's stats",
        )
        lines = dropped_lines(c)
        assert len(lines) == 3, lines  # one per peer
        assert {f.address for f in c.fakes} == {
            next(f.address for f in c.fakes if f.address in line) for line in lines
        }
    finally:
        transport.close()


async def test_ping_responses_with_null_checksum_are_successful_pings(
    cluster: MakeCluster,
) -> None:
    c = await cluster(3, suspect_ms=1000)
    loop = asyncio.get_running_loop()
    a, b, d = c.fakes
    a.ping_reply_fields = {"checksum": None}
    b.ping_reply_fields = {
        "checksum": None,
        "source": None,
        "sourceIncarnationNumber": None,
        "app": None,
        "target": None,
    }
    d.ping_reply_fields = {"checksum": None, "changes": None}
    since = loop.time()

    def pinged_each_twice() -> bool:
        return all(len(f.requests("/protocol/ping", since)) >= 2 for f in c.fakes)

    await c.wait_for(pinged_each_twice, 6.0, "two pings to every fake")
    await asyncio.sleep(0.3)  # time for a ping-req, were any ping counted as failed
    assert c.requests("/protocol/ping-req", since) == []
    members = await c.members()
    assert {members[f.address]["status"] for f in c.fakes} == {"alive"}


async def test_ping_response_changes_dropped_alone(cluster: MakeCluster) -> None:
    c = await cluster(3)
    loop = asyncio.get_running_loop()
    a, b, d = c.fakes
    d.incarnation += 1  # news the SUT should learn from a's ping responses
    news = d.member()
    bad: list[Any] = [
        {"address": b.address, "status": "faulty", "source": "x" * 100_000},
        {**b.member("faulty"), "incarnationNumber": None},
        {"address": b.address, "status": "faulty"},
        {**b.member("faulty"), "incarnationNumber": b.incarnation + 0.5},
        {**b.member("faulty"), "incarnationNumber": -1},
        {**b.member("faulty"), "incarnationNumber": 2**64},
        {**b.member("faulty"), "labels": {"k": ["v"]}},
        {**b.member("faulty", incarnationNumber=b.incarnation + 1), "status": "dead"},
        {**b.member("faulty"), "address": None},
        {"status": "faulty", "incarnationNumber": b.incarnation + 1, "address": 7},
        "127.0.0.1:1",
        None,
        # About the SUT, unusable: never a rumour to refute or adopt.
        {"address": c.sut, "status": "faulty"},
    ]
    a.ping_reply_changes = [*bad[:6], {**news, "source": None, "id": None}, *bad[6:]]
    since = loop.time()

    async def learned() -> bool:
        members = await c.members()
        return bool(members[d.address]["incarnationNumber"] == d.incarnation)

    await c.wait_for(learned, 6.0, "the good change among bad ones to be applied")
    members = await c.members()
    assert members[b.address]["status"] == "alive"
    assert members[b.address]["incarnationNumber"] == b.incarnation
    assert members[c.sut]["incarnationNumber"] == c.sut_incarnation
    await c.wait_for(lambda: len(a.requests("/protocol/ping", since)) >= 3, 6.0, "more pings to a")
    a.ping_reply_changes = []
    lines = [line for line in dropped_lines(c) if a.address in line]
    assert len(lines) == 1, lines  # many bad responses from a, one log line a minute
    assert len(lines[0]) < 1000, "a huge dropped entry must not reach the log whole"
    assert c.requests("/protocol/ping-req", since) == []


async def test_ping_req_responses_received_liberally(cluster: MakeCluster) -> None:
    c = await cluster(3, suspect_ms=1000)
    loop = asyncio.get_running_loop()
    a, b, d = c.fakes
    a.ping_mode = a.ping_mode.REFUSE  # a fails its direct pings: ping-reqs follow
    b.ping_req_status = False  # a well-formed "not reached": alone, it means suspect
    d.ping_req_reply_fields = {"target": None, "checksum": None}
    d.ping_req_reply_changes = [{"address": a.address, "status": "faulty"}, 5]
    since = loop.time()
    await c.wait_for(
        lambda: len(c.requests("/protocol/ping-req", since)) >= 2, 6.0, "ping-reqs about a"
    )
    await asyncio.sleep(1.5)  # past suspect_ms: a suspicion would have turned faulty
    members = await c.members()
    assert members[a.address]["status"] == "alive", "d's pingStatus true means reached"


async def test_change_about_an_address_without_port_is_counted(cluster: MakeCluster) -> None:
    # A string, so the receiving rules keep it; the member list refuses a new member
    # whose address is not host:port, and that drop is counted like the others.
    port = free_port()
    transport, collector = await statsd(port)
    try:
        c = await cluster(2, extra_flags=[f"--statsd=127.0.0.1:{port}"])
        a = c.fakes[0]
        changes = [{"address": "no-port", "status": "alive", "incarnationNumber": 5}]
        assert (await c.ping(a, c.ping_body(a, changes))).ok
        await c.wait_for(
            lambda: collector.counters["receive.dropped.address"] >= 1,
            3.0,
            "the dropped address in the SUT's stats",
        )
        assert "no-port" not in await c.members()
    finally:
        transport.close()
