"""Node-style forwarding (``/proxy/req``) between ringpop-node and Python, both ways.

A mixed cluster: 2 ringpop-node 10.21.0 processes running ``interop/node/http-front.js``
(an HTTP server calling ``ringpop.handleOrProxy(key, req, res)``, and a ``request``
listener answering forwarded requests) and 2 Python echo nodes
(``tests/forward/echo_node.py``, aiohttp integration, ``checksum_flavour="node"``).
Every request, sent to any node, is answered by the key's owner: node forwards to
Python and Python to node, with method, URL, headers, status and binary bodies intact.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest

from ringpop.ring import HashRing
from ringpop.tchannel import Channel, TChannelError
from tests.forward.procs import Cluster, Node, start_nodes, wait_ready
from tests.nodeenv import interop_script, node_binary, node_modules_dir

pytestmark = [pytest.mark.interop, pytest.mark.cluster]

APP = "proxy-interop"
BINARY = bytes(range(256)) * 4
TIMEOUT = aiohttp.ClientTimeout(total=30)


@pytest.fixture
def mixed(tmp_path: Path) -> Iterator[tuple[Cluster, list[Node], list[Node]]]:
    node_modules_dir()  # skips without node; installs (or fails loudly) otherwise
    node_front = [
        node_binary(),
        str(interop_script("http-front.js")),
        "--listen={listen}",
        "--hosts={hosts}",
        "--http={http}",
        f"--app={APP}",
    ]
    python_front = [
        sys.executable,
        "-m",
        "tests.forward.echo_node",
        "--listen={listen}",
        "--hosts={hosts}",
        "--http={http}",
        f"--app={APP}",
        "--checksum-flavour=node",
    ]
    cluster = start_nodes(tmp_path, [node_front, python_front], count=4)
    try:
        yield cluster, cluster.nodes[0::2], cluster.nodes[1::2]
    finally:
        cluster.stop()


async def ring_of(channel: Channel, address: str) -> tuple[list[str], int] | None:
    try:
        response = await channel.call(
            address, "ringpop", "/admin/stats", b"", b"", timeout=2.0, scheme="raw"
        )
    except TChannelError:
        return None
    if not response.ok:
        return None
    stats: dict[str, Any] = msgspec.json.decode(response.arg3)
    return sorted(stats["ring"]["servers"]), int(stats["ring"]["checksum"])


async def wait_one_ring(cluster: Cluster, timeout: float = 40.0) -> None:
    want = sorted(n.address for n in cluster.nodes)
    deadline = time.monotonic() + timeout
    seen: list[tuple[list[str], int] | None] = []
    async with Channel("127.0.0.1:0") as channel:
        while time.monotonic() < deadline:
            seen = list(await asyncio.gather(*(ring_of(channel, n.address) for n in cluster.nodes)))
            rings = [s for s in seen if s is not None and s[0] == want]
            if len(rings) == len(seen) and len({s[1] for s in rings}) == 1:
                return
            await asyncio.sleep(0.2)
    raise AssertionError(f"no common ring in {timeout} s: {seen}\n{cluster.logs()}")


def owner(nodes: list[Node], key: str) -> Node:
    ring = HashRing()
    for node in nodes:
        ring.add_server(node.address)
    address = ring.lookup(key)
    return next(n for n in nodes if n.address == address)


def key_of(nodes: list[Node], wanted: Node, prefix: str) -> str:
    return next(
        key for key in (f"{prefix}-{i}" for i in range(10_000)) if owner(nodes, key) is wanted
    )


async def test_node_and_python_forward_to_each_other(
    mixed: tuple[Cluster, list[Node], list[Node]],
) -> None:
    cluster, node_side, python_side = mixed
    await wait_ready(cluster, timeout=60)
    await wait_one_ring(cluster)
    nodes = cluster.nodes
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        # every entry, every owner: the owner answers
        for entry in nodes:
            for target in nodes:
                key = key_of(nodes, target, f"any-{entry.http}")
                async with session.get(f"{entry.url}/objects/{key}") as answer:
                    text = await answer.text()
                    assert answer.status == 200, text
                    assert answer.headers["x-handled-by"] == target.address, text

        # node entry -> Python owner: the Python framework sees the request intact.
        # (ringpop-node reads the body to forward as a UTF-8 string - the `body`
        # package's default - so only text request bodies survive node's side; the
        # binary answer below shows the way back is byte-exact.)
        text_body = "text body \u2713 \u00e9\n".encode()
        for entry in node_side:
            target = python_side[0]
            key = key_of(nodes, target, f"n2p-{entry.http}")
            async with session.post(
                f"{entry.url}/objects/{key}?a=1&b=%20",
                data=text_body,
                headers={"x-custom": "from-node", "x-want-status": "201"},
            ) as answer:
                assert answer.status == 201
                assert await answer.read() == text_body
                assert answer.headers["x-handled-by"] == target.address
                assert answer.headers["x-forwarded-by"] == entry.address
                assert answer.headers["x-seen-method"] == "POST"
                assert answer.headers["x-seen-url"] == f"/objects/{key}?a=1&b=%20"
                seen = json.loads(answer.headers["x-seen-headers"])
                assert seen["x-custom"] == "from-node"
                assert seen["host"] == entry.http
                assert answer.headers.getall("set-cookie") == ["a=1", "b=2"]
            async with session.get(
                f"{entry.url}/objects/{key}", headers={"x-want-binary": "1"}
            ) as answer:
                assert await answer.read() == BINARY

        # Python entry -> node owner: node's request listener sees the request intact
        for entry in python_side:
            target = node_side[1]
            key = key_of(nodes, target, f"p2n-{entry.http}")
            async with session.put(
                f"{entry.url}/objects/{key}?x=%E2%9C%93",
                data=BINARY,
                headers={"x-custom": "from-python", "x-echo": "1", "x-want-status": "202"},
            ) as answer:
                assert answer.status == 202
                reply = await answer.json(content_type=None)
                assert reply["handled_by"] == target.address
                assert reply["forwarded"] is True
                assert reply["method"] == "PUT"
                assert reply["url"] == f"/objects/{key}?x=%E2%9C%93"
                assert reply["headers"]["x-custom"] == "from-python"
                assert reply["headers"]["host"] == entry.http
                assert base64.b64decode(reply["body"]) == BINARY
                assert answer.headers["content-type"] == "application/json"

        # and an empty body
        target = node_side[0]
        key = key_of(nodes, target, "empty")
        async with session.delete(
            f"{python_side[0].url}/objects/{key}", headers={"x-echo": "1"}
        ) as answer:
            reply = await answer.json(content_type=None)
            assert (reply["method"], reply["body"]) == ("DELETE", "")
