"""``ringpop dashboard``'s command line and ``tick-cluster --dashboard`` (real processes)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest

from tests.cli.helpers import REPO_ROOT, run_cli, stop

pytestmark = pytest.mark.cluster


def test_bad_usage_exits_2() -> None:
    for args in (
        ["dashboard"],
        ["dashboard", "not-an-address"],
        ["dashboard", "3000", "--port", "x"],
    ):
        result = run_cli(*args)
        assert result.returncode == 2, result
        assert "usage: ringpop dashboard" in result.stderr
    assert "dashboard" in run_cli("--help").stdout


def test_tick_cluster_serves_the_dashboard_beside_its_view() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ringpop.cli.main",
            "tick-cluster",
            "-n",
            "3",
            "--base-port",
            "0",
            "--duration",
            "20",
            "--no-tty",
            "--dashboard",
            "0",
        ],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert proc.stdout is not None
        out = b""
        url = None
        deadline = time.monotonic() + 20
        while url is None and time.monotonic() < deadline:
            if select.select([proc.stdout], [], [], 0.2)[0]:
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                out += chunk
                for line in out.decode().splitlines():
                    if line.startswith("# dashboard: http://"):
                        url = line.split()[-1]
        assert url is not None, out.decode()
        snapshot: dict[str, Any] = {}
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"{url}api/snapshot", timeout=5) as response:
                snapshot = json.load(response)
            members = snapshot.get("members")
            if isinstance(members, list) and len(members) == 3 and not snapshot.get("split"):
                break
            time.sleep(0.3)
        assert len(snapshot["members"]) == 3, snapshot
        with urllib.request.urlopen(url, timeout=5) as response:
            assert b"dashboard.js" in response.read()
    finally:
        stop([proc])
