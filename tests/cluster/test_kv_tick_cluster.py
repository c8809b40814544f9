"""tick-cluster --example kv reports the keys each node holds (from /admin/state)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.cluster.procs import REPO_ROOT

pytestmark = pytest.mark.cluster


def test_kv_cluster_reports_keys_held_per_node() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ringpop.cli.main",
            "tick-cluster",
            "-n",
            "3",
            "--example",
            "kv",
            "--base-port",
            "0",
            "--duration",
            "14",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO_ROOT,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        for _ in range(2000):  # until it converged (bounded: ~40 s of lines)
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if re.search(r"converged in [\d.]+ s: 3 nodes", line):
                break
        out = "".join(lines)
        put = re.search(r"# try it: curl -X PUT --data hello (http://\S+)/kv/user:42", out)
        assert put, out
        deadline = time.monotonic() + 10
        for i in range(10):  # every node is up and ready: writes meet their quorum
            request = urllib.request.Request(f"{put.group(1)}/kv/key-{i}", data=b"v", method="PUT")
            while True:
                try:
                    with urllib.request.urlopen(request, timeout=5) as answer:
                        assert answer.status == 201
                        break
                except OSError:
                    assert time.monotonic() < deadline, out
                    time.sleep(0.2)
        rest, _ = proc.communicate(timeout=60)
        out += rest
        assert proc.returncode == 0, out
        held = re.search(r"# keys held per node: (.*)", out)
        assert held, out
        counts = [int(part.rsplit("=", 1)[1]) for part in held.group(1).split()]
        assert counts == [10, 10, 10]  # n=3 on 3 nodes: every node holds every key
    finally:
        if proc.poll() is None:
            proc.terminate()  # by PID; tick-cluster stops its nodes
            proc.wait(timeout=30)
