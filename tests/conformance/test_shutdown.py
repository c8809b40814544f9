"""SIGTERM: self-eviction pings to ceil(0.4 x n) members, then exit 0 (spec §15)."""

from __future__ import annotations

import asyncio
import math

import pytest

from tests.conformance.conftest import MakeCluster

pytestmark = pytest.mark.cluster


async def test_sigterm_self_evicts_then_exits_zero(cluster: MakeCluster) -> None:
    size = 5
    c = await cluster(size)
    since = asyncio.get_running_loop().time()
    status = await c.terminate(timeout=8.0)
    assert status == 0, f"exit status {status}\n{c.log_tail()}"

    evictions = [
        (ping.fake, ch)
        for ping in c.requests("/protocol/ping", since)
        for ch in ping.changes
        if ch.get("address") == c.sut and ch.get("status") == "faulty"
    ]
    told = [fake for fake, _ in evictions]
    assert len(told) == len(set(told)), "self-eviction pings go to distinct members"
    assert len(told) == math.ceil(0.4 * size), f"told {told}"
    for _, change in evictions:
        assert change["source"] == c.sut
        assert change["incarnationNumber"] > c.sut_incarnation
        assert change["sourceIncarnationNumber"] == change["incarnationNumber"]
        assert not change.get("tombstone")
