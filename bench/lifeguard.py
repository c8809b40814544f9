"""Lifeguard off vs on: false suspicions and false faulty declarations per minute.

Ten SwimNodes on the in-memory network (``tests/sim/cluster.py``: the real protocol
handlers, 2-4 ms links) in **real time** on one asyncio loop. One node stalls:
every ``--every-ms`` it is frozen for ``--stall-ms`` (memnet pause: nothing it
receives is handled and nothing it sends leaves until it resumes). Nothing is
down, so every suspicion and every faulty declaration is false. Both modes run
with the same cluster (same seed, same addresses), the same stall and the same
tight timeouts (with the defaults, a 1.5 s ping timeout, a 300 ms stall is not
noticed at all); Lifeguard's minimum suspicion timeout is set equal to the
``suspect_period`` used when it is off.

    .venv/bin/python bench/lifeguard.py [--seconds 60] [--seeds 1 2]

Counts are accepted membership updates summed over all observers ("suspect" =
an observer accepted a member as suspect), split into the stalled node and the
nine healthy ones, divided by the run's minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.sim.cluster import SimCluster  # noqa: E402

from ringpop.options import Options  # noqa: E402

TIGHT = Options(ping_timeout=0.1, ping_req_timeout=0.25, suspect_period=0.5)
LIFEGUARD = TIGHT.replace(lifeguard_enabled=True, lifeguard_suspicion_mult=2.5)
KEYS = ("suspect_healthy", "faulty_healthy", "suspect_stalled", "faulty_stalled")


async def run(
    options: Options, seed: int, seconds: float, stall: float, every: float
) -> dict[str, float]:
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
    events = [e for e in cluster.events if e.time >= started]
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


async def bench(args: argparse.Namespace) -> None:
    stall, every = args.stall_ms / 1000, args.every_ms / 1000
    header = f"{'seed':>4} {'lifeguard':>9} " + " ".join(f"{k + '/min':>20}" for k in KEYS)
    print(
        f"10 nodes, one stalled {args.stall_ms} ms every {args.every_ms} ms, "
        f"{args.seconds:g} s per run (real time)"
    )
    print(header + f" {'stalled LHM peak':>17}")
    totals: dict[str, dict[str, float]] = {
        "off": dict.fromkeys(KEYS, 0.0),
        "on": dict.fromkeys(KEYS, 0.0),
    }
    for seed in args.seeds:
        for name, options in (("off", TIGHT), ("on", LIFEGUARD)):
            figures = await run(options, seed, args.seconds, stall, every)
            for key in KEYS:
                totals[name][key] += figures[key] / len(args.seeds)
            row = " ".join(f"{figures[k]:>20.1f}" for k in KEYS)
            print(f"{seed:>4} {name:>9} {row} {figures['lhm_peak']:>17.0f}", flush=True)
    for name in ("off", "on"):
        row = " ".join(f"{totals[name][k]:>20.1f}" for k in KEYS)
        print(f"{'mean':>4} {name:>9} {row}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--stall-ms", type=int, default=300)
    parser.add_argument("--every-ms", type=int, default=1000)
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
