"""``/admin/lifeguard`` of a real testpop process, driven by fake peers (beyond the spec).

The endpoint answers with Lifeguard off and on: suspicion counts per member (accepted
and self-declared), the local health multiplier, the pending dynamic suspicions.
``/admin/stats`` stays schema-exact either way (every ``c.stats()`` validates it).
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from tests.conformance.conftest import MakeCluster
from tests.conformance.fakes import Cluster, FakeNode, Mode

pytestmark = pytest.mark.cluster


async def lifeguard(c: Cluster) -> dict[str, Any]:
    reply = await c.admin("/admin/lifeguard")
    assert reply.ok, reply.raw
    assert isinstance(reply.body, dict), reply.raw
    assert set(reply.body) == {
        "enabled",
        "localHealth",
        "maxLocalHealth",
        "suspicions",
        "counts",
    }
    return reply.body


def suspect(sender: FakeNode, subject: FakeNode) -> dict[str, Any]:
    return {
        "source": sender.address,
        "sourceIncarnationNumber": sender.incarnation,
        "address": subject.address,
        "status": "suspect",
        "incarnationNumber": subject.incarnation,
    }


async def eventually(c: Cluster, check: Any, what: str, timeout: float = 5.0) -> dict[str, Any]:
    """Poll ``/admin/lifeguard`` until ``check(body)`` holds (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    body = await lifeguard(c)
    while not check(body):
        assert loop.time() < deadline, f"no {what} within {timeout} s: {body}"
        await asyncio.sleep(0.05)
        body = await lifeguard(c)
    return body


async def test_counts_suspicions_with_lifeguard_off(cluster: MakeCluster) -> None:
    c = await cluster(3, suspect_ms=500)
    a, b, _ = c.fakes
    body = await lifeguard(c)
    assert body["enabled"] is False
    assert body["localHealth"] == 0
    assert body["maxLocalHealth"] == 8
    assert body["suspicions"] == []
    assert body["counts"] == {}

    assert (await c.ping(a, c.ping_body(a, [suspect(a, b)]))).ok
    body = await lifeguard(c)
    assert body["counts"] == {
        b.address: {"suspect": 1, "faulty": 0, "declaredSuspect": 0, "declaredFaulty": 0}
    }
    assert body["suspicions"] == []  # Lifeguard off: the spec's fixed suspect period

    # 500 ms later the SUT's own suspect timer declares b faulty.
    body = await eventually(
        c, lambda body: body["counts"][b.address]["faulty"] == 1, "faulty declaration"
    )
    assert body["counts"][b.address] == {
        "suspect": 1,
        "faulty": 1,
        "declaredSuspect": 0,
        "declaredFaulty": 1,
    }
    members = await c.members()  # still schema-exact
    assert members[b.address]["status"] == "faulty"


async def test_dynamic_suspicion_shrinks_with_confirmations(cluster: MakeCluster) -> None:
    c = await cluster(4, extra_flags=["--lifeguard", "--lifeguard-suspicion-mult=2.5"])
    a, b, d, _ = c.fakes
    body = await lifeguard(c)
    assert body["enabled"] is True
    assert body["localHealth"] == 0

    # N = 5 members: min = 2.5 x max(1, log10 5) x 200 ms = 500 ms, max = 3 s;
    # k = min(3, N - 2) = 3 confirmations bring it down to the minimum.
    assert (await c.ping(a, c.ping_body(a, [suspect(a, b)]))).ok
    [pending] = (await lifeguard(c))["suspicions"]
    assert pending["address"] == b.address
    assert pending["incarnationNumber"] == b.incarnation
    assert (pending["confirmations"], pending["needed"]) == (0, 3)
    assert pending["timeoutMs"] == pytest.approx(3000.0)
    assert 0 < pending["remainingMs"] <= 3000.0

    # An independent suspicion by d at the same incarnation confirms it.
    assert (await c.ping(d, c.ping_body(d, [suspect(d, b)]))).ok
    body = await lifeguard(c)
    [pending] = body["suspicions"]
    assert pending["confirmations"] == 1
    expected = 3000.0 - 2500.0 * math.log(2) / math.log(4)
    assert pending["timeoutMs"] == pytest.approx(expected, abs=0.1)
    assert body["counts"][b.address]["suspect"] == 1  # a confirmation is no new update
    assert (await c.members())[b.address]["status"] == "suspect"


async def test_local_health_rises_when_probes_fail(cluster: MakeCluster) -> None:
    c = await cluster(
        3, extra_flags=["--lifeguard", "--ping-timeout=100", "--ping-req-timeout=200"]
    )
    for fake in c.fakes:  # every probe and every indirect probe fails
        fake.ping_mode = Mode.REFUSE
        fake.ping_req_mode = Mode.REFUSE
    body = await eventually(c, lambda body: body["localHealth"] >= 2, "local health >= 2")
    assert body["localHealth"] <= body["maxLocalHealth"] == 8
    for fake in c.fakes:
        fake.ping_mode = Mode.ANSWER
        fake.ping_req_mode = Mode.ANSWER
    # Successful probes bring it back down (period and timeouts stretch meanwhile).
    await eventually(c, lambda body: body["localHealth"] == 0, "local health back to 0", 15.0)
