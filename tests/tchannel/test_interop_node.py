"""Interop with tchannel-node 3.10.1, both directions, over real TCP on 127.0.0.1.

Python client -> node server (interop/tchannel/server.js) and node client
(interop/tchannel/client.js) -> Python server: raw and json schemes, every
checksum type, arguments of 0 B, 64 KiB-1, 64 KiB+1 and 1 MiB, application
errors, error frames, timeouts, ping and calls back over the same connection.
Skipped (by tests.nodeenv) only when node is not installed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from ringpop.tchannel import (
    ApplicationError,
    BadRequestError,
    BusyError,
    CallCancelledError,
    CallTimeoutError,
    Channel,
    ChecksumType,
    DeclinedError,
    NetworkError,
    Request,
    Response,
    TChannelError,
    UnexpectedError,
    UnhealthyError,
)

from .nodeprocs import NodeClient, NodeServer, payload, sha256

pytestmark = [pytest.mark.interop, pytest.mark.timeout(90)]

SIZES = [0, 65_535, 65_537, 1 << 20]
CHECKSUMS = list(ChecksumType)


@pytest.fixture(scope="module")
def node_server() -> Iterator[NodeServer]:
    server = NodeServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def node_client() -> Iterator[NodeClient]:
    client = NodeClient()
    try:
        yield client
    finally:
        client.stop()


@pytest.fixture
async def channel() -> AsyncIterator[Channel]:
    """A listening Python channel serving service ``py-svc``."""
    ch = Channel("127.0.0.1:0")

    async def echo(request: Request) -> Response:
        return Response(request.arg2, request.arg3)

    async def info(request: Request, body: Any) -> Any:
        return {
            "remote": request.remote,
            "headers": request.headers,
            "caller": request.caller,
            "checksumType": request.checksum_type,
        }

    async def json_echo(request: Request, body: Any) -> Any:
        return {"got": body, "head": json.loads(request.arg2) if request.arg2 else None}

    async def json_fail(request: Request, body: Any) -> Any:
        raise ApplicationError("py.failure", "python says no")

    async def busy(request: Request) -> Response:
        raise BusyError("too busy")

    ch.register("py-svc", "echo", echo)
    ch.register_json("py-svc", "info", info)
    ch.register_json("py-svc", "json-echo", json_echo)
    ch.register_json("py-svc", "json-fail", json_fail)
    ch.register("py-svc", "busy", busy)
    await ch.listen()
    try:
        yield ch
    finally:
        await ch.close(drain_timeout=0)


# ------------------------------------------------------- Python client -> node server


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("csum", CHECKSUMS)
async def test_python_calls_node_raw(
    node_server: NodeServer, channel: Channel, size: int, csum: ChecksumType
) -> None:
    arg2 = payload(size // 2, 5)
    arg3 = payload(size, 9)
    response = await channel.call(
        node_server.host_port, "node-svc", "echo", arg2, arg3, timeout=10, checksum_type=csum
    )
    assert response.ok
    assert response.headers["as"] == "raw"
    assert response.arg2 == arg2
    assert response.arg3 == arg3


@pytest.mark.parametrize("csum", CHECKSUMS)
async def test_node_sees_our_request_as_sent(
    node_server: NodeServer, channel: Channel, csum: ChecksumType
) -> None:
    seen = await channel.call_json(
        node_server.host_port,
        "node-svc",
        "info",
        payload(70_000, 1),
        timeout=1.5,
        scheme="raw",
        checksum_type=csum,
    )
    assert seen["checksumType"] == csum
    assert seen["headers"]["as"] == "raw"
    assert seen["headers"]["cn"] == "ringpop"
    assert seen["arg3Sha"] == sha256(payload(70_000, 1))
    assert 1000 <= seen["ttl"] <= 1500
    assert seen["remoteAddr"] == channel.host_port


async def test_python_calls_node_json(node_server: NodeServer, channel: Channel) -> None:
    body = {"checksum": 3184296888, "changes": [], "source": channel.host_port}
    result = await channel.call_json(
        node_server.host_port, "node-svc", "json-echo", body, timeout=2, app_headers={"h": 1}
    )
    assert result == body  # node's json handler answers head in arg2, body in arg3
    raw = await channel.call(
        node_server.host_port, "node-svc", "json-echo", b'{"h":1}', b"[1]", timeout=2, scheme="json"
    )
    assert (raw.headers["as"], raw.arg2, raw.arg3) == ("json", b'{"h":1}', b"[1]")
    assert (
        await channel.call_json(node_server.host_port, "node-svc", "json-echo", timeout=2) is None
    )


async def test_node_application_errors(node_server: NodeServer, channel: Channel) -> None:
    with pytest.raises(ApplicationError) as json_error:
        await channel.call_json(node_server.host_port, "node-svc", "json-fail", {}, timeout=2)
    assert (json_error.value.type, json_error.value.message) == ("node.failure", "nope")
    with pytest.raises(ApplicationError) as raw_error:
        await channel.call_json(
            node_server.host_port, "node-svc", "app-error", {}, timeout=2, scheme="raw"
        )
    assert (raw_error.value.type, raw_error.value.message) == ("node.app-error", "it failed")


@pytest.mark.parametrize(
    ("code_name", "error"),
    [
        ("Timeout", CallTimeoutError),
        ("Cancelled", CallCancelledError),
        ("Busy", BusyError),
        ("Declined", DeclinedError),
        ("UnexpectedError", UnexpectedError),
        ("BadRequest", BadRequestError),
        ("NetworkError", NetworkError),
        ("Unhealthy", UnhealthyError),
    ],
)
async def test_node_error_frames_are_typed(
    node_server: NodeServer, channel: Channel, code_name: str, error: type[TChannelError]
) -> None:
    with pytest.raises(error, match=f"node says {code_name}"):
        await channel.call(
            node_server.host_port, "node-svc", "error", b"", code_name.encode(), timeout=2
        )


async def test_node_unknown_endpoint_is_bad_request(
    node_server: NodeServer, channel: Channel
) -> None:
    with pytest.raises(BadRequestError):
        await channel.call(node_server.host_port, "node-svc", "no-such-endpoint", timeout=2)


async def test_timeout_against_node(node_server: NodeServer, channel: Channel) -> None:
    with pytest.raises(CallTimeoutError):
        await channel.call(node_server.host_port, "node-svc", "slow", b"", b"1000", timeout=0.2)
    assert (await channel.call(node_server.host_port, "node-svc", "echo", timeout=2)).ok


async def test_ping_node(node_server: NodeServer, channel: Channel) -> None:
    await channel.ping(node_server.host_port, timeout=2)


async def test_node_calls_back_over_our_connection(
    node_server: NodeServer, channel: Channel
) -> None:
    response = await channel.call(
        node_server.host_port, "node-svc", "call-back", b"", channel.host_port.encode(), timeout=5
    )
    assert response.ok, response.arg3
    assert (response.arg2, response.arg3) == (b"from-node", b"hello python")
    # node answered our advertised host_port over the connection we opened
    assert len(channel.connections) == 1
    assert channel.connections[0].initiator


# ------------------------------------------------------- node client -> Python server


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("csum", CHECKSUMS)
async def test_node_calls_python_raw(
    node_client: NodeClient, channel: Channel, size: int, csum: ChecksumType
) -> None:
    report = await node_client.call(
        peer=channel.host_port,
        service="py-svc",
        endpoint="echo",
        scheme="raw",
        checksumType=int(csum),
        timeout=10_000,
        arg2={"size": size // 2, "seed": 3},
        arg3={"size": size, "seed": 4},
    )
    assert "error" not in report, report
    assert report["ok"] is True
    assert report["headers"]["as"] == "raw"
    assert (report["arg2Len"], report["arg2Sha"]) == (size // 2, sha256(payload(size // 2, 3)))
    assert (report["arg3Len"], report["arg3Sha"]) == (size, sha256(payload(size, 4)))
    # responses echo CRC-32 / CRC-32C, and answer type 0 otherwise
    assert report["checksumType"] == (csum if csum in (1, 3) else 0)


@pytest.mark.parametrize("csum", CHECKSUMS)
async def test_node_checksum_types_arrive(
    node_client: NodeClient, channel: Channel, csum: ChecksumType
) -> None:
    report = await node_client.call(
        peer=channel.host_port,
        service="py-svc",
        endpoint="info",
        checksumType=int(csum),
        arg3={"text": '{"some": "json"}'},
    )
    assert report["ok"] is True, report
    assert json.loads(report["arg3Text"])["checksumType"] == csum


async def test_node_json_client(node_client: NodeClient, channel: Channel) -> None:
    report = await node_client.call(
        peer=channel.host_port,
        service="py-svc",
        endpoint="json-echo",
        scheme="json",
        head={"k": "v"},
        body={"members": [1, 2, 3]},
    )
    assert report == {
        "id": report["id"],
        "ok": True,
        "head": None,
        "body": {"got": {"members": [1, 2, 3]}, "head": {"k": "v"}},
    }


async def test_node_sees_python_application_error(
    node_client: NodeClient, channel: Channel
) -> None:
    report = await node_client.call(
        peer=channel.host_port, service="py-svc", endpoint="json-fail", scheme="json", body={}
    )
    assert report["ok"] is False
    assert report["body"] == {"type": "py.failure", "message": "python says no"}


async def test_node_sees_python_error_frames(node_client: NodeClient, channel: Channel) -> None:
    busy = await node_client.call(peer=channel.host_port, service="py-svc", endpoint="busy")
    assert busy["error"]["codeName"] == "Busy"
    assert busy["error"]["message"] == "too busy"
    missing = await node_client.call(peer=channel.host_port, service="py-svc", endpoint="nope")
    assert missing["error"]["codeName"] == "BadRequest"
    assert missing["error"]["message"] == 'no handler for service "py-svc" and method "nope"'


async def test_ephemeral_node_client_is_served(node_client: NodeClient, channel: Channel) -> None:
    report = await node_client.call(
        peer=channel.host_port, service="py-svc", endpoint="info", scheme="raw", arg3={"text": ""}
    )
    seen = json.loads(report["arg3Text"])
    # node's client does not listen: it inits with 0.0.0.0:0, we see its socket address
    assert seen["remote"].startswith("127.0.0.1:")
    assert seen["remote"] != "0.0.0.0:0"
    assert seen["caller"] == "node-interop"
    assert seen["headers"]["re"] == "c"  # node adds the retry flags header
