"""Real node processes for the forwarding tests: start, wait, disturb, stop (by PID only)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[2]

_PORT_RANGE = (20000, 32000)  # below Linux's ephemeral range
_taken: set[int] = set()


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 now, never handed out twice here."""
    rng = random.Random()
    ports: list[int] = []
    for _ in range(count * 500):
        if len(ports) == count:
            break
        port = rng.randrange(*_PORT_RANGE)
        if port in _taken:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _taken.add(port)
        ports.append(port)
    if len(ports) != count:
        raise RuntimeError(f"no {count} free ports")
    return ports


@dataclass
class Node:
    """One process we started."""

    address: str
    http: str
    argv: list[str]
    log: Path
    popen: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://{self.http}"

    def running(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError as error:
            return f"(no log: {error})"

    def kill(self) -> None:
        """SIGKILL and reap."""
        if self.popen.poll() is None:
            self.popen.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)

    def terminate(self, timeout: float = 15.0) -> int | None:
        """SIGTERM; the exit status (``None`` if it did not exit in time: then SIGKILL)."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None


@dataclass
class Cluster:
    """Processes sharing a hosts file; :meth:`stop` in a ``finally``."""

    workdir: Path
    nodes: list[Node] = field(default_factory=list)

    def stop(self) -> None:
        for node in self.nodes:
            if node.running():
                node.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for node in self.nodes:
            try:
                node.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                node.kill()

    def logs(self) -> str:
        return "\n".join(f"--- {n.address} ---\n{n.log_text()[-3000:]}" for n in self.nodes)


def python_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def start_nodes(
    workdir: Path,
    commands: Sequence[list[str]],
    *,
    count: int | None = None,
) -> Cluster:
    """Start one process per command template (``{listen} {hosts} {http}`` filled in)."""
    n = len(commands) if count is None else count
    ports = free_ports(2 * n)
    listen = [f"127.0.0.1:{p}" for p in ports[:n]]
    http = [f"127.0.0.1:{p}" for p in ports[n:]]
    hosts = workdir / "hosts.json"
    hosts.write_text(json.dumps(listen))
    cluster = Cluster(workdir)
    env = python_env()
    for i in range(n):
        template = commands[i % len(commands)]
        argv = [
            part.format(listen=listen[i], hosts=hosts, http=http[i], port=ports[i])
            for part in template
        ]
        log = workdir / f"node-{i}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                argv,
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        cluster.nodes.append(Node(listen[i], http[i], argv, log, popen))
    return cluster


def echo_command(*extra: str, framework: str = "aiohttp") -> list[str]:
    return [
        sys.executable,
        "-m",
        "tests.forward.echo_node",
        "--listen={listen}",
        "--hosts={hosts}",
        "--http={http}",
        f"--framework={framework}",
        *extra,
    ]


async def wait_ready(cluster: Cluster, timeout: float = 40.0) -> None:
    """Wait for every node to print ``ready`` (a crash fails at once, with its log)."""
    deadline = time.monotonic() + timeout
    pending = list(cluster.nodes)
    while pending:
        for node in list(pending):
            if "ready " in node.log_text():
                pending.remove(node)
            elif not node.running():
                raise AssertionError(f"{node.address} exited early:\n{node.log_text()}")
        if pending and time.monotonic() > deadline:
            raise AssertionError(f"not ready after {timeout} s:\n{cluster.logs()}")
        await asyncio.sleep(0.05)


async def info(session: aiohttp.ClientSession, node: Node) -> dict[str, Any] | None:
    try:
        async with session.get(
            f"{node.url}/_test/info", timeout=aiohttp.ClientTimeout(total=3)
        ) as answer:
            body: dict[str, Any] = await answer.json()
            return body
    except (aiohttp.ClientError, TimeoutError):
        return None


async def wait_converged(
    session: aiohttp.ClientSession,
    nodes: Sequence[Node],
    timeout: float = 30.0,
) -> list[dict[str, Any]]:
    """Wait until every node's ring holds exactly ``nodes`` (same checksum everywhere)."""
    want = sorted(n.address for n in nodes)
    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any] | None] = []
    while time.monotonic() < deadline:
        seen = list(await asyncio.gather(*(info(session, n) for n in nodes)))
        ready = [s for s in seen if s is not None and sorted(s["ring"]) == want]
        if len(ready) == len(nodes) and len({s["checksum"] for s in ready}) == 1:
            return ready
        await asyncio.sleep(0.1)
    raise AssertionError(f"rings did not converge on {want} in {timeout} s: {seen}")
