"""A mixed cluster: 2 ringpop-node processes (ringpop@10.21.0 main.js, isCrossPlatform)
and 2 Python testpop processes in node-checksum mode converge to one membership and
agree on the owner of 1000 keys (issue 4, "Must show")."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from farmhash import Fingerprint32

from ringpop.ring import HashRing
from tests.cluster.procs import (
    Admin,
    Cluster,
    Stats,
    alive_members,
    allocate_ports,
    converged,
    describe,
    wait_until,
)
from tests.nodeenv import node_modules_dir

pytestmark = pytest.mark.interop

CONVERGE_TIMEOUT_S = 40.0
KEYS = [f"mixed-key-{i}" for i in range(1000)]


def node_flavour_checksum(stats: Stats) -> int:
    """ringpop-node's isCrossPlatform checksum (spec §12.2): members sorted by address,
    ``address+status+incarnation`` joined by ``;``, FarmHash Fingerprint32."""
    members = sorted(
        (m for m in stats["membership"]["members"] if m["status"] != "tombstone"),
        key=lambda m: str(m["address"]),
    )
    text = ";".join(f"{m['address']}{m['status']}{m['incarnationNumber']}" for m in members)
    return int(Fingerprint32(text))


@pytest.fixture(params=[False, True], ids=["spec-exact", "startup-sync"])
def mixed(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[Cluster, list[str], list[str]]]:
    """2 ringpop-node + 2 Python nodes sharing one hosts file; all killed by PID after.

    Our nodes run as testpop does by default and with the library's startup sync,
    whose extra joins ringpop-node must answer like any other.
    """
    node_modules_dir()  # skips without node; installs (or fails loudly) otherwise
    flags = ["--checksum-flavour=node", "--startup-sync" if request.param else "--no-startup-sync"]
    cluster = Cluster(tmp_path, python_args=flags)
    addresses = [f"127.0.0.1:{port}" for port in allocate_ports(4)]
    hosts = cluster.hosts_file("hosts.json", addresses)
    node_side, python_side = addresses[:2], addresses[2:]
    try:
        for address in node_side:
            cluster.spawn(address, hosts, "node")
        for address in python_side:
            cluster.spawn(address, hosts, "python")
        yield cluster, node_side, python_side
    finally:
        cluster.stop_all()


@pytest.fixture
async def admin() -> AsyncIterator[Admin]:
    async with Admin(timeout=2.0, concurrency=32) as client:
        yield client


async def test_mixed_cluster_converges_and_agrees_on_lookups(
    mixed: tuple[Cluster, list[str], list[str]], admin: Admin
) -> None:
    cluster, node_side, python_side = mixed
    everyone = node_side + python_side
    started = time.monotonic()
    snapshot = await wait_until(
        admin,
        everyone,
        lambda s: converged(s, everyone),
        timeout=CONVERGE_TIMEOUT_S,
        cluster=cluster,
        what="the mixed cluster to converge",
    )
    print(f"mixed cluster converged in {time.monotonic() - started:.2f} s")

    stats = {address: s for address, s in snapshot.items() if s is not None}
    assert set(stats) == set(everyone)
    # One membership: same members, statuses, incarnations and checksum everywhere,
    # and that checksum is node's cross-platform one over what ringpop-node reports.
    views = {
        address: sorted(
            (m["address"], m["status"], m["incarnationNumber"]) for m in s["membership"]["members"]
        )
        for address, s in stats.items()
    }
    assert len({tuple(v) for v in views.values()}) == 1, describe(snapshot)
    checksums = {s["membership"]["checksum"] for s in stats.values()}
    assert checksums == {node_flavour_checksum(stats[node_side[0]])}, describe(snapshot)
    for s in stats.values():
        assert alive_members(s) == set(everyone)
        assert sorted(s["ring"]["servers"]) == sorted(everyone)
    assert len({s["ring"]["checksum"] for s in stats.values()}) == 1

    # 1000 keys: every node (node's ring on the node side, ours on the Python side)
    # names the same owner, which is also what an independent ring over the four
    # addresses says.
    async def owners(address: str) -> list[str]:
        return list(await asyncio.gather(*(admin.lookup(address, key) for key in KEYS)))

    answers = dict(zip(everyone, await asyncio.gather(*(owners(a) for a in everyone)), strict=True))
    expected_ring = HashRing()
    for address in everyone:
        expected_ring.add_server(address)
    expected = [expected_ring.lookup(key) for key in KEYS]
    disagreements = [
        (key, {a: answers[a][i] for a in everyone}, expected[i])
        for i, key in enumerate(KEYS)
        if len({answers[a][i] for a in everyone} | {expected[i]}) != 1
    ]
    assert not disagreements, f"{len(disagreements)} keys disagree, e.g. {disagreements[:3]}"
    # The keys spread over all four owners (a ring that sends everything to one node
    # would agree trivially).
    assert set(expected) == set(everyone)
