"""tchannel-node processes for the interop tests (scripts in interop/tchannel/).

Each process is started with the interop environment's node_modules, read
through a background thread with bounded waits, and stopped by PID (stdin
closed, then terminate, then kill) when the test module is done.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import os
import queue
import subprocess
import threading
from pathlib import Path
from typing import Any

from tests.nodeenv import node_binary, node_modules_dir

SCRIPTS = Path(__file__).resolve().parents[2] / "interop" / "tchannel"
START_TIMEOUT = 20.0
REPLY_TIMEOUT = 20.0


def payload(size: int, seed: int) -> bytes:
    """The bytes interop/tchannel/common.js ``payload(size, seed)`` makes."""
    period = bytes(((i * 31 + seed) & 0xFF) for i in range(256))
    return (period * (size // 256 + 1))[:size]


def sha256(data: bytes) -> str:
    """Hex SHA-256, as common.js reports it."""
    return hashlib.sha256(data).hexdigest()


class NodeProcess:
    """A node script speaking JSON lines on stdin/stdout."""

    def __init__(self, script: str, *args: str) -> None:
        modules = node_modules_dir()
        env = dict(os.environ)
        env["TCHANNEL_NODE_MODULES"] = str(modules)
        env["NODE_PATH"] = str(modules)
        self.proc = subprocess.Popen(
            [node_binary(), str(SCRIPTS / script), *args],
            cwd=SCRIPTS,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._pump_stdout, daemon=True).start()
        threading.Thread(target=self._pump_stderr, daemon=True).start()

    def _pump_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _pump_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def read_json(self, timeout: float = REPLY_TIMEOUT) -> Any:
        """The next stdout line, parsed (raises ``RuntimeError`` on EOF or timeout)."""
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(
                f"node gave no answer in {timeout}s; stderr: {self.stderr}"
            ) from None
        if line is None:
            raise RuntimeError(f"node exited ({self.proc.poll()}); stderr: {''.join(self.stderr)}")
        return json.loads(line)

    def write_json(self, value: Any) -> None:
        """Send one JSON line."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(value) + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        """Stop the process: close stdin, then terminate/kill it by PID."""
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=3)


class NodeServer(NodeProcess):
    """interop/tchannel/server.js: a tchannel-node server with service ``node-svc``."""

    def __init__(self) -> None:
        super().__init__("server.js")
        try:
            self.host_port: str = self.read_json(START_TIMEOUT)["hostPort"]
        except BaseException:
            self.stop()
            raise


class NodeClient(NodeProcess):
    """interop/tchannel/client.js: tchannel-node calls driven from the test."""

    def __init__(self) -> None:
        super().__init__("client.js")
        self._ids = itertools.count(1)

    async def call(self, **spec: Any) -> dict[str, Any]:
        """Make one call (see client.js for ``spec``) and return node's report."""
        spec["id"] = call_id = next(self._ids)
        self.write_json(spec)
        loop = asyncio.get_running_loop()
        while True:
            reply: dict[str, Any] = await loop.run_in_executor(None, self.read_json)
            if reply.get("id") == call_id:
                return reply
