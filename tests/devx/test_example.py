"""Finding 4: the FastAPI + uvicorn example, its one command, readiness and shutdown."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ringpop import Ringpop
from ringpop.integrations.lifecycle import readiness, ready_state
from tests.devx.uvinodes import uvicorn_cluster
from tests.forward.procs import REPO, free_ports


def test_one_command_starts_three_nodes_and_stops_them() -> None:
    (base,) = free_ports(1)
    base -= base % 10  # three consecutive TChannel ports, HTTP ports 1000 above
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "examples.fastapi_counters",
            "--base-port",
            str(base),
            "--duration",
            "1",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"# ready: HTTP on 127.0.0.1:{base + 1000}-{base + 1002}" in proc.stdout
    assert "# stopped 3 nodes" in proc.stdout


async def test_readiness_follows_the_node_lifecycle() -> None:
    rp = Ringpop("ready-test", "127.0.0.1:0")
    app = readiness(rp)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        await rp.start()
        before = await client.get("/ready")
        assert before.status_code == 503
        assert "bootstrapping" in before.json()["reason"]
        await rp.bootstrap([])
        ready = await client.get("/ready")
        assert ready.status_code == 200
        assert ready.json()["members"] == 1
        await rp.self_evict()
        leaving = await client.get("/ready")
        assert leaving.status_code == 503
        await rp.close()
    assert ready_state(rp)[0] is False


def test_sigterm_self_evicts_and_exits_cleanly(tmp_path: Path) -> None:
    with uvicorn_cluster(tmp_path, 2) as nodes:
        took = nodes[1].stop(signal.SIGTERM)
        # uvicorn re-raises the signal once its graceful shutdown is over
        assert nodes[1].popen.returncode in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in nodes[1].log.read_text()
        assert took < 5.0
        # the survivor learned at once (self-eviction), not after failure detection
        deadline = time.monotonic() + 2.0
        members = 2
        while time.monotonic() < deadline and members != 1:
            members = json.loads(httpx.get(f"{nodes[0].url}/ready", timeout=2).text)["members"]
            time.sleep(0.05)
        assert members == 1
