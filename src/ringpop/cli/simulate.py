"""``ringpop simulate``: a cluster of full nodes in virtual time, held to SWIM's theory.

Runs one scale scenario (:mod:`ringpop.testing.scenarios`: cold start, one kill,
1% killed, rolling restart, partition, 10% loss) on ``--nodes`` nodes of the real
code, on the in-memory network under ``looptime``'s virtual clock, once per seed,
and prints each figure's mean and range over the seeds beside its theory, then the
traffic per node. The same seed gives the same figures. ``bench/scale.py`` runs the
full matrix and draws the plots (docs/scale.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ringpop.cli.argtypes import small_count

__all__ = ["build_parser", "main"]

PROG = "ringpop simulate"
SCENARIO_NAMES = ("cold", "kill", "kill1pct", "restart", "partition", "loss")
"""``ringpop.testing.scenarios.SCENARIOS``' names, spelled out: the module loads the
simulator only when a scenario runs (a test keeps the two equal)."""
MAX_NODES = 20_000


def _replica_points(text: str) -> int:
    """1..64 points a server (0 made a ring of no points: a traceback)."""
    value = small_count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number in 1..64, not {text}")
    return value


def _nodes(text: str) -> int:
    if not text.isdigit() or not 2 <= int(text) <= MAX_NODES:
        raise argparse.ArgumentTypeError(f"must be a whole number in 2..{MAX_NODES}, not {text}")
    return int(text)


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        seeds = []
    if not seeds or len(set(seeds)) != len(seeds) or len(seeds) > 100:
        raise argparse.ArgumentTypeError(
            f"must be up to 100 distinct whole numbers separated by commas, not {text!r}"
        )
    return seeds


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``ringpop simulate``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Simulate a ringpop cluster of full nodes in virtual time and compare "
        "what it does with SWIM's theory. Scenarios: cold (all nodes bootstrap at once), "
        "kill (one node dies), kill1pct (1% die at once), restart (rolling restart in 1% "
        "batches), partition (50/50 for 60 s, then healed), loss (10% of messages lost, "
        "one node dies).",
    )
    parser.add_argument("--nodes", type=_nodes, default=100, help="cluster size (100)")
    parser.add_argument(
        "--scenario", choices=SCENARIO_NAMES, default="kill", help="what happens (kill)"
    )
    parser.add_argument(
        "--seeds", type=_seeds, default=[1], help="comma-separated seeds, one run each (1)"
    )
    parser.add_argument(
        "--warm",
        action="store_true",
        help="start from the converged cluster instead of a cold start of every node "
        "(much cheaper at thousands of nodes; not for the cold scenario)",
    )
    parser.add_argument(
        "--replica-points",
        type=_replica_points,
        default=4,
        help="hash ring points per server (4: the ring never feeds back into membership)",
    )
    parser.add_argument(
        "--background-probes",
        type=small_count,
        default=0,
        help="Options(background_probes=N): keep gossiping while probes fail (opt-in)",
    )
    parser.add_argument(
        "--shortcut", action="store_true", help="Options(agreement_shortcut=True) (opt-in)"
    )
    parser.add_argument("--json", type=Path, default=None, help="write every outcome here")
    return parser


def _figures_table(outcomes: list[dict[str, Any]]) -> Table:
    from ringpop.testing.summary import summarize

    table = Table(
        title="figures, seconds unless named",
        caption="ratio: mean / theory; worst: the highest seed / theory",
        title_justify="left",
        caption_justify="left",
    )
    table.add_column("figure", no_wrap=True)
    for column in ("seeds", "mean", "range", "theory", "ratio", "worst"):
        table.add_column(column, justify="right", no_wrap=True)
    for row in summarize(outcomes):
        table.add_row(
            row.figure,
            str(row.seeds),
            f"{row.mean:.3g}",
            f"{row.low:.3g}-{row.high:.3g}",
            f"{row.theory:.3g}",
            f"{row.ratio:.2f}x",
            f"{row.worst:.2f}x",
        )
    return table


def _traffic_table(outcomes: list[dict[str, Any]]) -> Table:
    table = Table(title="traffic per node, per seed", title_justify="left")
    for column in ("seed", "msgs/s", "bytes/s", "largest message", "CPU ms/node-s", "CPU s"):
        table.add_column(column, justify="right")
    for outcome in outcomes:
        traffic, cost = outcome["traffic"], outcome["cost"]
        table.add_row(
            str(outcome["seed"]),
            f"{traffic.get('msgs_per_node_s', 0.0):.3g}",
            f"{traffic.get('bytes_per_node_s', 0.0):,.0f}",
            f"{traffic.get('largest_bytes', 0.0):,.0f} B ({traffic.get('largest_endpoint', '-')})",
            f"{traffic.get('cpu_per_node_s', 0.0) * 1000:.3g}",
            f"{cost.get('cpu_s', 0.0):.1f}",
        )
    return table


def main(argv: Sequence[str] | None = None) -> int:
    """Run the scenario once per seed; print the figures against theory."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.warm and args.scenario == "cold":
        parser.error("--warm: the cold scenario starts cold by definition")
    try:
        import looptime
    except ImportError:
        print(
            f"{PROG}: needs looptime for virtual time: pip install 'ringpop[sim]'",
            file=sys.stderr,
        )
        return 1
    from ringpop.testing.scenarios import run_scenario, scale_options

    options = scale_options(
        replica_points=args.replica_points,
        background_probes=args.background_probes,
        agreement_shortcut=args.shortcut,
    )
    console = Console()
    outcomes: list[dict[str, Any]] = []
    for seed in args.seeds:
        loop = looptime.new_event_loop(noop_cycles=1)
        try:
            outcome = loop.run_until_complete(
                run_scenario(args.scenario, args.nodes, seed, options, warm=args.warm)
            )
        finally:
            loop.close()
        outcomes.append(asdict(outcome))
        console.print(
            f"{outcome.scenario}, {args.nodes} nodes, seed {seed}: "
            f"{outcome.cost['cpu_s']:.1f} s of CPU, {outcome.cost['rss_mib']:.0f} MiB"
        )
        if args.json is not None:  # after every seed: a long run keeps what it has
            args.json.write_text(json.dumps({"results": outcomes}, indent=1))
    console.print(_figures_table(outcomes))
    console.print(_traffic_table(outcomes))
    return 0
