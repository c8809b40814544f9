"""The examples run as real 3-node clusters: objects and the replicated key-value store."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from ringpop.ring import HashRing
from tests.forward.procs import REPO, start_nodes, wait_ready

pytestmark = pytest.mark.cluster

TIMEOUT = aiohttp.ClientTimeout(total=20)


def owner(addresses: list[str], key: str) -> str:
    ring = HashRing()
    for address in addresses:
        ring.add_server(address)
    found = ring.lookup(key)
    assert found is not None
    return found


async def wait_members(session: aiohttp.ClientSession, urls: list[str], count: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        sizes = []
        for url in urls:
            try:
                async with session.get(f"{url}/") as answer:
                    sizes.append(len((await answer.json())["members"]))
            except aiohttp.ClientError:
                sizes.append(0)
        if all(size == count for size in sizes):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"members never converged: {sizes}")
        await asyncio.sleep(0.1)


async def test_kv_store_any_node_any_operation(tmp_path: Path) -> None:
    # the way `ringpop tick-cluster --example kv` runs it: the directory as a script,
    # testpop's flags, HTTP on the TChannel port + 1000 unless --http is given
    flags = ["--listen={listen}", "--hosts={hosts}", "--suspect-period=1000"]
    commands = [
        [sys.executable, str(REPO / "examples" / "kv"), *flags, "--faulty-period=5000"],
        [sys.executable, "-m", "examples.kv", *flags, "--http={http}"],
        [sys.executable, "-m", "examples.kv", *flags, "--http={http}", "--tombstone-period=5000"],
    ]
    cluster = start_nodes(tmp_path, commands)
    try:
        await wait_ready(cluster)
        first = cluster.nodes[0]
        port = int(first.address.rsplit(":", 1)[1])
        assert f"http://127.0.0.1:{port + 1000}" in first.log_text()
        first.http = f"127.0.0.1:{port + 1000}"
        addresses = [n.address for n in cluster.nodes]
        urls = [n.url for n in cluster.nodes]
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
            await wait_members(session, urls, 3)
            values = {
                f"user:{i}": f"value {i} \u2713".encode() + bytes([0, 255]) for i in range(12)
            }
            for i, (key, value) in enumerate(values.items()):
                async with session.put(f"{urls[i % 3]}/kv/{key}", data=value) as answer:
                    assert answer.status == 201, await answer.text()
                    assert answer.headers["x-ringpop-owner"] == owner(addresses, key)
            for key, value in values.items():
                for url in urls:
                    async with session.get(f"{url}/kv/{key}") as answer:
                        assert answer.status == 200
                        assert await answer.read() == value
                        assert answer.headers["x-ringpop-owner"] == owner(addresses, key)
            stored: dict[str, list[str]] = {}
            for node, url in zip(cluster.nodes, urls, strict=True):
                async with session.get(f"{url}/kv") as answer:
                    stored[node.address] = (await answer.json())["keys"]
            for key in values:  # each key is stored on its 3 replicas: every node here
                assert sorted(a for a, keys in stored.items() if key in keys) == sorted(addresses)
            async with session.put(f"{urls[1]}/kv/user:0", data=b"new") as answer:
                assert answer.status == 201
                assert answer.headers["x-ringpop-replicas"].split(",")[0] == owner(
                    addresses, "user:0"
                )
            async with session.delete(f"{urls[2]}/kv/user:0") as answer:
                assert answer.status == 204
            async with session.get(f"{urls[0]}/kv/user:0") as answer:
                assert answer.status == 404
            async with session.delete(f"{urls[0]}/kv/user:0") as answer:
                assert answer.status == 404
        for node in cluster.nodes:
            assert node.terminate() == 0, node.log_text()
    finally:
        cluster.stop()


async def test_objects_example_says_who_answered(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "examples.objects.node",
        "--listen={listen}",
        "--hosts={hosts}",
        "--http={http}",
    ]
    cluster = start_nodes(tmp_path, [command], count=3)
    try:
        await wait_ready(cluster)
        addresses = [n.address for n in cluster.nodes]
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
            await wait_members(session, [n.url for n in cluster.nodes], 3)
            for object_id in ("abc", "def", "ghi", "jkl", "mno"):
                expected = owner(addresses, object_id)
                for entry in cluster.nodes:
                    async with session.get(f"{entry.url}/objects/{object_id}") as answer:
                        body = await answer.json()
                    assert body["id"] == object_id
                    assert body["handled_by"] == expected
                    assert body["forwarded"] is (entry.address != expected)
                    assert body["forwarded_by"] == (
                        entry.address if entry.address != expected else None
                    )
    finally:
        cluster.stop()


def test_the_kv_node_help_lists_its_own_flags() -> None:
    """``--help`` once showed only the common node flags: --n/--w/--r, --store,
    --data-dir were accepted but not listed."""
    import subprocess

    shown = subprocess.run(
        [sys.executable, "-m", "examples.kv", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    for flag in ("--n N", "--w W", "--r R", "--store", "--data-dir", "--handoff-grace"):
        assert flag in shown
    assert "--listen" in shown  # and the common ones
