"""No acknowledged write lost: real kv processes, a writer, faults, then a full check.

Used by ``tests/cluster/test_kv_no_lost_writes.py`` (short form) and
``bench/kv_chaos.py`` (long form). Processes are stopped by PID only.

The writer runs ``workers`` tasks, each owning its keys (so writes of one key are
sequential): each step writes a new unique key or updates one of its keys, through
a random running node. Per key it remembers the last **acknowledged** value (2xx)
and every value attempted after it (a failed write may still have been applied,
and is then a legal, newer answer). After the faults and quiescence, every acked
key is read through every running node: a 404 or a value older than the last ack is
a lost write.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from ringpop.admin.client import AdminClient, AdminError
from tests.forward.procs import REPO, free_ports, python_env

__all__ = ["KvCluster", "KvNode", "Verdict", "Writer", "quiesce", "summary", "verify"]


@dataclass
class KvNode:
    """One kv process (restartable: same address, same data directory)."""

    address: str
    http: str
    argv: list[str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.http}"

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv,
                cwd=REPO,
                env=python_env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        """SIGKILL (by PID) and reap."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=10)

    def terminate(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (graceful: self-evict); the exit status, SIGKILL after ``timeout``."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError as error:
            return f"(no log: {error})"


class KvCluster:
    """``size`` kv nodes (plus ``spare`` ones started later) sharing a hosts file."""

    def __init__(self, workdir: Path, size: int, spare: int = 1, extra: tuple[str, ...] = ()):
        ports = free_ports(2 * (size + spare))
        total = size + spare
        addresses = [f"127.0.0.1:{p}" for p in ports[:total]]
        hosts = workdir / "hosts.json"  # every address, spares too (a restart may need them)
        hosts.write_text(json.dumps(addresses))
        self.nodes = [
            KvNode(
                addresses[i],
                f"127.0.0.1:{ports[total + i]}",
                [
                    sys.executable,
                    str(REPO / "examples" / "kv"),
                    f"--listen={addresses[i]}",
                    f"--hosts={hosts}",
                    f"--http=127.0.0.1:{ports[total + i]}",
                    f"--data-dir={workdir / 'data'}",
                    "--suspect-period=1000",
                    "--faulty-period=5000",
                    "--tombstone-period=5000",
                    *extra,
                ],
                workdir / f"node-{i}.log",
            )
            for i in range(total)
        ]
        self.size = size

    def start(self, count: int | None = None) -> None:
        for node in self.nodes[: self.size if count is None else count]:
            node.start()

    def running(self) -> list[KvNode]:
        return [n for n in self.nodes if n.running()]

    def stop(self) -> None:
        for node in self.nodes:
            if node.running() and node.popen is not None:
                node.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for node in self.nodes:
            if node.popen is None:
                continue
            try:
                node.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                node.kill()

    def logs(self) -> str:
        return "\n".join(f"--- {n.address} ---\n{n.log_tail()}" for n in self.nodes)


@dataclass
class Writer:
    """PUTs as fast as ``workers`` tasks can, tracking what was acknowledged."""

    cluster: KvCluster
    workers: int = 8
    update_share: float = 0.3
    seed: int = 1
    acked: dict[str, str] = field(default_factory=dict)
    after_ack: dict[str, set[str]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: {"ok": 0, "failed": 0})
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, session: aiohttp.ClientSession) -> None:
        await asyncio.gather(*(self._worker(session, w) for w in range(self.workers)))

    def stop(self) -> None:
        self._stop.set()

    async def _worker(self, session: aiohttp.ClientSession, worker: int) -> None:
        rng = random.Random(self.seed * 1000 + worker)
        mine: list[str] = []
        step = 0
        while not self._stop.is_set() and step < 1_000_000:
            step += 1
            if mine and rng.random() < self.update_share:
                key = rng.choice(mine)
            else:
                key = f"w{worker}-k{step}"
                mine.append(key)
            value = f"{key}@{step}"
            nodes = self.cluster.running()
            if not nodes:
                await asyncio.sleep(0.05)
                continue
            node = rng.choice(nodes)
            try:
                async with session.put(f"{node.url}/kv/{key}", data=value.encode()) as answer:
                    ok = 200 <= answer.status < 300
                    await answer.read()
            except (aiohttp.ClientError, TimeoutError, OSError):
                ok = False
            if ok:
                self.acked[key] = value
                self.after_ack[key] = set()
                self.counts["ok"] += 1
            else:
                self.after_ack.setdefault(key, set()).add(value)
                self.counts["failed"] += 1


async def _states(cluster: KvCluster) -> dict[str, Any]:
    async with AdminClient(timeout=2.0) as client:
        out: dict[str, Any] = {}
        for node in cluster.running():
            try:
                out[node.address] = await client.call(node.address, "/admin/state")
            except AdminError as error:
                out[node.address] = str(error)
            try:
                stats = await client.stats(node.address)
                out[node.address + "/ring"] = stats.ring_checksum
            except AdminError as error:
                out[node.address + "/ring"] = str(error)
        return out


async def quiesce(cluster: KvCluster, timeout: float, settle: float = 3.0) -> dict[str, Any]:
    """Wait for equal rings and no pending pull on every running node, then ``settle`` s."""
    deadline = time.monotonic() + timeout
    states: dict[str, Any] = {}
    while time.monotonic() < deadline:
        states = await _states(cluster)
        rings = {v for k, v in states.items() if k.endswith("/ring")}
        handoffs = [v for k, v in states.items() if not k.endswith("/ring")]
        idle = all(
            isinstance(s, dict) and s["handoff"]["pending"] == 0 and s["handoff"]["active"] == 0
            for s in handoffs
        )
        if len(rings) == 1 and idle:
            await asyncio.sleep(settle)
            return await _states(cluster)
        await asyncio.sleep(0.5)
    raise AssertionError(f"no quiescence after {timeout} s: {states}")


def summary(states: dict[str, Any]) -> str:
    """Handoff, anti-entropy and repair totals over the nodes' ``/admin/state``."""
    nodes = [s for s in states.values() if isinstance(s, dict)]
    total: dict[str, int] = {}
    for s in nodes:
        for name in ("records", "completed", "failed", "dropped_ranges", "dropped_records"):
            total[f"handoff {name}"] = total.get(f"handoff {name}", 0) + s["handoff"][name]
        for name in ("rounds", "sent", "received"):
            total[f"anti-entropy {name}"] = (
                total.get(f"anti-entropy {name}", 0) + s["antiEntropy"][name]
            )
        total["read repairs"] = total.get("read repairs", 0) + s["readRepairs"]
        total["keys held"] = total.get("keys held", 0) + s["keys"]
    return ", ".join(f"{k} {v}" for k, v in total.items())


@dataclass
class Verdict:
    """What the check found."""

    acknowledged: int
    verified: int
    lost: list[tuple[str, str, str]]  # key, node, what was read
    reads: int


async def verify(
    session: aiohttp.ClientSession,
    cluster: KvCluster,
    writer: Writer,
    *,
    concurrency: int = 16,
    progress: Callable[[int], None] | None = None,
) -> Verdict:
    """Read every acked key through every running node."""
    nodes = cluster.running()
    jobs = [(key, node) for key in writer.acked for node in nodes]
    lost: list[tuple[str, str, str]] = []
    ok_keys: dict[str, int] = {}
    queue = iter(jobs)

    async def worker() -> None:
        for key, node in queue:
            legal = {writer.acked[key], *writer.after_ack.get(key, ())}
            got = await _read(session, node.url, key)
            if got in legal:
                ok_keys[key] = ok_keys.get(key, 0) + 1
            else:
                lost.append((key, node.address, repr(got)))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    verified = sum(1 for n in ok_keys.values() if n == len(nodes))
    return Verdict(len(writer.acked), verified, lost, len(jobs))


async def _read(session: aiohttp.ClientSession, url: str, key: str) -> str | None:
    for attempt in range(3):  # a 503 (quorum not met) is retried; a 404 is an answer
        try:
            async with session.get(f"{url}/kv/{key}") as answer:
                body = await answer.read()
                if answer.status == 200:
                    return body.decode()
                if answer.status == 404:
                    return None
        except (aiohttp.ClientError, TimeoutError, OSError):
            pass
        await asyncio.sleep(0.2 * (attempt + 1))
    return "unavailable"
