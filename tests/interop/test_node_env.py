"""The Node.js interop environment installs itself, and real ringpop-node processes form a ring."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.helpers import free_ports, stop
from tests.nodeenv import (
    INTEROP_NODE_DIR,
    AdminCallError,
    admin_call,
    interop_script,
    node_binary,
    node_modules_dir,
)

pytestmark = pytest.mark.interop

CONVERGE_TIMEOUT_S = 20.0


def test_env_installs_and_loads() -> None:
    modules = node_modules_dir()
    assert modules == INTEROP_NODE_DIR / "node_modules"
    script = (
        "const t = require('tchannel/package.json').version;"
        "const r = require('ringpop/package.json').version;"
        "require('tchannel'); require('ringpop'); require('farmhash'); require('sse4_crc32');"
        "console.log(t + ' ' + r);"
    )
    out = subprocess.run(
        [node_binary(), "-e", script],
        cwd=INTEROP_NODE_DIR,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.split()
    assert out == ["3.10.1", "10.21.0"]


def test_metrics_stub() -> None:
    node_modules_dir()
    proc = subprocess.run(
        [node_binary(), "--test", str(INTEROP_NODE_DIR / "metrics-stub" / "test.js")],
        cwd=INTEROP_NODE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture
def ringpop_node_cluster(tmp_path: Path) -> Iterator[tuple[list[str], list[Path]]]:
    """Three ringpop-node processes on free 127.0.0.1 ports sharing one hosts file."""
    node_modules_dir()
    node = node_binary()
    launcher = interop_script("ringpop-node.js")
    addresses = [f"127.0.0.1:{port}" for port in free_ports(3)]
    hosts_file = tmp_path / "hosts.json"
    hosts_file.write_text(json.dumps(addresses))
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    try:
        for address in addresses:
            log = tmp_path / f"ringpop-node-{address.replace(':', '_')}.log"
            logs.append(log)
            with log.open("wb") as out:
                procs.append(
                    subprocess.Popen(
                        [node, str(launcher), f"--listen={address}", f"--hosts={hosts_file}"],
                        cwd=INTEROP_NODE_DIR,
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
        yield addresses, logs
    finally:
        stop(procs)


def _stats(address: str) -> dict[str, Any]:
    stats: dict[str, Any] = json.loads(admin_call(address, "/admin/stats", timeout_s=2.0))
    return stats


def test_three_ringpop_nodes_converge(
    ringpop_node_cluster: tuple[list[str], list[Path]],
) -> None:
    addresses, logs = ringpop_node_cluster
    deadline = time.monotonic() + CONVERGE_TIMEOUT_S
    last: dict[str, Any] = {}
    while True:
        try:
            last = {address: _stats(address) for address in addresses}
        except AdminCallError as exc:
            last = {"error": str(exc)}
        else:
            checksums = {s["membership"]["checksum"] for s in last.values()}
            alive = [
                sorted(m["address"] for m in s["membership"]["members"] if m["status"] == "alive")
                for s in last.values()
            ]
            if len(checksums) == 1 and all(a == sorted(addresses) for a in alive):
                break
        if time.monotonic() >= deadline:
            tails = "\n".join(
                f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}" for log in logs
            )
            pytest.fail(
                f"ringpop-node cluster did not converge within {CONVERGE_TIMEOUT_S:.0f} s; "
                f"last /admin/stats: {json.dumps(last)[:3000]}\n{tails}"
            )
        time.sleep(0.25)

    # Same ring everywhere, made of the three nodes.
    rings = [s["ring"] for s in last.values()]
    assert len({r["checksum"] for r in rings}) == 1
    assert all(sorted(r["servers"]) == sorted(addresses) for r in rings)
    # The histogram and meters of the metrics stub are live in ringpop's stats.
    timing = next(iter(last.values()))["protocol"]["timing"]
    assert timing["type"] == "histogram"
    assert timing["count"] >= 1
    assert timing["min"] <= timing["median"] <= timing["max"]
    # Lookups agree across the cluster.
    dests = {
        json.loads(admin_call(a, "/admin/lookup", json.dumps({"key": "interop"})))["dest"]
        for a in addresses
    }
    assert len(dests) == 1
    assert dests <= set(addresses)
