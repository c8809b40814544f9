"""No acknowledged write lost: 5 kv processes, a writer, kill -9 / restart / join / leave.

The short form of ``bench/kv_chaos.py`` (under 90 s): one of each fault, then every
acknowledged key is read back through every running node.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from tests.cluster.kvchaos import KvCluster, Writer, quiesce, summary, verify

pytestmark = pytest.mark.cluster

PHASE = 3.0  # seconds of writing between faults


async def _ready(cluster: KvCluster, count: int, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    for node in cluster.nodes[:count]:
        while node.log_tail(100_000).count("ready ") < 1:
            assert node.running(), f"{node.address} exited:\n{node.log_tail()}"
            assert time.monotonic() < deadline, cluster.logs()
            await asyncio.sleep(0.05)


async def _ready_again(node_log_count: int, cluster: KvCluster, index: int) -> None:
    node = cluster.nodes[index]
    for _ in range(800):  # 40 s
        if node.log_tail(1_000_000).count("ready ") > node_log_count:
            return
        assert node.running(), node.log_tail()
        await asyncio.sleep(0.05)
    raise AssertionError(f"{node.address} not ready again:\n{node.log_tail()}")


@pytest.mark.parametrize("store", ["sqlite", "memory"])
async def test_no_acknowledged_write_is_lost(tmp_path: Path, store: str) -> None:
    """SQLite (a restarted node keeps its file; pullers take /2 pages) and memory (a
    restarted node comes back empty and refills; pullers take /3 blob pages)."""
    began = time.monotonic()
    cluster = KvCluster(
        tmp_path,
        5,
        spare=1,
        extra=("--handoff-grace=4", "--anti-entropy-interval=2", f"--store={store}"),
    )
    timeout = aiohttp.ClientTimeout(total=5)
    try:
        cluster.start()
        await _ready(cluster, 5)
        async with aiohttp.ClientSession(
            timeout=timeout, connector=aiohttp.TCPConnector(limit=64)
        ) as session:
            writer = Writer(cluster, workers=6)
            writing = asyncio.ensure_future(writer.run(session))
            await asyncio.sleep(PHASE)
            cluster.nodes[1].kill()  # kill -9
            await asyncio.sleep(PHASE)
            cluster.nodes[1].start()  # restart: same address, same data dir
            await _ready_again(1, cluster, 1)
            await asyncio.sleep(PHASE)
            cluster.nodes[5].start()  # a sixth node joins
            await _ready(cluster, 6)
            await asyncio.sleep(PHASE)
            assert cluster.nodes[3].terminate() == 0  # graceful leave
            await asyncio.sleep(PHASE)
            writer.stop()
            await asyncio.wait_for(writing, 30)
            states = await quiesce(cluster, timeout=30)
            verdict = await verify(session, cluster, writer)
        took = time.monotonic() - began
        print(summary(states))
        print(
            f"writes ok {writer.counts['ok']} failed {writer.counts['failed']}; keys acknowledged "
            f"{verdict.acknowledged}, verified on every node {verdict.verified}, "
            f"lost {len(verdict.lost)} ({verdict.reads} reads); {took:.0f} s"
        )
        assert writer.counts["ok"] > 100
        assert not verdict.lost, (verdict.lost[:20], states)
        assert verdict.verified == verdict.acknowledged
    finally:
        cluster.stop()
    assert not cluster.running()
