"""Cluster benchmark (issue 4): real processes on 127.0.0.1, ringpop-node side by side.

For each implementation - our ``testpop`` and ringpop-node 10.21.0's own ``main.js``
(through ``interop/node/ringpop-node.js``, isCrossPlatform) - with the same flags
(``--suspect-period=5000 --faulty-period=5000 --tombstone-period=5000``):

* **cold start**: N = 5, 10, 20 processes spawned at once, all listing each other in
  one hosts file; time from the first spawn until every node's ``/admin/stats`` shows
  all N alive, one membership checksum and one ring checksum (polled every 100 ms);
* **kill -9 detection** in N = 10 (after convergence and 2 s of quiet): time from
  SIGKILL of one node until the first survivor suspects it, until every survivor
  suspects it (or worse), until every survivor has it faulty;
* **idle cost** in N = 10: CPU % per node from ``/proc/<pid>/stat`` utime+stime over
  a quiet window (no admin polling during it) and RSS (``VmRSS``) at its end.

Our nodes run with the library's defaults, which include the startup sync
(``--startup-sync``, docs/membership.md); ``--spec-exact`` runs testpop as the
conformance program does, without it.

Runs alternate between the implementations (python, node, node, python, ...) so
both see the same machine; figures are medians over the repetitions. The machine is
shared, so the 1-minute load average is printed before and after. Child Python
processes cache bytecode (``PYTHONDONTWRITEBYTECODE`` is dropped for them), as an
installed package does.

Run: ``.venv/bin/python bench/cluster.py [--quick] [--reps N] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.cluster.procs import (  # noqa: E402
    Admin,
    Cluster,
    ClusterError,
    Kind,
    NodeProc,
    Snapshot,
    converged,
    member_status,
    wait_until,
)

POLL_S = 0.05
COLD_POLL_S = 0.1
"""Cold starts poll more gently: 20 nodes x 20 polls/s would load the 2 cores."""
CONVERGE_TIMEOUT_S = 90.0
SETTLE_S = 2.0
SUSPECT_MS = 5000

# ringpop-node on this machine type, as measured for the issue (reference only).
ISSUE_NODE = {
    "converge 5": 1.0,
    "converge 10": 3.0,
    "converge 20": 6.2,
    "first suspect": None,
    "all suspect": 0.56,
    "all faulty": 5.3,
    "idle cpu %": 1.5,
    "rss MiB": 60.0,
}


@dataclass
class Figures:
    """Every sample of one implementation."""

    converge: dict[int, list[float]] = field(default_factory=dict)
    first_suspect: list[float] = field(default_factory=list)
    all_suspect: list[float] = field(default_factory=list)
    all_faulty: list[float] = field(default_factory=list)
    idle_cpu_pct: list[float] = field(default_factory=list)
    """Per node, every idle window."""
    rss_mib: list[float] = field(default_factory=list)
    """Per node, every idle window."""


def loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


PYTHON_ARGS: list[str] = ["--startup-sync"]
"""Extra testpop flags (``--spec-exact`` empties it)."""


async def cold_start(kind: Kind, count: int, workdir: Path) -> tuple[Cluster, list[str], float]:
    """Spawn ``count`` nodes; wait for convergence; the cluster and the time it took."""
    cluster = Cluster(workdir, suspect_ms=SUSPECT_MS, log_level="WARNING", python_args=PYTHON_ARGS)
    started = time.monotonic()
    try:
        procs = cluster.start(count, kind)
        addresses = [p.address for p in procs]
        async with Admin(timeout=1.0) as admin:
            await wait_until(
                admin,
                addresses,
                lambda s: converged(s, addresses),
                timeout=CONVERGE_TIMEOUT_S,
                interval=COLD_POLL_S,
                cluster=cluster,
                what=f"{count} {kind} nodes to converge",
            )
    except BaseException:
        cluster.stop_all()
        raise
    return cluster, addresses, time.monotonic() - started


async def idle_cost(procs: list[NodeProc], seconds: float) -> tuple[list[float], list[float]]:
    """CPU % and RSS MiB of each process over ``seconds`` of quiet."""
    before = [p.cpu_seconds() for p in procs]
    started = time.monotonic()
    await asyncio.sleep(seconds)
    after = [p.cpu_seconds() for p in procs]
    elapsed = time.monotonic() - started
    cpu = [(b - a) / elapsed * 100 for a, b in zip(before, after, strict=True)]
    rss = [p.rss_bytes() / 2**20 for p in procs]
    return cpu, rss


async def detection(cluster: Cluster, addresses: list[str]) -> tuple[float, float, float]:
    """Kill -9 one node; (first suspect, all suspect, all faulty) in seconds."""
    victim = random.choice(cluster.procs[1:])
    survivors = [a for a in addresses if a != victim.address]
    first: float | None = None
    suspect: dict[str, float] = {}
    faulty: dict[str, float] = {}
    killed_at = 0.0

    def record(snapshot: Snapshot) -> None:
        nonlocal first
        now = time.monotonic() - killed_at
        for observer, stats in snapshot.items():
            if stats is None:
                continue
            status = member_status(stats, victim.address)
            if status in ("suspect", "faulty", "tombstone", "leave") or status is None:
                suspect.setdefault(observer, now)
                if first is None:
                    first = now
            if status in ("faulty", "tombstone") or status is None:
                faulty.setdefault(observer, now)

    async with Admin(timeout=1.0) as admin:
        await admin.snapshot(survivors)  # connections are open before the clock starts
        killed_at = time.monotonic()
        victim.kill()
        await wait_until(
            admin,
            survivors,
            lambda s: len(faulty) == len(survivors),
            timeout=SUSPECT_MS / 1000 + 30.0,
            interval=POLL_S,
            on_snapshot=record,
            what=f"{victim.address} to be faulty everywhere",
        )
    assert first is not None
    return first, max(suspect.values()), max(faulty.values())


async def bench(args: argparse.Namespace) -> dict[str, Figures]:
    kinds: list[Kind] = ["python", "node"] if shutil.which("node") and not args.no_node else []
    if not kinds:
        kinds = ["python"]
        print("node not found (or --no-node): ringpop-node baseline skipped", file=sys.stderr)
    if "node" in kinds:
        from tests.nodeenv import node_modules_dir

        node_modules_dir()
    results: dict[str, Figures] = {kind: Figures() for kind in kinds}
    root = Path(tempfile.mkdtemp(prefix="ringpop-bench-cluster-"))
    run = 0

    def order(rep: int) -> list[Kind]:
        return kinds if rep % 2 == 0 else list(reversed(kinds))

    def workdir() -> Path:
        nonlocal run
        run += 1
        path = root / f"run{run}"
        path.mkdir()
        return path

    try:
        for count in args.sizes:
            for rep in range(args.reps):
                for kind in order(rep):
                    cluster, addresses, took = await cold_start(kind, count, workdir())
                    try:
                        results[kind].converge.setdefault(count, []).append(took)
                        line = (
                            f"{kind:6} N={count:<3} rep {rep + 1}: converged in {took:5.2f} s"
                            f" (load {loadavg()})"
                        )
                        if count == args.detect_size:
                            await asyncio.sleep(SETTLE_S)
                            if rep < args.idle_reps:
                                cpu, rss = await idle_cost(cluster.procs, args.idle_seconds)
                                results[kind].idle_cpu_pct.extend(cpu)
                                results[kind].rss_mib.extend(rss)
                                line += (
                                    f"; idle {statistics.mean(cpu):.2f} % CPU, "
                                    f"{statistics.mean(rss):.1f} MiB"
                                )
                            first, every, faulty = await detection(cluster, addresses)
                            results[kind].first_suspect.append(first)
                            results[kind].all_suspect.append(every)
                            results[kind].all_faulty.append(faulty)
                            line += (
                                f"; kill -9: first suspect {first:.2f} s, all suspect "
                                f"{every:.2f} s, all faulty {faulty:.2f} s"
                            )
                        print(line, flush=True)
                    finally:
                        cluster.stop_all()
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"logs kept in {root}")
    return results


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def table(results: dict[str, Figures], sizes: list[int]) -> list[dict[str, object]]:
    """One row per measure: medians and best runs of both, their ratio, the verdict.

    The ratio is the median of per-repetition ratios python/node (the two runs of a
    repetition are adjacent in time, so they saw about the same machine load); for
    the per-node idle figures it is the ratio of the medians.
    """
    py = results.get("python", Figures())
    node = results.get("node", Figures())
    rows: list[dict[str, object]] = []

    def add(
        name: str,
        ours: list[float],
        theirs: list[float],
        issue_key: str,
        unit: str,
        *,
        ratio_at_most: float | None = None,
        absolute_at_most: float | None = None,
        paired: bool = True,
    ) -> None:
        ratio: float | None = None
        if ours and theirs:
            if paired and len(ours) == len(theirs):
                ratio = statistics.median(a / b for a, b in zip(ours, theirs, strict=True))
            else:
                ratio = statistics.median(ours) / statistics.median(theirs)
        verdict = ""
        if ratio_at_most is not None and ratio is not None:
            verdict = "met" if ratio <= ratio_at_most else "not met"
            verdict += f" (<= {ratio_at_most:g}x node)"
        if absolute_at_most is not None and ours:
            verdict = "met" if statistics.median(ours) <= absolute_at_most else "not met"
            verdict += f" (<= {absolute_at_most:g} {unit})"
        rows.append(
            {
                "measure": name,
                "unit": unit,
                "python": median(ours),
                "python_best": min(ours, default=None),
                "node": median(theirs),
                "node_best": min(theirs, default=None),
                "ratio": ratio,
                "issue_node": ISSUE_NODE.get(issue_key),
                "target": verdict,
            }
        )

    for count in sizes:
        add(
            f"cold start to one checksum, N={count}",
            py.converge.get(count, []),
            node.converge.get(count, []),
            f"converge {count}",
            "s",
            ratio_at_most=0.5,
        )
    add("kill -9: first suspect", py.first_suspect, node.first_suspect, "first suspect", "s")
    add(
        "kill -9: all survivors suspect",
        py.all_suspect,
        node.all_suspect,
        "all suspect",
        "s",
        ratio_at_most=1.0,
    )
    add(
        "kill -9: all survivors faulty",
        py.all_faulty,
        node.all_faulty,
        "all faulty",
        "s",
        ratio_at_most=1.0,
    )
    add(
        "idle CPU per node",
        py.idle_cpu_pct,
        node.idle_cpu_pct,
        "idle cpu %",
        "%",
        absolute_at_most=1.0,
        paired=False,
    )
    add(
        "RSS per node",
        py.rss_mib,
        node.rss_mib,
        "rss MiB",
        "MiB",
        absolute_at_most=40.0,
        paired=False,
    )
    return rows


def print_table(rows: list[dict[str, object]]) -> None:
    def fmt(value: object, digits: int = 2) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.{digits}f}"
        return str(value)

    header = (
        f"{'measure':32} {'unit':>4} {'python':>7} {'(best)':>7} {'node':>7} {'(best)':>7} "
        f"{'py/node':>7} {'issue':>6}  target"
    )
    print(header)
    print("-" * (len(header) + 18))
    for row in rows:
        print(
            f"{row['measure']!s:32} {row['unit']!s:>4} {fmt(row['python']):>7} "
            f"{fmt(row['python_best']):>7} {fmt(row['node']):>7} {fmt(row['node_best']):>7} "
            f"{fmt(row['ratio']):>7} {fmt(row['issue_node'], 1):>6}  {row['target']}"
        )
    print(
        "\npython/node: medians over repetitions; py/node: median of per-repetition ratios;"
        "\nissue: ringpop-node as measured for the issue on this machine type."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="5,10,20", help="cluster sizes for cold start")
    parser.add_argument("--reps", type=int, default=5, help="repetitions per size and kind")
    parser.add_argument("--detect-size", type=int, default=10, help="N for kill -9 and idle")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--idle-reps", type=int, default=1, help="idle windows per kind")
    parser.add_argument("--quick", action="store_true", help="one repetition, 5 s idle")
    parser.add_argument("--no-node", action="store_true", help="skip the ringpop-node baseline")
    parser.add_argument("--keep", action="store_true", help="keep the node logs")
    parser.add_argument(
        "--spec-exact", action="store_true", help="our nodes without the startup sync"
    )
    parser.add_argument("--json", type=Path, help="also write every sample to this file")
    args = parser.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",")]
    if args.quick:
        args.reps, args.idle_seconds = 1, 5.0
    if args.detect_size not in args.sizes:
        parser.error("--detect-size must be one of --sizes")
    if args.spec_exact:
        PYTHON_ARGS.clear()
    print(
        f"cpus {os.cpu_count()}, load average (1 min) before: {loadavg()}; "
        f"testpop flags: {' '.join(PYTHON_ARGS) or '(none: spec-exact)'}",
        flush=True,
    )
    try:
        results = asyncio.run(bench(args))
    except ClusterError as error:
        sys.exit(f"benchmark failed: {error}")
    print(f"load average (1 min) after: {loadavg()}\n")
    rows = table(results, args.sizes)
    print_table(rows)
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "rows": rows,
                    "samples": {kind: asdict(fig) for kind, fig in results.items()},
                    "load_after": loadavg(),
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
