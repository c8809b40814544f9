"""Dashboard bench: does the page keep up with a 100-node cluster? And its screenshots.

``python bench/dashboard.py lag [--nodes 100] [--seconds 30]``
    A simulated cluster of N nodes, each a real TChannel server on 127.0.0.1 (all in
    one child process) answering ``/admin/stats`` and ``/admin/lookup`` from one
    shared member list that churns (a member turns suspect every second, faulty 2 s
    later, then alive again 3 s later with a new incarnation: the checksum changes
    every second, the ring every second or so). ``ringpop dashboard`` (another process)
    polls it every second; a headless Chromium renders the page. Reported: the
    dashboard's polling round, snapshots produced versus drawn, the lag from a
    snapshot being built to it being drawn, the page's render time and its longest
    animation frame.

``python bench/dashboard.py screenshots [--out docs/img]``
    Six in-process nodes behind silent relays (tests/cluster/partition.py): a PNG of
    the healthy cluster, then of the cluster split 4/2 once both sides have declared
    the other faulty.

Needs aiohttp, selenium and Debian's chromium + chromium-driver.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.dashboard.browser import find_browser, start_browser  # noqa: E402
from tests.dashboard.conftest import start_dashboard  # noqa: E402

from ringpop.hashing import fingerprint32  # noqa: E402
from ringpop.ring import HashRing  # noqa: E402
from ringpop.tchannel import Channel, Request, Response  # noqa: E402

FRAMES_JS = """
const s = window.ringpopDashboard.stats;
s.lags.length = 0; s.renderMs.length = 0; s.renders = 0; s.maxRenderMs = 0; s.ringDraws = 0;
s.maxRingMs = 0; s.frames = []; s.firstSeq = s.rendered;
let last = performance.now();
const tick = (now) => {
  s.frames.push(now - last); last = now;
  if (s.frames.length < 100000) requestAnimationFrame(tick);
};
requestAnimationFrame(tick);
"""


# ------------------------------------------------------------------ simulated cluster


class SimCluster:
    """N TChannel servers answering from one shared, churning member list."""

    def __init__(self, size: int, seed: int = 1) -> None:
        self.size = size
        self.rng = random.Random(seed)
        self.channels = [Channel("127.0.0.1:0") for _ in range(size)]
        self.addresses: list[str] = []
        self.status: dict[str, str] = {}
        self.incarnation: dict[str, int] = {}
        self.since: dict[str, float] = {}
        self.ring = HashRing()
        self._doc: bytes = b""

    async def start(self) -> None:
        for channel in self.channels:
            self.addresses.append(await channel.listen())
        for address in self.addresses:
            self.status[address] = "alive"
            self.incarnation[address] = 1
        self.ring.add_remove_servers(self.addresses, ())
        self._rebuild()
        for index, channel in enumerate(self.channels):
            channel.register("ringpop", "/admin/stats", self._stats_handler(index))
            channel.register("ringpop", "/admin/lookup", self._lookup)

    def _rebuild(self) -> None:
        members = [
            {"address": a, "status": self.status[a], "incarnationNumber": self.incarnation[a]}
            for a in sorted(self.addresses)
        ]
        text = ";".join(f"{m['address']}{m['status']}{m['incarnationNumber']}" for m in members)
        self._doc = json.dumps(
            {
                "membership": {"checksum": fingerprint32(text), "members": members},
                "ring": {"checksum": self.ring.checksum, "servers": self.ring.servers()},
            }
        ).encode()

    def _stats_handler(self, index: int) -> Any:
        async def handler(request: Request) -> Response:
            doc = json.loads(self._doc)
            doc["protocol"] = {
                "timing": {"median": round(1 + self.rng.random(), 2)},
                "protocolRate": 200,
            }
            doc["process"] = {"memory": {"rss": 30_000_000 + index}, "pid": index}
            return Response(b"", json.dumps(doc).encode())

        return handler

    async def _lookup(self, request: Request) -> Response:
        key = json.loads(request.arg3 or b"{}").get("key", "")
        return Response(b"", json.dumps({"dest": self.ring.lookup(key)}).encode())

    def churn(self, now: float) -> None:
        """One step: a new suspect, suspects of 2 s turn faulty, faulty of 3 s revive."""
        changed = False
        for address, status in list(self.status.items()):
            age = now - self.since.get(address, now)
            if status == "suspect" and age >= 2.0:
                self.status[address] = "faulty"
                self.ring.remove_server(address)
                self.since[address] = now
                changed = True
            elif status == "faulty" and age >= 3.0:
                self.status[address] = "alive"
                self.incarnation[address] += 1
                self.ring.add_server(address)
                changed = True
        alive = [a for a in self.addresses[1:] if self.status[a] == "alive"]
        if alive:
            victim = self.rng.choice(alive)
            self.status[victim] = "suspect"
            self.since[victim] = now
            changed = True
        if changed:
            self._rebuild()

    async def close(self) -> None:
        await asyncio.gather(*(c.close(drain_timeout=0.2) for c in self.channels))


async def serve_sim(size: int, seconds: float) -> None:
    """Child process: the simulated cluster; prints ``ready FIRST_ADDRESS``."""
    sim = SimCluster(size)
    await sim.start()
    print(f"ready {sim.addresses[0]}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    deadline = time.monotonic() + seconds
    try:
        while not stop.is_set() and time.monotonic() < deadline:
            sim.churn(time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
    finally:
        await sim.close()


# ------------------------------------------------------------------------ lag bench


def _wait(driver: Any, script: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(script)
        if check(value) or time.monotonic() >= deadline:
            return value
        time.sleep(0.2)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def lag(args: argparse.Namespace) -> None:
    found = find_browser()
    if isinstance(found, str):
        sys.exit(f"bench/dashboard.py: {found}")
    sim = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "sim",
            "--nodes",
            str(args.nodes),
            "--seconds",
            str(args.seconds + 120),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
    )
    procs = [sim]
    driver = None
    load_before = os.getloadavg()[0]
    try:
        assert sim.stdout is not None
        first = sim.stdout.readline().decode().split()[-1]
        dash, url = start_dashboard(first, interval=1.0)
        procs.append(dash)
        driver = start_browser(*found)
        driver.get(url)
        arcs_js = "return document.querySelectorAll('#ring path.arc').length;"
        count = _wait(driver, arcs_js, lambda n: n >= args.nodes - 5, 60)
        print(f"page shows {count} arcs of {args.nodes} nodes")
        driver.execute_script(FRAMES_JS)
        time.sleep(args.seconds)
        stats = driver.execute_script("return window.ringpopDashboard.stats;")
        with urllib.request.urlopen(f"{url}api/snapshot", timeout=5) as response:
            body = response.read()
        snap = json.loads(body)
        with urllib.request.urlopen(f"{url}api/ring/{snap['ring']['id']}", timeout=5) as r:
            layout_bytes = len(r.read())
    finally:
        if driver is not None:
            driver.quit()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    lags = [float(x) for x in stats["lags"]]
    frames = [float(x) for x in stats["frames"]]
    produced = stats["rendered"] - stats["firstSeq"]
    ring_changes = sum(1 for e in snap["events"] if e["kind"] == "ring")
    print(f"nodes {args.nodes}, {args.seconds:g} s, poll interval 1 s")
    print(f"dashboard polling round: {snap.get('roundMs')} ms (last)")
    print(f"snapshot {len(body) / 1024:.0f} KiB, ring layout {layout_bytes / 1024:.0f} KiB")
    print(
        f"snapshots produced {produced}, drawn {stats['renders']} (ring changes in the "
        f"last {len(snap['events'])} events: {ring_changes})"
    )
    print(
        f"lag built->drawn ms: median {statistics.median(lags):.0f}, p95 {_pct(lags, 0.95):.0f}, "
        f"max {max(lags):.0f}"
    )
    renders = [float(x) for x in stats["renderMs"]]
    print(
        f"render ms: median {statistics.median(renders):.1f}, max {max(renders):.1f}; "
        f"ring redrawn {stats['ringDraws']} times, max {stats['maxRingMs']:.1f} ms"
    )
    print(
        f"load average (1 min) before {load_before:.1f}, after {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs"
    )
    print(
        f"animation frames: {len(frames)}, median {statistics.median(frames):.1f} ms, "
        f"p99 {_pct(frames, 0.99):.1f} ms, max {max(frames):.1f} ms, "
        f"over 50 ms: {sum(1 for f in frames if f > 50)}"
    )


# ---------------------------------------------------------------------- screenshots


async def screenshots(args: argparse.Namespace) -> None:
    from tests.cluster.partition import PartitionCluster

    from ringpop.dashboard.server import serve
    from ringpop.options import Options

    found = find_browser()
    if isinstance(found, str):
        sys.exit(f"bench/dashboard.py: {found}")
    out = Path(args.out)
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    cluster = PartitionCluster(
        6, Options(suspect_period=2.0, faulty_period=60.0, tombstone_period=60.0)
    )
    await cluster.start()
    started: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    server = asyncio.ensure_future(serve(cluster.addresses, port=0, started=started))
    driver = await asyncio.to_thread(start_browser, *found, width=1400, height=1000)
    try:
        url = await asyncio.wait_for(started, 10)
        await asyncio.to_thread(driver.get, url)
        await _until(driver, "return document.querySelectorAll('#ring path.arc').length == 6")
        await asyncio.sleep(2)
        key = driver.find_element("id", "lookup-key")
        await asyncio.to_thread(key.send_keys, "user:42")
        await asyncio.to_thread(driver.find_element("css selector", "#lookup-form button").click)
        await asyncio.sleep(1.5)
        await asyncio.to_thread(driver.save_screenshot, str(out / "dashboard-healthy.png"))
        cluster.split([(0, 1, 2, 3), (4, 5)])
        await _until(
            driver,
            "const s = window.ringpopDashboard.state.snapshot;"
            "return s.split && s.members.filter((m) => m.status === 'faulty').length == 2",
            timeout=40,
        )
        await asyncio.sleep(2)
        await asyncio.to_thread(driver.save_screenshot, str(out / "dashboard-partitioned.png"))
        print(f"wrote {out / 'dashboard-healthy.png'} and {out / 'dashboard-partitioned.png'}")
    finally:
        await asyncio.to_thread(driver.quit)
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
        await cluster.close()


async def _until(driver: Any, script: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(driver.execute_script, script):
        if time.monotonic() >= deadline:
            raise SystemExit(f"bench/dashboard.py: not seen within {timeout:g} s: {script}")
        await asyncio.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("lag", help="page update lag against a simulated cluster")
    p.add_argument("--nodes", type=int, default=100)
    p.add_argument("--seconds", type=float, default=30.0)
    p = sub.add_parser("sim", help="(internal) serve the simulated cluster")
    p.add_argument("--nodes", type=int, default=100)
    p.add_argument("--seconds", type=float, default=300.0)
    p = sub.add_parser("screenshots", help="PNGs of a healthy and a partitioned cluster")
    p.add_argument("--out", default=str(REPO / "docs" / "img"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    os.environ.setdefault("PYTHONPATH", str(REPO))
    if args.mode == "lag":
        lag(args)
    elif args.mode == "sim":
        asyncio.run(serve_sim(args.nodes, args.seconds))
    else:
        asyncio.run(screenshots(args))


if __name__ == "__main__":
    main()
