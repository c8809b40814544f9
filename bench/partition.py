"""Silent 3|3 split of six in-process nodes on real TCP, healed (issue 18).

Each run starts a fresh cluster (``tests/cluster/partition.py``: every node behind a
relay that can go silent without closing anything), splits it 3|3 for ``--split``
seconds and then until each side has given the other up (as a 30 s split does with
the default periods) plus 3 s, heals it, and reports:

* ``wrong``: members of an observer's own side it declared faulty/tombstone or
  evicted (all reachable the whole time; should be 0);
* ``heal``: seconds from the network healing to one checksum with every member
  alive (issue 18's target: < 5 s in every run);
* ``stale``: connections aborted as stale; ``fast``: fast heals started.

Configurations: ``fixed`` (the defaults), ``no-stale`` (stale-connection rule off),
``no-fast-heal`` (only the periodic healer), ``neither``. Run:
``.venv/bin/python bench/partition.py --runs 5 --config fixed``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.cluster.partition import PartitionCluster, SplitOutcome  # noqa: E402

from ringpop.options import Options  # noqa: E402

CONFIGS: dict[str, dict[str, Any]] = {
    "fixed": {},
    "no-stale": {"stale_period": 1e9},
    "no-fast-heal": {"fast_heal_enabled": False},
    "neither": {"stale_period": 1e9, "fast_heal_enabled": False},
}


async def one_run(options: Options, split: float, settle: float) -> SplitOutcome:
    cluster = PartitionCluster(6, options)
    try:
        await cluster.start()
        return await cluster.split_and_heal(
            [(0, 1, 2), (3, 4, 5)], duration=split, until_given_up=30.0, settle=settle
        )
    finally:
        await cluster.close()


async def main(args: argparse.Namespace) -> None:
    base = Options(
        suspect_period=args.suspect_period,
        faulty_period=args.faulty_period,
        tombstone_period=args.tombstone_period,
    )
    options = base.replace(**CONFIGS[args.config])
    heals: list[float] = []
    wrong_runs = 0
    print(f"config {args.config}: {args.runs} runs, split >= {args.split:g} s")
    for run in range(args.runs):
        outcome = await one_run(options, args.split, args.settle)
        if outcome.wrong:
            wrong_runs += 1
        heal = outcome.converged_after
        if heal is not None:
            heals.append(heal)
        shown = "never" if heal is None else f"{heal:.2f} s"
        print(
            f"run {run + 1}: wrong {len(outcome.wrong)}, heal {shown}, "
            f"stale {outcome.stale_closed}, fast {outcome.fast_heals}",
            flush=True,
        )
    if heals:
        print(
            f"summary {args.config}: wrong in {wrong_runs}/{args.runs} runs; heal median "
            f"{statistics.median(heals):.2f} s, max {max(heals):.2f} s, "
            f"{len(heals)}/{args.runs} converged within {args.settle:g} s"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--config", choices=sorted(CONFIGS), default="fixed")
    parser.add_argument("--split", type=float, default=8.0, help="minimum split (s)")
    parser.add_argument("--settle", type=float, default=40.0, help="wait for a heal (s)")
    parser.add_argument("--suspect-period", type=float, default=3.0)
    parser.add_argument("--faulty-period", type=float, default=3.0)
    parser.add_argument("--tombstone-period", type=float, default=60.0)
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(main(parser.parse_args()))
