"""Bootstrap as the fakes see it: exactly min(6, n) parallel joins (spec §14, testpop §1.2)."""

from __future__ import annotations

import asyncio

import pytest

from tests.conformance.conftest import MakeCluster
from tests.conformance.fakes import APP, now_ms

pytestmark = pytest.mark.cluster


@pytest.mark.parametrize("size", [2, 8])
async def test_exactly_min_6_n_parallel_joins_with_one_incarnation(
    cluster: MakeCluster, size: int
) -> None:
    started_ms = now_ms()
    # Slow answers (0.3 s) would spread sequential joins apart.
    c = await cluster(size, wait_for_ping=False, join_delay=0.3)
    joins = c.requests("/protocol/join")
    assert len(joins) == min(6, size)
    assert len({j.fake for j in joins}) == len(joins), "one join per fake"
    spread = joins[-1].at - joins[0].at
    assert spread < 0.25, f"joins not sent in parallel: spread {spread:.3f} s"
    incarnations = {j.body["incarnationNumber"] for j in joins}
    assert len(incarnations) == 1, incarnations
    incarnation = incarnations.pop()
    assert started_ms - 1000 <= incarnation <= now_ms(), "incarnation is ms since the epoch"
    for join in joins:
        assert join.body["app"] == APP
        assert join.body["source"] == c.sut
        assert "labels" not in join.body, "no labels without --identity"
    # No further join round once enough joined.
    await asyncio.sleep(0.6)
    assert len(c.requests("/protocol/join")) == min(6, size)
    members = await c.members()
    assert members[c.sut]["incarnationNumber"] == incarnation
    assert set(members) == {f.address for f in c.fakes} | {c.sut}


async def test_identity_label_in_every_join_request(cluster: MakeCluster) -> None:
    c = await cluster(3, identity="conformance-sut")
    joins = c.requests("/protocol/join")
    assert len(joins) == 3
    for join in joins:
        assert join.body["labels"] == {"__identity": "conformance-sut"}
    members = await c.members()
    assert members[c.sut]["labels"] == {"__identity": "conformance-sut"}
    for fake in c.fakes:
        assert "labels" not in members[fake.address], "empty labels must be omitted"
