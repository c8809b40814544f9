"""Failover benchmark (issue 12): requests for a SIGKILLed owner's keys under load.

Three nodes of ``examples/fastapi_counters`` under uvicorn on 127.0.0.1. Load: an
open loop of ``--rate`` requests/s, ``GET``/``PUT /counters/{key}`` (idempotent) and,
with ``--post``, ``POST /counters/{key}/incr``, for keys owned by one node (the
victim), sent to the two other nodes. After a warm-up the victim is SIGKILLed; the
requests *started*
in the detection window (``--window`` s from the kill) are counted by answer, with
latency p50/p99/max. Two configurations, one after the other:

* **before** - ringpop-node's forwarding defaults: no failover, 3 retries after
  0, 1, 3.5 s (a budget of 4.5 s, shorter than the 5 s suspect period);
* **after** - this library's defaults: idempotent requests go to the key's next
  owner at once; 5 retries after 0, 1, 2, 4, 4 s (11 s) for the others.

Run: ``.venv/bin/python bench/failover.py [--window 8] [--rate 100] [--post]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {
    "before": {
        "proxy_failover_methods": [],
        "proxy_max_retries": 3,
        "proxy_retry_schedule": [0, 1, 3.5],
    },
    "after": {},
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Node:
    address: str
    url: str
    popen: subprocess.Popen[bytes]


@dataclass
class Sample:
    started: float  # seconds after the kill (negative: before)
    seconds: float
    status: int
    method: str


@dataclass
class Result:
    config: str
    samples: list[Sample] = field(default_factory=list)


def start_cluster(workdir: Path, options: dict[str, object]) -> list[Node]:
    addresses = [f"127.0.0.1:{free_port()}" for _ in range(3)]
    hosts = workdir / "hosts.json"
    hosts.write_text(json.dumps(addresses))
    nodes = []
    for address in addresses:
        port = free_port()
        env = {
            **os.environ,
            "RINGPOP_LISTEN": address,
            "RINGPOP_HOSTS": str(hosts),
            "RINGPOP_OPTIONS": json.dumps(options),
            "PYTHONPATH": str(REPO),
        }
        command = [sys.executable, "-m", "uvicorn", "examples.fastapi_counters.app:app"]
        command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
        command += ["--log-level", "warning"]
        log = (workdir / f"{port}.log").open("wb")
        popen = subprocess.Popen(command, env=env, stdout=log, stderr=log, cwd=REPO)
        nodes.append(Node(address, f"http://127.0.0.1:{port}", popen))
    deadline = time.monotonic() + 40
    pending = list(nodes)
    while pending and time.monotonic() < deadline:
        for node in list(pending):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{node.url}/ready", timeout=0.5).status_code == 200:
                    pending.remove(node)
        time.sleep(0.2)
    if pending:
        raise SystemExit(f"nodes not ready; logs in {workdir}")
    return nodes


def stop_cluster(nodes: list[Node]) -> None:
    for node in nodes:
        if node.popen.poll() is None:
            node.popen.send_signal(signal.SIGTERM)
    for node in nodes:
        try:
            node.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            node.popen.kill()
            node.popen.wait()


def victim_keys(nodes: list[Node], victim: Node, count: int) -> list[str]:
    keys: list[str] = []
    with httpx.Client(timeout=5) as client:
        for i in range(2000):
            key = f"k{i}"
            if client.get(f"{nodes[0].url}/counters/{key}").json()["node"] == victim.address:
                keys.append(key)
                if len(keys) == count:
                    break
    return keys


async def load(
    urls: list[str],
    keys: list[str],
    rate: float,
    post: bool,
    killed_at: list[float],
    end: float,
    samples: list[Sample],
) -> None:
    """Open loop: a request every 1/rate s whatever the earlier ones are doing (a
    closed loop would wait on stalled requests and send fewer during the outage).

    The client is aiohttp's: httpx's connection pool scans every connection for
    every request (a ``getpeername`` system call each), so with the few hundred
    requests left waiting during an outage the load generator itself fell behind
    and reported seconds of latency that the (idle) nodes never had."""
    methods = ["GET", "PUT", "POST"] if post else ["GET", "PUT"]

    async def one(session: aiohttp.ClientSession, n: int) -> None:
        base_url = urls[n % len(urls)]
        key = keys[(n * 7) % len(keys)]
        method = methods[n % len(methods)]
        url = f"{base_url}/counters/{key}" + ("/incr" if method == "POST" else "")
        started = time.monotonic()
        try:
            async with session.request(method, url) as answer:
                await answer.read()
                status = answer.status
        except (aiohttp.ClientError, TimeoutError):
            status = 599
        base = killed_at[0] if killed_at else float("inf")
        samples.append(Sample(started - base, time.monotonic() - started, status, method))

    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks: list[asyncio.Task[None]] = []
        start = time.monotonic()
        for n in range(int((end - start) * rate) + 1):  # bounded by the run's length
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(one(session, n)))
        await asyncio.gather(*tasks)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_config(name: str, args: argparse.Namespace) -> Result:
    workdir = Path(tempfile.mkdtemp(prefix=f"ringpop-failover-{name}-"))
    nodes = start_cluster(workdir, CONFIGS[name])
    result = Result(name)
    try:
        victim = nodes[1]
        survivors = [n for n in nodes if n is not victim]
        keys = victim_keys(nodes, victim, args.keys)
        killed_at: list[float] = []
        end = time.monotonic() + args.warmup + args.window
        loader = asyncio.ensure_future(
            load(
                [n.url for n in survivors],
                keys,
                args.rate,
                args.post,
                killed_at,
                end,
                result.samples,
            )
        )
        await asyncio.sleep(args.warmup)
        victim.popen.send_signal(signal.SIGKILL)
        killed_at.append(time.monotonic())
        await loader
    finally:
        stop_cluster(nodes)
    return result


def report(result: Result, window: float) -> dict[str, object]:
    inside = [s for s in result.samples if 0 <= s.started < window]
    rows: dict[str, object] = {"config": result.config}
    for label, chosen in (
        ("idempotent", [s for s in inside if s.method != "POST"]),
        ("POST", [s for s in inside if s.method == "POST"]),
    ):
        if not chosen:
            continue
        statuses = Counter(s.status for s in chosen)
        bad = sum(count for status, count in statuses.items() if not 200 <= status < 300)
        latencies = [s.seconds for s in chosen]
        rows[label] = {
            "requests": len(chosen),
            "non_2xx": bad,
            "statuses": dict(sorted(statuses.items())),
            "p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
            "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
            "max_ms": round(max(latencies) * 1000, 1),
        }
    return rows


def timeline(result: Result, window: float) -> list[str]:
    """Per half-second of start time after the kill: requests, non-2xx, p50/max latency."""
    lines = []
    step = 0.5
    t = -1.0
    while t < window:
        for method in ("idempotent", "POST"):
            chosen = [
                s
                for s in result.samples
                if t <= s.started < t + step and (s.method == "POST") == (method == "POST")
            ]
            if not chosen:
                continue
            latencies = [s.seconds for s in chosen]
            bad = sum(1 for s in chosen if not 200 <= s.status < 300)
            lines.append(
                f"{t:+5.1f} s {method:10} {len(chosen):4} req {bad:3} non-2xx  "
                f"p50 {percentile(latencies, 0.5) * 1000:7.1f} ms  "
                f"max {max(latencies) * 1000:7.1f} ms"
            )
        t += step
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=8.0, help="seconds after the kill")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    parser.add_argument("--keys", type=int, default=20)
    parser.add_argument("--post", action="store_true", help="also non-idempotent POSTs")
    parser.add_argument("--only", choices=sorted(CONFIGS), help="run one configuration")
    parser.add_argument(
        "--timeline", action="store_true", help="also print latency per half-second"
    )
    args = parser.parse_args()
    names = [args.only] if args.only else ["before", "after"]
    for name in names:
        result = asyncio.run(run_config(name, args))
        if args.timeline:
            print("\n".join(timeline(result, args.window)), flush=True)
        print(json.dumps(report(result, args.window)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
