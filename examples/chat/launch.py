"""Start a local cluster of one of the actor examples (shared by chat and leader_job).

Nodes listen on ``127.0.0.1:base..base+n-1`` (TChannel) and the same ports + 1000
(HTTP); logs go to a temporary directory. Stopped with SIGTERM (they self-evict and
hand their actors over), by PID.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

__all__ = ["LocalCluster", "http"]


def http(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    """A JSON request; the status and the decoded answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


class LocalCluster:
    """``count`` node processes of ``module`` with ``extra`` flags."""

    def __init__(self, module: str, base_port: int, count: int, extra: list[str]) -> None:
        self.ports = [base_port + i for i in range(count)]
        self.workdir = Path(tempfile.mkdtemp(prefix=f"ringpop-{module.split('.')[-2]}-"))
        self.hosts = self.workdir / "hosts.json"
        self.hosts.write_text(json.dumps([f"127.0.0.1:{p}" for p in self.ports]))
        self.module = module
        self.extra = extra
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    def url(self, port: int) -> str:
        return f"http://127.0.0.1:{port + 1000}"

    def start(self, port: int) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        with open(self.workdir / f"node-{port}.log", "ab") as log:
            self.procs[port] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    self.module,
                    f"--listen=127.0.0.1:{port}",
                    f"--hosts={self.hosts}",
                    "--suspect-period=1000",
                    "--log-level=WARNING",
                    *self.extra,
                ],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def start_all(self) -> None:
        for port in self.ports:
            self.start(port)

    def wait_ready(self, ports: list[int], timeout: float = 30.0) -> None:
        """Until every node in ``ports`` is ready and sees exactly those members."""
        want = sorted(f"127.0.0.1:{p}" for p in ports)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if all(http("GET", self.url(p) + "/")[1]["members"] == want for p in ports):
                    return
            except (OSError, urllib.error.URLError, KeyError, TypeError, ValueError):
                pass
            time.sleep(0.2)
        raise SystemExit(f"the cluster did not converge on {want}; logs in {self.workdir}")

    def kill(self, port: int) -> None:
        """kill -9 one node."""
        proc = self.procs.pop(port)
        proc.kill()
        proc.wait(timeout=10)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
