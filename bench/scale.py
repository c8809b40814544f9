"""Scale by simulation (issue 16): 100 to 10,000 ringpop nodes of the real code, in virtual time.

Every node is a full ``Ringpop`` built by the production constructor on the
in-memory network (``ringpop.testing.SimCluster``: 2 ms latency + up to 2 ms
jitter, seeded loss), under ``looptime``. Scenarios (``ringpop.testing.scenarios``):
cold start, one node killed, 1% killed at once, a rolling restart, a 50/50
partition healed after 60 s, 10% packet loss. Beside every measured figure, the
theory for it (``ringpop.testing.theory``) and the ratio measured/theory; per
scenario, messages and bytes per node per second, the largest message, CPU per
simulated node-second and what simulating cost (wall, CPU, RSS). The hash ring's
own size at N is measured on one ring with the default 100 points per server.

Run everything (docs/scale.md is written from its output)::

    .venv/bin/pip install -e '.[bench]'          # matplotlib, for the plots
    .venv/bin/python bench/scale.py --sizes 100,1000 --out docs/img/scale

``--quick`` (CI): 100 nodes, cold start and one kill, no plots. ``--json FILE``
keeps every figure; ``--plot-only FILE`` redraws the plots from it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import tracemalloc
from dataclasses import asdict
from pathlib import Path
from typing import Any

import looptime

REPO = Path(__file__).resolve().parent.parent
if str(REPO / "src") not in sys.path:
    sys.path.insert(0, str(REPO / "src"))

from ringpop.membership.dissemination import max_piggyback  # noqa: E402
from ringpop.ring import HashRing  # noqa: E402
from ringpop.testing.scenarios import (  # noqa: E402
    SCENARIOS,
    Outcome,
    run_forked,
    run_scenario,
    scale_options,
)
from ringpop.testing.summary import summarize  # noqa: E402
from ringpop.testing.theory import epidemic_time, sync_rounds  # noqa: E402

Result = dict[str, Any]


def run(
    name: str,
    size: int,
    seed: int,
    *,
    shortcut: bool = False,
    probes: int = 0,
    warm: bool = False,
    replica_points: int = 4,
) -> Outcome:
    """One scenario on a fresh looptime loop (time 0: the same seed replays exactly)."""
    options = scale_options(
        agreement_shortcut=shortcut, background_probes=probes, replica_points=replica_points
    )
    loop = looptime.new_event_loop(noop_cycles=1)
    try:
        return loop.run_until_complete(
            run_scenario(name, size, seed, options, warm=warm and name != "cold")
        )
    finally:
        loop.close()


def run_warm_forked(
    names: list[str],
    size: int,
    seed: int,
    *,
    shortcut: bool = False,
    probes: int = 0,
    replica_points: int = 4,
) -> list[Outcome]:
    """Warm scenarios from one settled cluster, each in a forked child (``--fork``)."""
    options = scale_options(
        agreement_shortcut=shortcut, background_probes=probes, replica_points=replica_points
    )
    loop = looptime.new_event_loop(noop_cycles=1)
    try:
        return loop.run_until_complete(run_forked(names, size, seed, options))
    finally:
        loop.close()


def ring_cost(size: int, points: int = 100) -> dict[str, float]:
    """One hash ring of ``size`` servers at ``points`` replica points: build time, memory."""
    addresses = [f"10.0.{i // 250}.{i % 250 + 1}:3000" for i in range(size)]
    tracemalloc.start()
    started = time.perf_counter()
    ring = HashRing(points)
    ring.add_remove_servers(addresses, [])
    built = time.perf_counter() - started
    memory, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert ring.server_count == size
    return {"build_s": built, "bytes": memory, "bytes_per_member": memory / size}


def membership_cost(size: int) -> dict[str, float]:
    """One node's membership state with ``size`` members: bytes per member.

    The member list (members, gossip order, incremental checksum), the cached full
    membership (join responses, full syncs) and one pending change per member (as
    right after a cold start, until each was piggybacked maxP times).
    """
    import random

    from ringpop.clock import ManualClock
    from ringpop.membership.dissemination import Disseminator
    from ringpop.membership.memberlist import MemberList
    from ringpop.messages import Change

    changes = [
        Change(
            address=f"10.1.{i // 250}.{i % 250 + 1}:3000",
            status="alive",
            incarnation_number=1_414_142_122_274 + i,
            source=f"10.1.{i // 250}.{i % 250 + 1}:3000",
            source_incarnation_number=1_414_142_122_274 + i,
        )
        for i in range(size)
    ]
    tracemalloc.start()
    members = MemberList("10.0.0.1:3000", clock=ManualClock(), rng=random.Random(1))
    applied = members.apply(changes)
    _ = members.checksum
    listed, _peak = tracemalloc.get_traced_memory()
    full = members.as_changes()
    cached, _peak = tracemalloc.get_traced_memory()
    pending = Disseminator(members)
    pending.record_applied(applied)
    total, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(full) == size + 1
    assert len(pending) == size
    return {
        "member_list_b": listed / size,
        "full_membership_cache_b": (cached - listed) / size,
        "pending_change_b": (total - cached) / size,
    }


def costs(sizes: list[int]) -> str:
    """Per-member memory of one real node (membership, ring) at each size, as a table."""
    lines = [
        "| N | member list B/member | cached full membership B/member "
        "| pending change B/member | ring (100 points) B/member | ring build s |",
        "|---|---|---|---|---|---|",
    ]
    for size in sizes:
        m = membership_cost(size)
        r = ring_cost(size)
        lines.append(
            f"| {size} | {m['member_list_b']:.0f} | {m['full_membership_cache_b']:.0f} "
            f"| {m['pending_change_b']:.0f} | {r['bytes_per_member']:.0f} | {r['build_s']:.2f} |"
        )
    return "\n".join(lines)


def fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value == 0:
            return "0"
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def table(results: list[Result]) -> str:
    """Markdown tables: one per scenario, a row per size and figure."""
    lines: list[str] = []
    for scenario in dict.fromkeys(r["scenario"] for r in results):
        rows = [r for r in results if r["scenario"] == scenario]
        lines += [f"### {scenario}", "", "| N | figure | measured | theory | ratio |"]
        lines.append("|---|---|---|---|---|")
        for r in rows:
            for key, value in r["figures"].items():
                theory = r["theory"].get(key)
                ratio = value / theory if value is not None and theory else None
                lines.append(
                    f"| {r['size']} | {key} | {fmt(value)} | {fmt(theory)} | {fmt(ratio)} |"
                )
        lines += ["", "| N | msgs/node/s | bytes/node/s | largest (endpoint) | CPU s/node-s |"]
        lines.append("|---|---|---|---|---|")
        for r in rows:
            for prefix, label in (("", ""), ("idle_", " (idle after)")):
                t = r["traffic"]
                if f"{prefix}msgs_per_node_s" not in t:
                    continue
                largest = f"{fmt(t[prefix + 'largest_bytes'])} ({t[prefix + 'largest_endpoint']})"
                lines.append(
                    f"| {r['size']}{label} | {fmt(t[prefix + 'msgs_per_node_s'])} "
                    f"| {fmt(t[prefix + 'bytes_per_node_s'])} | {largest} "
                    f"| {fmt(t[prefix + 'cpu_per_node_s'])} |"
                )
        lines += ["", "| N | wall s | CPU s | RSS MiB |", "|---|---|---|---|"]
        for r in rows:
            c = r["cost"]
            lines.append(
                f"| {r['size']} | {fmt(c['wall_s'])} | {fmt(c['cpu_s'])} | {fmt(c['rss_mib'])} |"
            )
        lines.append("")
    return "\n".join(lines)


def seeds_table(results: list[Result]) -> str:
    """Across seeds, per scenario, size and figure: the mean, the range, the theory
    and mean/theory (a theory is an expected value; one seed is one draw of it)."""
    lines = [
        "| scenario | N | figure | seeds | mean | low - high | theory | mean/theory "
        "| highest seed/theory |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in summarize(results):
        lines.append(
            f"| {row.scenario} | {row.size} | {row.figure} | {row.seeds} | {fmt(row.mean)} "
            f"| {fmt(row.low)} - {fmt(row.high)} | {fmt(row.theory)} "
            f"| {fmt(row.ratio)} | {fmt(row.worst)} |"
        )
    return "\n".join(lines)


def compare(before: list[Result], after: list[Result]) -> str:
    """Before/after a fix: every figure with a theory, bytes and CPU per node-second."""
    lines = [
        "| scenario | N | figure | theory | before | ratio | after | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    old = {(r["scenario"], r["size"]): r for r in before}
    for new in after:
        ref = old.get((new["scenario"], new["size"]))
        if ref is None:
            continue
        label = f"| {new['scenario']} | {new['size']} "
        for key, theory in new["theory"].items():
            b, a = ref["figures"].get(key), new["figures"].get(key)
            rb = b / theory if b is not None and theory else None
            ra = a / theory if a is not None and theory else None
            lines.append(
                f"{label}| {key} | {fmt(theory)} | {fmt(b)} | {fmt(rb)} | {fmt(a)} | {fmt(ra)} |"
            )
        for key in ("bytes_per_node_s", "largest_bytes", "cpu_per_node_s"):
            b, a = ref["traffic"][key], new["traffic"][key]
            lines.append(f"{label}| {key} | - | {fmt(b)} | | {fmt(a)} | |")
        lines.append(
            f"{label}| simulation CPU s | - | {fmt(ref['cost']['cpu_s'])} | "
            f"| {fmt(new['cost']['cpu_s'])} | |"
        )
    return "\n".join(lines)


def plot(results: list[Result], out: Path) -> list[Path]:
    """Convergence curves per scenario and size; per-node bytes/s against N."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing (pip install -e '.[bench]'): no plots", file=sys.stderr)
        return []
    out.parent.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    scenarios = list(dict.fromkeys(r["scenario"] for r in results))
    cols = min(3, len(scenarios))
    rows = math.ceil(len(scenarios) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    for ax, scenario in zip(axes.flat, scenarios, strict=False):
        for r in (r for r in results if r["scenario"] == scenario):
            for label, times in r["curves"].items():
                if not times:
                    continue
                n = len(times)
                ax.step(
                    [0.0, *times],
                    [0.0, *((i + 1) / n for i in range(n))],
                    where="post",
                    label=f"N={r['size']}: {label}",
                )
            if "suspect_spread" in r["theory"] and r["curves"].get("suspect"):
                start = r["curves"]["suspect"][0]
                ax.axvline(start + r["theory"]["suspect_spread"], ls=":", lw=0.8, color="grey")
        ax.set_title(scenario)
        ax.set_xlabel("seconds after the event")
        ax.set_ylabel("fraction of nodes")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(scenarios) :]:
        ax.axis("off")
    fig.tight_layout()
    path = out.with_name(out.name + "-convergence.png")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    written.append(path)

    fig, ax = plt.subplots(figsize=(6, 4))
    for scenario in scenarios:
        rows_ = sorted((r for r in results if r["scenario"] == scenario), key=lambda r: r["size"])
        sizes = [r["size"] for r in rows_]
        ax.plot(sizes, [r["traffic"]["bytes_per_node_s"] for r in rows_], "o-", label=scenario)
    idle = sorted(
        (r for r in results if "idle_bytes_per_node_s" in r["traffic"]), key=lambda r: r["size"]
    )
    if idle:
        ax.plot(
            [r["size"] for r in idle],
            [r["traffic"]["idle_bytes_per_node_s"] for r in idle],
            "k--",
            label="idle (steady state)",
        )
    cold = sorted((r for r in results if r["scenario"] == "cold start"), key=lambda r: r["size"])
    if len(cold) > 1:  # n maxP(n) through the smallest cold start: the protocol's growth
        n0, b0 = cold[0]["size"], cold[0]["traffic"]["bytes_per_node_s"]
        sizes = [r["size"] for r in cold]
        ax.plot(
            sizes,
            [b0 * n * max_piggyback(n) / (n0 * max_piggyback(n0)) for n in sizes],
            ":",
            color="grey",
            label="n maxP(n), through the first cold start",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("N (nodes)")
    ax.set_ylabel("payload bytes sent per node per second")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = out.with_name(out.name + "-bytes.png")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100,1000", help="comma-separated cluster sizes")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--seeds", default=None, help="comma-separated seeds (overrides --seed): means, ranges"
    )
    parser.add_argument("--out", type=Path, default=None, help="plot prefix, e.g. docs/img/scale")
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    parser.add_argument(
        "--plot-only", type=Path, nargs="+", default=None, help="redraw from --json files"
    )
    parser.add_argument("--quick", action="store_true", help="CI: 100 nodes, cold + kill")
    parser.add_argument(
        "--compare", nargs=2, metavar=("BEFORE", "AFTER"), help="two --json files: a table"
    )
    parser.add_argument(
        "--costs-only", action="store_true", help="one node's memory per member at --sizes"
    )
    parser.add_argument("--shortcut", action="store_true", help="Options(agreement_shortcut=True)")
    parser.add_argument(
        "--background-probes", type=int, default=0, help="Options(background_probes=N)"
    )
    parser.add_argument(
        "--warm",
        action="store_true",
        help="start every scenario but the cold start from the converged state",
    )
    parser.add_argument(
        "--fork",
        action="store_true",
        help="with --warm: settle one cluster per size, run each scenario in a forked copy",
    )
    parser.add_argument(
        "--replica-points", type=int, default=4, help="hash ring points per server (default 4)"
    )
    parser.add_argument(
        "--no-ring-cost", action="store_true", help="skip measuring one 100-point ring per size"
    )
    args = parser.parse_args()
    if args.compare is not None:
        before, after = (json.loads(Path(p).read_text())["results"] for p in args.compare)
        print(compare(before, after))
        return
    if args.costs_only:
        print(costs([int(s) for s in args.sizes.split(",")]))
        return
    if args.plot_only is not None:
        saved = [r for path in args.plot_only for r in json.loads(path.read_text())["results"]]
        if args.out is not None:
            print("\n".join(str(p) for p in plot(saved, args.out)))
        print(table(saved))
        if len({r["seed"] for r in saved}) > 1:
            print(seeds_table(saved))
        return
    sizes = [100] if args.quick else [int(s) for s in args.sizes.split(",")]
    names = ["cold", "kill"] if args.quick else args.scenarios.split(",")
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios {unknown}; known: {', '.join(SCENARIOS)}")
    seeds = [args.seed] if args.seeds is None else [int(s) for s in args.seeds.split(",")]
    if args.fork and len(seeds) > 1:
        parser.error("--fork settles one cluster: one seed")
    period = scale_options().min_protocol_period
    results: list[Result] = []
    rings: dict[int, dict[str, float]] = {}
    for size in sizes:
        ring_text = ""
        if not args.no_ring_cost:
            rings[size] = ring_cost(size)
            ring_text = (
                f"; one ring of 100 points/server: {rings[size]['bytes'] / 2**20:.1f} MiB, "
                f"built in {rings[size]['build_s']:.2f} s"
            )
        print(
            f"N={size}: epidemic {epidemic_time(size, period):.2f} s "
            f"(log3 N = {sync_rounds(size):.1f} rounds){ring_text}",
            flush=True,
        )
        if args.fork:
            if not args.warm or "cold" in names:
                parser.error("--fork needs --warm and no cold start")
            forked = iter(
                run_warm_forked(
                    names,
                    size,
                    args.seed,
                    shortcut=args.shortcut,
                    probes=args.background_probes,
                    replica_points=args.replica_points,
                )
            )
        for name, seed in ((n, s) for n in names for s in seeds):
            if args.fork:
                outcome = next(forked)
            else:
                outcome = run(
                    name,
                    size,
                    seed,
                    shortcut=args.shortcut,
                    probes=args.background_probes,
                    warm=args.warm,
                    replica_points=args.replica_points,
                )
            results.append(asdict(outcome))
            if args.json is not None:  # after every scenario: a long run keeps what it has
                args.json.parent.mkdir(parents=True, exist_ok=True)
                args.json.write_text(json.dumps({"results": results, "rings": rings}, indent=1))
            worst = max(
                ((k, outcome.ratio(k)) for k in outcome.theory),
                key=lambda kv: kv[1] or 0.0,
                default=("-", None),
            )
            settle = ""
            if "settle_cpu_s" in outcome.cost:
                settle = f" (settling {outcome.cost['settle_cpu_s']:.0f} s CPU)"
            print(
                f"  {outcome.scenario:16} seed {seed:<3} {outcome.cost['wall_s']:7.1f} s wall "
                f"{outcome.cost['cpu_s']:7.1f} s CPU{settle} "
                f"{outcome.cost['rss_mib']:6.0f} MiB  worst ratio {worst[0]} {fmt(worst[1])}",
                flush=True,
            )
    if args.out is not None and not args.quick:
        for path in plot(results, args.out):
            print(f"wrote {path}")
    print()
    print(table(results))
    if len(seeds) > 1:
        print(seeds_table(results))


if __name__ == "__main__":
    main()
