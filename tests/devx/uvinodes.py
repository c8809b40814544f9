"""Real uvicorn processes running examples/fastapi_counters, for the devx tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.forward.procs import REPO, free_ports

__all__ = ["UvicornNode", "start_uvicorn", "uvicorn_cluster", "wait_ready", "write_hosts"]


@dataclass
class UvicornNode:
    """One uvicorn process we started."""

    address: str
    http_port: int
    log: Path
    popen: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> float:
        """Send ``sig`` (by PID) and wait; seconds until it exited."""
        started = time.monotonic()
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
                raise
        return time.monotonic() - started


def write_hosts(path: Path, addresses: list[str]) -> Path:
    path.write_text(json.dumps(addresses))
    return path


def start_uvicorn(
    tmp: Path, hosts: Path, *, address: str | None = None, app_name: str = "counters"
) -> UvicornNode:
    """Start one node of the counters example under uvicorn (does not wait)."""
    if address is None:
        address = f"127.0.0.1:{free_ports(1)[0]}"
    http_port = free_ports(1)[0]
    env = {
        **os.environ,
        "RINGPOP_LISTEN": address,
        "RINGPOP_HOSTS": str(hosts),
        "RINGPOP_APP": app_name,
        "PYTHONPATH": str(REPO),
    }
    log = tmp / f"uvicorn-{http_port}.log"
    command = [sys.executable, "-m", "uvicorn", "examples.fastapi_counters.app:app"]
    command += ["--host", "127.0.0.1", "--port", str(http_port), "--no-access-log"]
    with log.open("wb") as out:
        popen = subprocess.Popen(command, env=env, stdout=out, stderr=out, cwd=REPO)
    return UvicornNode(address, http_port, log, popen)


def wait_ready(nodes: list[UvicornNode], timeout: float = 30.0) -> None:
    """Until every node's /ready answers 200 (bounded)."""
    deadline = time.monotonic() + timeout
    pending = list(nodes)
    while pending and time.monotonic() < deadline:
        for node in list(pending):
            assert node.popen.poll() is None, node.log.read_text()[-2000:]
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{node.url}/ready", timeout=0.5).status_code == 200:
                    pending.remove(node)
        time.sleep(0.1)
    assert not pending, f"not ready: {[n.address for n in pending]}"


@contextlib.contextmanager
def uvicorn_cluster(tmp: Path, count: int) -> Iterator[list[UvicornNode]]:
    """``count`` counters nodes sharing a hosts file, ready; stopped (by PID) after."""
    addresses = [f"127.0.0.1:{p}" for p in free_ports(count)]
    hosts = write_hosts(tmp / "hosts.json", addresses)
    nodes = [start_uvicorn(tmp, hosts, address=a) for a in addresses]
    try:
        wait_ready(nodes)
        yield nodes
    finally:
        for node in nodes:
            node.stop()
