"""Nodes of different checksum flavours (spec §12.2) say so, on real TCP.

A go-flavour node (ours by default, ringpop-go) and a node-flavour one (ringpop-node
clusters) never agree on a checksum: every ping between them is answered with a full
sync. Each side recognises the other's checksum as its own members counted the other
way, counts it (``full-sync.other-flavour``) and warns once per peer, naming the fix.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from ringpop import Options, Ringpop
from ringpop.membership.events import ChecksumFlavourMismatch

FAST = Options(min_protocol_period=0.05)


@pytest.fixture
async def pair(request: pytest.FixtureRequest) -> AsyncIterator[list[Ringpop]]:
    flavours: tuple[str, str] = request.param
    nodes = [
        Ringpop("flavours", "127.0.0.1:0", options=FAST.replace(checksum_flavour=f))
        for f in flavours
    ]
    addresses = [await n.start() for n in nodes]
    await asyncio.gather(*(n.bootstrap(addresses) for n in nodes))
    yield nodes
    await asyncio.gather(*(n.close(self_evict=False) for n in nodes))


@pytest.mark.parametrize("pair", [("go", "node")], indirect=True)
async def test_each_side_counts_and_warns_once_naming_the_fix(
    pair: list[Ringpop], caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[list[ChecksumFlavourMismatch]] = [[], []]
    for node, events in zip(pair, seen, strict=True):
        node.events.on(ChecksumFlavourMismatch, events.append)
    with caplog.at_level(logging.WARNING, logger="ringpop.membership.protocol"):
        await asyncio.sleep(1.5)  # each pings the other every 50-200 ms
    go, node = pair
    assert len(seen[0]) >= 2, seen  # a full sync each time, counted each time
    assert len(seen[1]) >= 2, seen
    assert {(e.peer, e.flavour) for e in seen[0]} == {(node.whoami(), "node")}
    assert {(e.peer, e.flavour) for e in seen[1]} == {(go.whoami(), "go")}
    warnings = [r.getMessage() for r in caplog.records if "flavour" in r.getMessage()]
    assert len(warnings) == 2, warnings  # once per peer, however many full syncs
    to_go = next(w for w in warnings if w.startswith(go.whoami()))
    assert "--checksum-flavour=node" in to_go
    assert "checksum_flavour='node'" in to_go
    # the membership itself is one: the same members, alive, on both sides
    assert sorted(go.members()) == sorted(node.members()) == sorted(n.whoami() for n in pair)


@pytest.mark.parametrize("pair", [("node", "node"), ("go", "go")], indirect=True)
async def test_one_flavour_is_no_mismatch(
    pair: list[Ringpop], caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[ChecksumFlavourMismatch] = []
    for node in pair:
        node.events.on(ChecksumFlavourMismatch, seen.append)
    with caplog.at_level(logging.WARNING, logger="ringpop.membership.protocol"):
        await asyncio.sleep(1.0)
    assert seen == []
    assert not [r for r in caplog.records if "flavour" in r.getMessage()]
    assert pair[0].node.checksum == pair[1].node.checksum
