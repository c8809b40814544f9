"""``ringpop admin`` talks to ringpop-node 10.21.0 nodes the same way (skipped without node)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ringpop.cli import admin
from tests.cli.helpers import admin_json, free_ports, start_nodes, stop, wait_converged
from tests.nodeenv import INTEROP_NODE_DIR, interop_script, node_binary, node_modules_dir

pytestmark = [pytest.mark.cluster, pytest.mark.interop]


@pytest.fixture(scope="module")
def node_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    node = node_binary()  # skips when node is not installed
    node_modules_dir()  # installs once; a broken install fails the test
    workdir: Path = tmp_path_factory.mktemp("ringpop-node-cluster")
    addresses = [f"127.0.0.1:{port}" for port in free_ports(3)]
    procs = start_nodes(
        [node, str(interop_script("ringpop-node.js"))], addresses, workdir, cwd=INTEROP_NODE_DIR
    )
    try:
        wait_converged(addresses, workdir)
        yield sorted(addresses)
    finally:
        stop(procs)


def test_status_lookup_dump_count(
    node_cluster: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    seed = node_cluster[0]
    status = admin_json(capsys, "status", seed)
    assert [m["address"] for m in status["members"]] == node_cluster
    assert status["counts"]["alive"] == 3
    assert all("dampScore" in m for m in status["members"])  # ringpop-node's extra field

    dump = admin_json(capsys, "dump", seed)
    assert dump["membership"]["checksum"] == status["checksum"]
    assert sorted(dump["ring"]["servers"]) == node_cluster

    keys = [f"k{i}" for i in range(10)]
    owners = [admin_json(capsys, "lookup", a, *keys) for a in node_cluster]
    assert owners[0] == owners[1] == owners[2]
    assert set(owners[0].values()) <= set(node_cluster)

    assert admin_json(capsys, "count", seed)["alive"] == 3
    partitions = admin_json(capsys, "partitions", seed)
    assert [p["nodes"] for p in partitions["partitions"]] == [node_cluster]

    code = admin.main(["status", seed])
    out = capsys.readouterr().out
    assert code == 0
    assert "damp score" in out
    assert f"{seed} (this node)" in out


def test_control_answers_are_normalised(
    node_cluster: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    node = node_cluster[1]
    # ringpop-node answers a bare `ok` for these; --json shows {"status": "ok"}.
    assert admin_json(capsys, "gossip", "stop", node) == {node: {"status": "ok"}}
    try:
        assert admin_json(capsys, "gossip", "status", node) == {node: {"status": "stopped"}}
        assert isinstance(admin_json(capsys, "gossip", "tick", node)[node]["checksum"], int)
    finally:
        assert admin_json(capsys, "gossip", "start", node) == {node: {"status": "ok"}}
    reaped = admin_json(capsys, "reap", node)[node]
    assert reaped == {"status": "ok", "reaped": 0}
    code = admin.main(["join", node])  # not left: node runs a fresh join
    out = capsys.readouterr().out
    assert code == 0
    assert "joined (candidates" in out
    wait_converged(node_cluster)
