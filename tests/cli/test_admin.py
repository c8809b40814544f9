"""``ringpop admin`` against a live 3-node testpop cluster: tables, --json, errors."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from ringpop.cli import admin
from tests.cli.helpers import (
    admin_json,
    converged,
    free_ports,
    run_cli,
    wait_converged,
    wait_for,
)

pytestmark = pytest.mark.cluster


def admin_text(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = admin.main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_status_json_is_the_member_table(
    testpop_cluster: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    node = testpop_cluster[0]
    document = admin_json(capsys, "status", node)
    assert document["node"] == node
    assert [m["address"] for m in document["members"]] == testpop_cluster
    assert {m["status"] for m in document["members"]} == {"alive"}
    assert all(isinstance(m["incarnationNumber"], int) for m in document["members"])
    assert document["counts"]["alive"] == 3
    assert document["counts"]["faulty"] == 0
    assert document["lifeguard"]["enabled"] is False
    assert document["lifeguard"]["localHealth"] == 0
    dump = admin_json(capsys, "dump", node)
    assert document["checksum"] == dump["membership"]["checksum"]
    assert document["ringChecksum"] == dump["ring"]["checksum"]


def test_status_table(testpop_cluster: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    node = testpop_cluster[1]
    status, out, err = admin_text(capsys, "status", node)
    assert status == 0, err
    assert f"{node}: 3 members (3 alive)" in out
    assert f"{node} (this node)" in out
    for address in testpop_cluster:
        assert address in out
    assert out.count("alive") >= 4  # summary + one per row
    assert "incarnation" in out
    # Our nodes also answer /admin/lifeguard (off here, nothing suspected).
    assert "lifeguard off: local health 0/8, 0 suspicions pending" in out


def test_lookup_agrees_across_nodes(
    testpop_cluster: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    keys = [f"key-{i}" for i in range(20)]
    answers = [admin_json(capsys, "lookup", node, *keys) for node in testpop_cluster]
    assert all(set(a) == set(keys) for a in answers)
    assert answers[0] == answers[1] == answers[2]
    assert set(answers[0].values()) <= set(testpop_cluster)
    assert len(set(answers[0].values())) > 1  # 20 keys do not all land on one of 3 nodes
    status, out, _err = admin_text(capsys, "lookup", testpop_cluster[2], "key-0")
    assert status == 0
    assert out.strip() == answers[0]["key-0"]


def test_dump_is_the_full_stats_document(
    testpop_cluster: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    dump = admin_json(capsys, "dump", testpop_cluster[0])
    assert set(dump) >= {"membership", "ring", "process", "protocol", "version", "uptime"}
    assert sorted(dump["ring"]["servers"]) == testpop_cluster
    assert isinstance(dump["process"]["pid"], int)
    # Without --json it is JSON too (the document is the output).
    status, out, _err = admin_text(capsys, "dump", testpop_cluster[0])
    assert status == 0
    assert json.loads(out)["membership"]["checksum"] == dump["membership"]["checksum"]


def test_partitions_checksums_count(
    testpop_cluster: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # One address: every member it knows is asked.
    partitions = admin_json(capsys, "partitions", testpop_cluster[0])
    assert len(partitions["partitions"]) == 1
    assert partitions["partitions"][0]["nodes"] == testpop_cluster
    assert partitions["partitions"][0]["alive"] == testpop_cluster
    assert partitions["unreachable"] == {}
    # --only: just the given nodes.
    only = admin_json(capsys, "partitions", "--only", *testpop_cluster[:2])
    assert only["partitions"][0]["nodes"] == testpop_cluster[:2]

    checksums = admin_json(capsys, "checksums", testpop_cluster[2])
    assert sorted(checksums["nodes"]) == testpop_cluster
    assert len({n["membership"] for n in checksums["nodes"].values()}) == 1
    assert len({n["ring"] for n in checksums["nodes"].values()}) == 1
    assert (
        partitions["partitions"][0]["checksum"]
        == next(iter(checksums["nodes"].values()))["membership"]
    )

    count = admin_json(capsys, "count", testpop_cluster[0])
    assert count == {"alive": 3, "suspect": 0, "faulty": 0, "leave": 0, "tombstone": 0, "total": 3}

    status, out, _err = admin_text(capsys, "partitions", testpop_cluster[1])
    assert status == 0
    assert "1 partition" in out


def test_gossip_stop_status_tick_start(
    testpop_cluster: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    node = testpop_cluster[2]
    try:
        assert admin_json(capsys, "gossip", "stop", node) == {node: {"status": "ok"}}
        assert admin_json(capsys, "gossip", "status", node) == {node: {"status": "stopped"}}
        ticked = admin_json(capsys, "gossip", "tick", node)
        assert isinstance(ticked[node]["checksum"], int)
        assert admin_json(capsys, "gossip", "status", node) == {node: {"status": "stopped"}}
    finally:
        assert admin.main(["gossip", "start", node]) == 0
    capsys.readouterr()
    everywhere = admin_json(capsys, "gossip", "status", testpop_cluster[0], "--cluster")
    assert everywhere == {a: {"status": "started"} for a in testpop_cluster}
    status, out, _err = admin_text(capsys, "gossip", "tick", node)
    assert status == 0
    assert f"{node}: gossip tick: done, checksum" in out


def test_leave_then_join(testpop_cluster: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    seed, leaver = testpop_cluster[0], testpop_cluster[1]

    def leaver_status() -> str:
        members = admin_json(capsys, "status", seed)["members"]
        return str(next(m["status"] for m in members if m["address"] == leaver))

    try:
        assert admin_json(capsys, "leave", leaver) == {leaver: {"status": "ok"}}
        wait_for(lambda: (leaver_status() == "leave", leaver_status()), 15, "leave seen by seed")
        # Leaving twice is an application error: exit 1, one line, no traceback.
        status, _out, err = admin_text(capsys, "leave", leaver)
        assert status == 1
        assert "ringpop.invalid-leave.redundant" in err
        assert "Traceback" not in err
    finally:
        joined = admin_json(capsys, "join", leaver)
    assert joined == {leaver: {"status": "rejoined"}}
    wait_for(lambda: (leaver_status() == "alive", leaver_status()), 15, "rejoin seen by seed")
    wait_converged(testpop_cluster)


def test_reap_and_heal(testpop_cluster: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    reaped = admin_json(capsys, "reap", *testpop_cluster)
    assert set(reaped) == set(testpop_cluster)
    assert all(answer == {"status": "ok", "reaped": 0} for answer in reaped.values())
    healed = admin_json(capsys, "heal", testpop_cluster[0])
    assert healed[testpop_cluster[0]]["targets"] == []
    status, out, _err = admin_text(capsys, "reap", testpop_cluster[0])
    assert status == 0
    assert "reaped 0" in out
    assert converged(testpop_cluster)[0]


@pytest.fixture
def silent_listener() -> Iterator[str]:
    """A TCP listener that accepts and never answers (a hung node)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in accepted:
            conn.close()
        server.close()


def test_errors_are_one_line_with_exit_status(silent_listener: str) -> None:
    # The real entry point, as a user runs it.
    port = free_ports(1)[0]
    unreachable = run_cli("admin", "status", f"127.0.0.1:{port}")
    assert unreachable.returncode == 1
    assert "unreachable" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr
    assert unreachable.stdout == ""

    hung = run_cli("admin", "dump", silent_listener, "--timeout", "0.5")
    assert hung.returncode == 1
    assert "no answer within 0.5 s" in hung.stderr
    assert "Traceback" not in hung.stderr

    bad = run_cli("admin", "lookup", "not-an-address", "k")
    assert bad.returncode == 2
    assert "is not a node address" in bad.stderr

    not_text = run_cli("admin", "lookup", f"127.0.0.1:{port}", "\udcff")  # byte 0xff
    assert not_text.returncode == 2  # a traceback from the JSON encoder before
    assert "not UTF-8 text" in not_text.stderr

    several = run_cli("admin", "gossip", "status", f"127.0.0.1:{port}", "--json")
    assert several.returncode == 1
    assert json.loads(several.stdout)[f"127.0.0.1:{port}"]["error"]["kind"] == "unreachable"


def test_usage() -> None:
    helped = run_cli("admin", "--help")
    assert helped.returncode == 0
    for command in ("status", "lookup", "dump", "partitions", "checksums", "count", "gossip"):
        assert command in helped.stdout
    missing = run_cli("admin")
    assert missing.returncode == 2
    top = run_cli("--help")
    assert "tick-cluster" in top.stdout
    assert "admin" in top.stdout


async def _silent_or_late_http(late_http: bool) -> tuple[Any, str]:
    """A server that accepts and reads but never speaks TChannel: silent, or answering
    HTTP once a request's blank line arrives (as Python's http.server does)."""
    import asyncio

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if late_http:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(b"HTTP/1.0 400 Bad request\r\n\r\n")
                await writer.drain()
            else:
                await reader.read(1 << 16)
                await asyncio.sleep(30)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"127.0.0.1:{port}"


@pytest.mark.parametrize("late_http", [False, True])
async def test_a_port_that_never_answers_the_handshake_is_named_as_such(late_http: bool) -> None:
    """Not "no answer within 3 s": what the port is (HTTP, or not TChannel at all)."""
    from ringpop.admin.client import AdminClient, AdminError

    server, address = await _silent_or_late_http(late_http)
    try:
        async with AdminClient(timeout=3.0) as client:
            with pytest.raises(AdminError) as caught:
                await client.call(address, "/admin/stats")
        text = str(caught.value)
        if late_http:
            assert "answers HTTP, not TChannel" in text
        else:
            assert "did not answer the TChannel handshake" in text
    finally:
        server.close()
        await server.wait_closed()


async def test_one_address_given_alone_is_one_node() -> None:
    """``stats_many("127.0.0.1:1")`` asked the "nodes" "1", "2", "7", "." and ":"."""
    from ringpop.admin.client import AdminClient

    (port,) = free_ports(1)
    address = f"127.0.0.1:{port}"  # nothing listens: an error in place of stats
    async with AdminClient(timeout=0.5) as client:
        assert list(await client.stats_many(address)) == [address]
        assert list(await client.call_many(address, "/admin/stats")) == [address]
