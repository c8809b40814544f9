"""Tracing on live in-process nodes over real TCP: deliveries, log sink, errors, expiry."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ringpop import Options, Ringpop
from ringpop.admin.client import AdminClient, AdminError
from tests.trace.sink import Sink

QUICK = Options(min_protocol_period=0.05, ping_timeout=0.2, ping_req_timeout=0.3)
CHECKSUM = "membership.checksum.update"
STATUSES = ["alive", "faulty", "leave", "suspect", "tombstone"]


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    sink = Sink("ringpop", "/trace/membership.checksum.update", "/trace/ring.changed", "/mine")
    await sink.start()
    try:
        yield sink
    finally:
        await sink.close()


@pytest.fixture
async def client() -> AsyncIterator[AdminClient]:
    async with AdminClient(timeout=3.0) as client:
        yield client


def tchannel_body(host_port: str, event: str = CHECKSUM, **extra: Any) -> dict[str, Any]:
    return {
        "event": event,
        "expiresIn": 30_000,
        "sink": {"type": "tchannel", "hostPort": host_port, **extra},
    }


async def test_events_reach_the_sink_while_a_node_joins_and_leaves(
    sink: Sink, client: AdminClient
) -> None:
    first = Ringpop("trace-test", "127.0.0.1:0", options=QUICK)
    second = Ringpop("trace-test", "127.0.0.1:0", options=QUICK)
    a, b = await first.start(), await second.start()
    try:
        await first.bootstrap([a])
        echo = await client.call(a, "/trace/add", tchannel_body(sink.channel.host_port))
        assert echo == tchannel_body(sink.channel.host_port)  # the options, echoed
        await client.call(a, "/trace/add", tchannel_body(sink.channel.host_port, "ring.changed"))
        await second.bootstrap([a, b])
        await sink.wait_for(lambda s: s.bodies("/trace/ring.changed"))
        await sink.wait_for(
            lambda s: any(
                b["membershipStatusCounts"]["alive"] == 2 for b in s.bodies(f"/trace/{CHECKSUM}")
            )
        )
        update = sink.bodies(f"/trace/{CHECKSUM}")[-1]
        assert list(update) == ["id", "address", "timestamp", "checksum", "membershipStatusCounts"]
        assert update["id"] == update["address"] == a
        assert update["checksum"] == first.node.members.checksum
        assert list(update["membershipStatusCounts"]) == STATUSES
        delivery = sink.deliveries[0]
        assert (delivery.service, delivery.arg2) == ("ringpop", b"")
        assert delivery.headers["as"] == "raw"
        assert delivery.headers["cn"] == "ringpop"
        ring = sink.bodies("/trace/ring.changed")[-1]
        assert ring["added"] == [b]
        assert ring["removed"] == []

        await second.close()  # self-evicts (declares itself faulty): a new checksum
        await sink.wait_for(
            lambda s: any(
                b["membershipStatusCounts"]["faulty"] == 1 for b in s.bodies(f"/trace/{CHECKSUM}")
            )
        )
        removed = await client.call(
            a,
            "/trace/remove",
            {"event": CHECKSUM, "sink": {"type": "tchannel", "hostPort": sink.channel.host_port}},
        )
        assert removed["event"] == CHECKSUM
        again = await client.call(
            a,
            "/trace/remove",
            {"event": CHECKSUM, "sink": {"type": "tchannel", "hostPort": sink.channel.host_port}},
        )
        assert again is None  # nothing matched: empty answer, like node
    finally:
        await asyncio.gather(first.close(), second.close())


async def test_log_sink_errors_cap_and_expiry(
    sink: Sink, client: AdminClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ringpop.trace")
    node = Ringpop("trace-test", "127.0.0.1:0", options=QUICK)
    a = await node.start()
    tracing = node._tracing
    assert tracing is not None
    try:
        await client.call(a, "/trace/add", {"event": CHECKSUM, "expires-in": 200})  # log sink
        await node.bootstrap([a])
        node.set_label("k", "1")  # a new incarnation, a new checksum: one log line
        lines = [r.getMessage() for r in caplog.records if r.name == "ringpop.trace"]
        assert any(line.startswith(f'/trace/{CHECKSUM} {{"id":"{a}"') for line in lines), lines
        await asyncio.sleep(0.4)
        assert len(tracing.registry) == 0  # expired by its timer

        with pytest.raises(AdminError) as caught:
            await client.call(a, "/trace/add", {"event": "nope"})
        assert "ringpop.invalid-option" in caught.value.message
        assert "`event` option is invalid because it is unknown" in caught.value.message
        with pytest.raises(AdminError) as caught:
            await client.call(a, "/trace/add", tchannel_body("127.0.0.1:1"))
        assert (
            "`tchannel.hostPort` option is invalid because it is unreachable"
            in caught.value.message
        )

        tracing.registry.max_tracers = 2
        for endpoint in ("/mine", "/other"):
            await client.call(
                a, "/trace/add", tchannel_body(sink.channel.host_port, endpoint=endpoint)
            )
        with pytest.raises(AdminError) as caught:
            await client.call(
                a, "/trace/add", tchannel_body(sink.channel.host_port, endpoint="/third")
            )
        assert "ringpop.trace.limit-exceeded" in caught.value.message

        # A failing sink is counted, and never holds up the node.
        sink.failing = True
        node.set_label("k", "2")  # a new incarnation: the checksum changes
        await sink.wait_for(lambda s: s.bodies("/mine"))
        await asyncio.sleep(0.1)
        tracers = {t.sink.key[-1]: t for t in tracing.registry}
        assert tracers["/mine"].failed == 1
        assert tracers["/other"].failed == 1  # no such endpoint at the sink
    finally:
        await node.close()
    assert len(tracing.registry) == 0
