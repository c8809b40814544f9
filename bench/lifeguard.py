"""Lifeguard off vs on: false suspicions and false faulty declarations per minute.

Ten nodes, one of them stalled ``--stall-ms`` of every ``--every-ms``; nothing is
down, so every suspicion and every faulty declaration is false. Both modes use the
same stall and the same tight timeouts - ping 100 ms, ping-req 250 ms, suspect
period 500 ms (with the defaults, a 1.5 s ping timeout, a 300 ms stall is not
noticed at all) - and Lifeguard's minimum suspicion timeout equals that suspect
period (``lifeguard_suspicion_mult`` 2.5: 2.5 x log10(10) x 200 ms; max 3 s).

* default: ten Ringpop nodes on the in-memory network (``ringpop.testing.SimCluster``: the
  real protocol handlers, 2-4 ms links) in **real time** on one asyncio loop; the
  stalled node is frozen by a memnet pause (nothing it receives is handled and
  nothing it sends leaves until it resumes). Same seed, same addresses per mode.
* ``--processes``: ten real ``ringpop testpop`` processes on 127.0.0.1
  (``tests/cluster/stalled.py``); the stalled one runs ``--stall-ms 300
  --stall-every-ms 1000``, a real ``time.sleep`` on its event loop. Counts come from
  every node's ``/admin/lifeguard``. Each round runs both modes, in alternating
  order (off, on; then on, off; ...).

    .venv/bin/python bench/lifeguard.py [--seconds 60] [--seeds 1 2]
    .venv/bin/python bench/lifeguard.py --processes [--seconds 60] [--rounds 2]

Counts are accepted membership updates summed over all observers ("suspect" = an
observer accepted a member as suspect), split into the stalled node and the nine
healthy ones, divided by the run's minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.cluster.procs import Admin, Cluster  # noqa: E402
from tests.cluster.stalled import KEYS, run_stalled_cluster  # noqa: E402

from ringpop.options import Options  # noqa: E402
from ringpop.testing import SimCluster  # noqa: E402

TIGHT = Options(ping_timeout=0.1, ping_req_timeout=0.25, suspect_period=0.5)
LIFEGUARD = TIGHT.replace(lifeguard_enabled=True, lifeguard_suspicion_mult=2.5)
Figures = dict[str, float]


async def run_sim(
    options: Options, seed: int, seconds: float, stall: float, every: float
) -> Figures:
    cluster = SimCluster(10, seed=seed, options=options)
    await cluster.bootstrap()
    await cluster.wait_for(cluster.converged, timeout=30)
    await asyncio.sleep(2)
    stalled = cluster.addresses[3]
    started = cluster.now()
    lhm_peak = 0

    async def stall_loop() -> None:
        while True:
            await asyncio.sleep(every - stall)
            cluster.network.pause(stalled)
            await asyncio.sleep(stall)
            cluster.network.resume(stalled)

    async def watch() -> None:
        nonlocal lhm_peak
        while True:
            await asyncio.sleep(0.05)
            lhm_peak = max(lhm_peak, cluster.nodes[stalled].health.score)

    tasks = [asyncio.create_task(stall_loop()), asyncio.create_task(watch())]
    await asyncio.sleep(seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    events = [e for e in cluster.observations if e.time >= started]
    minutes = seconds / 60
    out = {
        "suspect_healthy": sum(e.status == "suspect" and e.subject != stalled for e in events),
        "faulty_healthy": sum(e.status == "faulty" and e.subject != stalled for e in events),
        "suspect_stalled": sum(e.status == "suspect" and e.subject == stalled for e in events),
        "faulty_stalled": sum(e.status == "faulty" and e.subject == stalled for e in events),
    }
    result = {key: value / minutes for key, value in out.items()}
    result["lhm_peak"] = lhm_peak
    await cluster.stop()
    return result


async def run_processes(
    lifeguard: bool, workdir: Path, seconds: float, stall_ms: int, every_ms: int
) -> Figures:
    made: list[Cluster] = []

    def make(**kwargs: Any) -> Cluster:
        directory = workdir / f"{'on' if lifeguard else 'off'}-{len(made)}"
        directory.mkdir(parents=True)
        made.append(Cluster(directory, **kwargs))
        return made[-1]

    try:
        async with Admin(timeout=2.0) as admin:
            run = await run_stalled_cluster(
                make,
                admin,
                lifeguard=lifeguard,
                seconds=seconds,
                stall_ms=stall_ms,
                every_ms=every_ms,
            )
    finally:
        for cluster in made:
            cluster.stop_all()
    result: Figures = {key: run.per_minute(key) for key in KEYS}
    result["declared_faulty"] = run.per_minute("declared_faulty_stalled") + run.per_minute(
        "declared_faulty_healthy"
    )
    result["lhm_peak"] = run.lhm_peak_stalled
    result["lhm_peak_healthy"] = run.lhm_peak_healthy
    result["seconds"] = run.seconds
    return result


class Table:
    """Rows of per-minute figures, their means per mode and the off/on ratios."""

    def __init__(self, label: str, extra: Sequence[tuple[str, str]]) -> None:
        self.label = label
        self.extra = list(extra)
        self.rows: dict[str, list[Figures]] = {"off": [], "on": []}
        print(f"{label:>5} {'lifeguard':>9} " + " ".join(f"{k + '/min':>20}" for k in KEYS), end="")
        print("".join(f" {title:>17}" for _, title in self.extra))

    def add(self, name: str, mode: str, figures: Figures) -> None:
        self.rows[mode].append(figures)
        row = " ".join(f"{figures[k]:>20.1f}" for k in KEYS)
        more = "".join(f" {figures[key]:>17.1f}" for key, _ in self.extra)
        print(f"{name:>5} {mode:>9} {row}{more}", flush=True)

    def summary(self) -> None:
        means = {
            mode: {k: sum(r[k] for r in rows) / len(rows) for k in KEYS}
            for mode, rows in self.rows.items()
            if rows
        }
        for mode, mean in means.items():
            print(f"{'mean':>5} {mode:>9} " + " ".join(f"{mean[k]:>20.1f}" for k in KEYS))
        if len(means) == 2:
            print(
                f"{'ratio':>5} {'off/on':>9} "
                + " ".join(f"{_ratio(means['off'][k], means['on'][k]):>20}" for k in KEYS)
            )


def _ratio(off: float, on: float) -> str:
    if on > 0:
        return f"{off / on:.2f}"
    return "-" if off == 0 else f"{off:.1f} vs 0"


def _loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


async def bench(args: argparse.Namespace) -> None:
    stall, every = args.stall_ms / 1000, args.every_ms / 1000
    where = "testpop processes" if args.processes else "in-memory nodes (real time)"
    print(
        f"10 {where}, one stalled {args.stall_ms} ms every {args.every_ms} ms, "
        f"{args.seconds:g} s per run; cpus {os.cpu_count()}, load (1 min) {_loadavg()}"
    )
    if not args.processes:
        table = Table("seed", [("lhm_peak", "stalled LHM peak")])
        for seed in args.seeds:
            for name, options in (("off", TIGHT), ("on", LIFEGUARD)):
                figures = await run_sim(options, seed, args.seconds, stall, every)
                table.add(str(seed), name, figures)
        table.summary()
        return
    table = Table(
        "round",
        [
            ("declared_faulty", "own faulty decl."),
            ("lhm_peak", "stalled LHM peak"),
            ("lhm_peak_healthy", "healthy LHM peak"),
            ("seconds", "window s"),
        ],
    )
    workdir = Path(tempfile.mkdtemp(prefix="ringpop-bench-lifeguard-"))
    for round_ in range(1, args.rounds + 1):
        order = ("off", "on") if round_ % 2 else ("on", "off")
        for mode in order:
            figures = await run_processes(
                mode == "on", workdir / f"round{round_}", args.seconds, args.stall_ms, args.every_ms
            )
            table.add(str(round_), mode, figures)
    table.summary()
    print(f"load (1 min) after: {_loadavg()}; node logs in {workdir}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", action="store_true", help="real testpop processes")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="in-memory runs")
    parser.add_argument("--rounds", type=int, default=2, help="--processes: off+on rounds")
    parser.add_argument("--stall-ms", type=int, default=300)
    parser.add_argument("--every-ms", type=int, default=1000)
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
