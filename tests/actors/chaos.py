"""Actors under faults with real processes: the driver and the checks.

Used by ``tests/actors/test_processes.py`` (short form) and ``bench/actors.py
--chaos`` (long form). ``size`` node processes of :mod:`tests.actors.node` (plus a
spare that joins later) send ``count`` messages each to ``actors`` recorder actors
while, one after the other, the leader is killed (kill -9), the spare joins and
another node leaves (SIGTERM: self-eviction). After each change the rings must
converge and every active actor must sit on its key's owner. Then the logs the
processes wrote tell: per actor and sender the handling order, messages handled
twice (only allowed when one handling was on the killed node), acknowledged
messages never handled, the leaders' tokens, the singleton's overlapping runners.
Processes are stopped by PID only.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.cluster.kvchaos import KvNode
from tests.forward.procs import free_ports

__all__ = ["ActorCluster", "Report", "run_chaos"]


class ActorCluster:
    """``size`` node processes and ``spare`` ones to start later, one hosts file."""

    def __init__(self, workdir: Path, size: int, spare: int = 1, suspect_ms: int = 1000) -> None:
        total = size + spare
        ports = free_ports(2 * total)
        addresses = [f"127.0.0.1:{p}" for p in ports[:total]]
        hosts = workdir / "hosts.json"
        hosts.write_text(json.dumps(addresses))
        self.out = workdir / "out"
        self.out.mkdir(exist_ok=True)
        self.suspect = suspect_ms / 1000
        self.nodes = [
            KvNode(
                addresses[i],
                f"127.0.0.1:{ports[total + i]}",
                [
                    sys.executable,
                    "-m",
                    "tests.actors.node",
                    f"--listen={addresses[i]}",
                    f"--hosts={hosts}",
                    f"--http=127.0.0.1:{ports[total + i]}",
                    f"--out={self.out}",
                    f"--suspect-period={suspect_ms}",
                    "--faulty-period=5000",
                    "--tombstone-period=5000",
                ],
                workdir / f"node-{i}.log",
            )
            for i in range(total)
        ]
        self.size = size

    def running(self) -> list[KvNode]:
        return [n for n in self.nodes if n.running()]

    def stop(self) -> None:
        for node in self.nodes:
            node.terminate(timeout=10)

    def logs(self) -> str:
        return "\n".join(f"--- {n.address} ---\n{n.log_tail(2000)}" for n in self.nodes)


async def info(session: aiohttp.ClientSession, node: KvNode) -> dict[str, Any] | None:
    try:
        async with session.get(
            f"{node.url}/_test/info", timeout=aiohttp.ClientTimeout(total=3)
        ) as answer:
            body: dict[str, Any] = await answer.json()
            return body
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError):
        return None


async def wait_ready(cluster: ActorCluster, nodes: list[KvNode], timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    for node in nodes:
        while "ready " not in node.log_tail(100_000):
            if not node.running() or time.monotonic() > deadline:
                raise AssertionError(f"{node.address} not ready:\n{cluster.logs()}")
            await asyncio.sleep(0.05)


async def wait_converged(
    session: aiohttp.ClientSession, nodes: list[KvNode], timeout: float = 20
) -> list[dict[str, Any]]:
    """Every node's reachable members are exactly ``nodes``."""
    want = sorted(n.address for n in nodes)
    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any] | None] = []
    while time.monotonic() < deadline:
        seen = list(await asyncio.gather(*(info(session, n) for n in nodes)))
        if all(s is not None and s["ready"] and s["members"] == want for s in seen):
            return [s for s in seen if s is not None]
        await asyncio.sleep(0.05)
    raise AssertionError(f"members did not converge on {want}: {seen}")


async def wait_placed(
    session: aiohttp.ClientSession, nodes: list[KvNode], timeout: float = 10
) -> float:
    """Seconds until every active actor is on its owner and none is active twice."""
    started = time.monotonic()
    seen: list[dict[str, Any] | None] = []
    while time.monotonic() - started < timeout:
        seen = list(await asyncio.gather(*(info(session, n) for n in nodes)))
        if all(s is not None for s in seen):
            actives = [a for s in seen if s is not None for a in s["active"]]
            misplaced = [
                a for s in seen if s is not None for a in s["active"] if a not in s["owned"]
            ]
            if not misplaced and len(actives) == len(set(actives)):
                return time.monotonic() - started
        await asyncio.sleep(0.05)
    raise AssertionError(f"actors not on their owners after {timeout} s: {seen}")


@dataclass
class Report:
    """What the run measured (see :func:`run_chaos`)."""

    sent_ok: int = 0
    """Messages acknowledged to the senders that finished their load."""
    failed_survivors: int = 0
    errors: list[str] = field(default_factory=list)
    handled: int = 0
    unique: int = 0
    acked: int = 0
    """Messages acknowledged to any sender (killed and leaving ones too)."""
    missing: int = 0
    duplicates_crash: int = 0
    duplicates_no_crash: int = 0
    order_violations: int = 0
    placement_seconds: list[float] = field(default_factory=list)
    leaders_sampled: list[int] = field(default_factory=list)
    detection_seconds: float = 0.0
    new_leader_seconds: float = 0.0
    tokens_increasing: bool = False
    tokens: int = 0
    max_overlap: float = 0.0
    """Longest time two nodes ran the same singleton at once (seconds)."""
    singleton_moves: int = 0
    """Times a singleton started on a node after running on another."""
    seconds: float = 0.0

    def lines(self) -> list[str]:
        return [f"{k}: {v}" for k, v in self.__dict__.items()]


async def _leaders(session: aiohttp.ClientSession, nodes: list[KvNode]) -> list[str]:
    seen = await asyncio.gather(*(info(session, n) for n in nodes))
    return [s["address"] for s in seen if s is not None and s["leader"]]


async def run_chaos(
    workdir: Path, *, size: int = 5, count: int = 2000, actors: int = 100, rate: float = 130
) -> Report:
    """Run the scenario of the module docstring; the measurements."""
    cluster = ActorCluster(workdir, size)
    report = Report()
    started = time.monotonic()
    try:
        first = cluster.nodes[:size]
        for node in first:
            node.start()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
            await wait_ready(cluster, first)
            await wait_converged(session, first)
            for _ in range(3):
                report.leaders_sampled.append(len(await _leaders(session, first)))
                await asyncio.sleep(0.2)
            loads = {
                n.address: asyncio.create_task(_load(session, n, count, actors, rate))
                for n in first
            }
            await asyncio.sleep(2)
            # 1. kill -9 the leader
            leader = (await _leaders(session, first))[0]
            victim = next(n for n in first if n.address == leader)
            victim.kill()
            killed_at = time.monotonic()
            alive = [n for n in first if n is not victim]
            report.detection_seconds, report.new_leader_seconds = await _failover(
                session, alive, victim.address, killed_at
            )
            await wait_converged(session, alive)
            report.placement_seconds.append(await wait_placed(session, alive))
            # 2. a node joins
            spare = cluster.nodes[size]
            spare.start()
            alive.append(spare)
            await wait_ready(cluster, [spare])
            loads[spare.address] = asyncio.create_task(_load(session, spare, count, actors, rate))
            await wait_converged(session, alive)
            report.placement_seconds.append(await wait_placed(session, alive))
            # 3. a node leaves gracefully
            leaving = alive[0]
            leaving.terminate()
            alive.remove(leaving)
            await wait_converged(session, alive)
            report.placement_seconds.append(await wait_placed(session, alive))
            outcomes = {a: await t for a, t in loads.items()}
            for address, outcome in outcomes.items():
                report.sent_ok += outcome.get("ok", 0)
                if address in {n.address for n in alive}:
                    report.failed_survivors += outcome.get("failed", 0)
                    report.errors += outcome.get("errors", [])
            await wait_converged(session, alive)
            report.placement_seconds.append(await wait_placed(session, alive))
            for _ in range(3):
                report.leaders_sampled.append(len(await _leaders(session, alive)))
                await asyncio.sleep(0.2)
    finally:
        cluster.stop()
    _check_logs(cluster.out, victim.address, report)
    report.seconds = time.monotonic() - started
    return report


async def _load(
    session: aiohttp.ClientSession, node: KvNode, count: int, actors: int, rate: float
) -> dict[str, Any]:
    url = f"{node.url}/load?count={count}&actors={actors}&concurrency=16&rate={rate}"
    with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError, ValueError):
        async with session.post(url) as answer:
            body: dict[str, Any] = await answer.json()
            return body
    return {}


async def _failover(
    session: aiohttp.ClientSession, alive: list[KvNode], dead: str, killed_at: float
) -> tuple[float, float]:
    """Seconds from the kill until a survivor dropped ``dead``, and until one leads."""
    detected = led = 0.0
    for _ in range(600):
        seen = [s for s in await asyncio.gather(*(info(session, n) for n in alive)) if s]
        now = time.monotonic() - killed_at
        if not detected and any(dead not in s["members"] for s in seen):
            detected = now
        if not led and sum(s["leader"] for s in seen) == 1:
            led = now
        if detected and led:
            break
        await asyncio.sleep(0.05)
    return detected, led


def _check_logs(out: Path, killed: str, report: Report) -> None:
    handled: dict[tuple[str, str], list[tuple[int, int, str]]] = defaultdict(list)
    for path in out.glob("handled-*.log"):
        for line in path.read_text().splitlines():
            node, key, sender, seq, t = line.split()
            handled[(key, sender)].append((int(t), int(seq), node))
    counts: Counter[tuple[str, str, int]] = Counter()
    for (key, sender), rows in handled.items():
        rows.sort()
        report.handled += len(rows)
        firsts: list[int] = []
        where: dict[int, list[str]] = defaultdict(list)
        for _, number, at in rows:
            if number not in where:
                firsts.append(number)
            where[number].append(at)
            counts[(key, sender, number)] += 1
        report.order_violations += sum(1 for a, b in itertools.pairwise(firsts) if b < a)
        for nodes in where.values():
            if len(nodes) > 1:
                if killed in nodes:
                    report.duplicates_crash += 1
                else:
                    report.duplicates_no_crash += 1
    report.unique = len(counts)
    for path in out.glob("acked-*.log"):
        for line in path.read_text().splitlines():
            key, sender, seq = line.split()
            report.acked += 1
            if (key, sender, int(seq)) not in counts:
                report.missing += 1
    tokens: list[tuple[int, tuple[int, int, str]]] = []
    for path in out.glob("leaders-*.log"):
        for line in path.read_text().splitlines():
            _, name, token, t = line.split()
            if name == "lead":
                clock, _, node = token.partition("@")
                wall, _, logical = clock.partition(".")
                tokens.append((int(t), (int(wall), int(logical), node)))
    tokens.sort()
    report.tokens = len(tokens)
    report.tokens_increasing = all(a[1] < b[1] for a, b in itertools.pairwise(tokens))
    report.max_overlap, report.singleton_moves = _max_overlap(out)


def _max_overlap(out: Path, gap_ns: int = 200_000_000) -> tuple[float, int]:
    """The longest time two nodes ran one singleton at once (runs: beats < 200 ms apart)."""
    beats: dict[tuple[str, str], list[int]] = defaultdict(list)
    for path in out.glob("beats-*.log"):
        for line in path.read_text().splitlines():
            name, node, stamp, *_ = line.split()
            beats[(name, node)].append(int(stamp))
    runs: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for (name, node), times in beats.items():
        times.sort()
        start = prev = times[0]
        for when in times[1:]:
            if when - prev > gap_ns:
                runs[name].append((start, prev, node))
                start = when
            prev = when
        runs[name].append((start, prev, node))
    longest = moves = 0
    for spans in runs.values():
        spans.sort()
        moves += sum(1 for a, b in itertools.pairwise(spans) if a[2] != b[2])
        for i, (a0, a1, an) in enumerate(spans):
            for b0, b1, bn in spans[i + 1 :]:
                if an != bn:
                    longest = max(longest, min(a1, b1) - max(a0, b0))
    return longest / 1e9, moves
