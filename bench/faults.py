"""Fault table (issue 18): our nodes and ringpop-node under the same network faults.

Every scenario of ``tests/faults/scenarios.py`` runs on a fresh cluster of six nodes,
each node in its own network namespace on a private bridge (198.18.0.0/24), faults made
with nftables (and a delaying relay for the slow link), a small load of forwarded
requests (``GET /objects/<id>`` through every front) all along. The two
implementations run alternately with the same periods (``--suspect-period``,
``--faulty-period``, ``--tombstone-period``; both heal with their default 30 s
partition-heal period, neither has a flag for it):

* ``python``: ``examples/objects`` (ringpop for Python, aiohttp front);
* ``node``: ``interop/node/http-front.js`` (ringpop-node 10.21.0);
* ``mixed`` (only when asked): both in one cluster, alternately, each half of a
  partition holding both.

Printed: one line per run as it ends, then the table per scenario and implementation:
heal time median/max (fault's end -> one checksum with every node alive), runs that
failed what a correct implementation must do, reachable members wrongly declared
faulty/tombstoned/evicted (pairs, summed over runs), and forwarded requests ok/failed
during the fault and after it. Runs need root, ``ip netns`` and ``nft``; ringpop-node
needs node (``interop/node/setup.sh`` runs on demand; without node it is skipped).

Run: ``.venv/bin/python bench/faults.py [--runs 10] [--other-runs 3] [--quick]
[--programs python,node] [--scenarios partition,asymmetric,...] [--until HH:MM]
[--json FILE]``. ``--until`` starts no run after that UTC time (the table then covers
the runs that were made).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.faults import scenarios  # noqa: E402
from tests.faults.cluster import PROGRAMS, FaultCluster, Periods  # noqa: E402
from tests.faults.netns import cleanup_stale, missing_tools  # noqa: E402
from tests.faults.scenarios import Outcome  # noqa: E402

NODES = 6
FAULT_PHASES = ("partition", "asymmetric", "down", "stopped", "slow", "loss", "up")


def scenario_table(partition_s: float) -> dict[str, Callable[[FaultCluster], Outcome]]:
    """Every scenario by name, with the partition length asked for."""
    table = dict(scenarios.SCENARIOS)
    table["partition"] = lambda c: scenarios.partition(c, seconds=partition_s)
    table["asymmetric"] = lambda c: scenarios.asymmetric(c, seconds=min(partition_s, 20.0))
    return table


def _requests(outcome: Outcome, during: bool) -> tuple[int, int]:
    """Forwarded requests (ok, failed) during the fault or from its end on."""
    ok = failed = 0
    for phase, (good, bad) in outcome.requests.items():
        in_fault = phase.startswith(FAULT_PHASES)
        if phase == "before" or in_fault != during:
            continue
        ok += good
        failed += bad
    return ok, failed


def _seconds(values: Sequence[float | None]) -> str:
    """``median / max`` of the heal times; ``n/a`` for runs that never converged."""
    done = [v for v in values if v is not None]
    missing = len(values) - len(done)
    if not done:
        return "never"
    text = f"{statistics.median(done):.1f} / {max(done):.1f}"
    return text + (f" ({missing} never)" if missing else "")


def table(results: dict[tuple[str, str], list[Outcome]]) -> str:
    """The fault table, as Markdown."""
    head = (
        "| scenario | impl | runs | heal s median / max | runs failing | wrongly declared "
        "| fwd ok / failed during fault | fwd ok / failed after |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for (name, program), outcomes in results.items():
        during = [_requests(o, True) for o in outcomes]
        after = [_requests(o, False) for o in outcomes]
        failing = sum(1 for o in outcomes if o.problems())
        title = (outcomes[0].scenario if outcomes else name).replace("|", "\\|")
        lines.append(
            f"| {title} | {program} | {len(outcomes)} "
            f"| {_seconds([o.heal_s for o in outcomes])} | {failing} "
            f"| {sum(len(o.wrong) for o in outcomes)} "
            f"| {sum(d[0] for d in during)} / {sum(d[1] for d in during)} "
            f"| {sum(a[0] for a in after)} / {sum(a[1] for a in after)} |"
        )
    return "\n".join(lines)


def machine() -> str:
    """One line about where this ran."""
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{platform.node()}, {os.cpu_count()} cores, {platform.platform()}, load {load}"


def _programs(wanted: Sequence[str]) -> list[str]:
    found = []
    for program in wanted:
        if program in ("node", "mixed") and shutil.which("node") is None:
            print("node is not installed: ringpop-node is skipped", flush=True)
            continue
        if program not in PROGRAMS:
            raise SystemExit(f"unknown program {program!r}; known: {', '.join(PROGRAMS)}")
        found.append(program)
    return found


def _until(text: str) -> float:
    """``HH:MM`` (UTC, today) as a ``time.time()`` value."""
    try:
        hour, minute = (int(part) for part in text.split(":"))
        when = datetime.now(UTC).replace(hour=hour, minute=minute, second=0, microsecond=0)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected HH:MM (UTC), got {text!r}") from error
    return when.timestamp()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the scenarios, print every run and the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--runs", type=int, default=10, help="runs of each partition scenario per program (10)"
    )
    parser.add_argument("--other-runs", type=int, default=3, help="runs of other scenarios (3)")
    parser.add_argument("--partition-s", type=float, default=30.0, help="partition length (30)")
    parser.add_argument("--quick", action="store_true", help="3 partition runs, 1 of the others")
    parser.add_argument(
        "--programs", default="python,node", help="python,node (mixed: both in one cluster)"
    )
    parser.add_argument("--scenarios", default=",".join(scenarios.SCENARIOS), help="names")
    parser.add_argument(
        "--until", type=_until, help="start no run after this UTC time, HH:MM (today)"
    )
    parser.add_argument("--json", type=Path, help="also write every outcome here")
    args = parser.parse_args(argv)
    reason = missing_tools()
    if reason is not None:
        print(f"bench/faults.py: {reason}", file=sys.stderr)
        return 2
    cleanup_stale()
    runs, other_runs = (3, 1) if args.quick else (args.runs, args.other_runs)
    programs = _programs(args.programs.split(","))
    every = scenario_table(args.partition_s)
    names = [n for n in args.scenarios.split(",") if n]
    unknown = [n for n in names if n not in every]
    if unknown:
        parser.error(f"unknown scenarios {unknown}; known: {', '.join(every)}")
    periods = Periods()
    print(f"# {machine()}", flush=True)
    print(f"# periods {' '.join(periods.flags())}, {NODES} nodes per cluster", flush=True)
    results: dict[tuple[str, str], list[Outcome]] = {}
    started = time.monotonic()
    skipped = 0
    for name in names:
        for i in range(runs if name.startswith("partition") else other_runs):
            for program in programs:
                if args.until is not None and time.time() >= args.until:
                    skipped += 1
                    continue
                with FaultCluster(NODES, program, periods) as cluster:
                    outcome = every[name](cluster)
                results.setdefault((name, program), []).append(outcome)
                problems = outcome.problems()
                print(
                    f"{name} run {i + 1} {program}: "
                    + ("ok" if not problems else "FAIL " + "; ".join(problems)),
                    flush=True,
                )
                print(outcome.report(), flush=True)
    print(f"\n# {time.monotonic() - started:.0f} s, {time.strftime('%Y-%m-%d %H:%M UTC')}")
    if skipped:
        print(f"# --until reached: {skipped} runs not started")
    print(table(results))
    if args.json is not None:
        args.json.write_text(
            json.dumps({f"{n}/{p}": [asdict(o) for o in v] for (n, p), v in results.items()})
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
