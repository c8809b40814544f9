"""No acknowledged write lost, long form: kv processes, a writer, minutes of faults.

The short form is ``tests/cluster/test_kv_no_lost_writes.py``. Here: 5 kv nodes
(plus spares), a writer with ``--workers`` tasks writing unique keys and updates as
fast as they can, and ``--rounds`` rounds of faults, each: kill -9 a random node,
restart it; a spare joins; a random node leaves gracefully (SIGTERM) and becomes a
spare; two nodes killed at once (N=3, W=2: one copy of a fresh write may be left)
and restarted. After quiescence every acknowledged key is read through every
running node. Run: ``.venv/bin/python bench/kv_chaos.py [--rounds 3] [--store sqlite]``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.cluster.kvchaos import KvCluster, KvNode, Writer, quiesce, summary, verify  # noqa: E402


async def wait_ready(node: KvNode, previous: int, timeout: float = 60.0) -> None:
    """Until ``node`` printed ``ready`` more than ``previous`` times."""
    for _ in range(int(timeout / 0.05)):
        if node.log_tail(10_000_000).count("ready ") > previous:
            return
        if not node.running():
            raise SystemExit(f"{node.address} exited:\n{node.log_tail()}")
        await asyncio.sleep(0.05)
    raise SystemExit(f"{node.address} not ready:\n{node.log_tail()}")


async def restart(node: KvNode) -> None:
    seen = node.log_tail(10_000_000).count("ready ")
    node.start()
    await wait_ready(node, seen)


async def chaos(args: argparse.Namespace, workdir: Path) -> int:
    rng = random.Random(args.seed)
    extra = (
        f"--store={args.store}",
        "--handoff-grace=5",
        "--anti-entropy-interval=3",
    )
    cluster = KvCluster(workdir, 5, spare=2, extra=extra)
    began = time.monotonic()

    def log(text: str) -> None:
        print(f"{time.monotonic() - began:7.1f} s  {text}", flush=True)

    try:
        cluster.start()
        for node in cluster.nodes[:5]:
            await wait_ready(node, 0)
        spares = list(cluster.nodes[5:])
        timeout = aiohttp.ClientTimeout(total=5)
        connector = aiohttp.TCPConnector(limit=128)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            writer = Writer(cluster, workers=args.workers, seed=args.seed)
            writing = asyncio.ensure_future(writer.run(session))
            phase = args.phase
            for round_ in range(args.rounds):
                await asyncio.sleep(phase)
                victim = rng.choice(cluster.running())
                log(f"round {round_ + 1}: kill -9 {victim.address}")
                victim.kill()
                await asyncio.sleep(phase)
                log(f"restart {victim.address}")
                await restart(victim)
                await asyncio.sleep(phase)
                joiner = spares.pop(0)
                log(f"join {joiner.address}")
                await restart(joiner)
                await asyncio.sleep(phase)
                leaver = rng.choice(cluster.running())
                log(f"leave {leaver.address} (SIGTERM)")
                leaver.terminate()
                spares.append(leaver)
                await asyncio.sleep(phase)
                pair = rng.sample(cluster.running(), 2)
                log(f"kill -9 {pair[0].address} and {pair[1].address}")
                for node in pair:
                    node.kill()
                await asyncio.sleep(phase)
                for node in pair:
                    log(f"restart {node.address}")
                    await restart(node)
                log(f"writes so far: {writer.counts}")
            await asyncio.sleep(phase)
            writer.stop()
            await asyncio.wait_for(writing, 60)
            log(f"writer stopped: {writer.counts}; waiting for quiescence")
            states = await quiesce(cluster, timeout=120, settle=2 * 3.0)
            log(summary(states))
            verdict = await verify(session, cluster, writer, concurrency=32)
        log(
            f"writes acknowledged {writer.counts['ok']} (failed {writer.counts['failed']}); "
            f"keys acknowledged {verdict.acknowledged}, verified on all "
            f"{len(cluster.running())} nodes {verdict.verified}, lost {len(verdict.lost)} "
            f"({verdict.reads} reads)"
        )
        for key, via, got in verdict.lost[:20]:
            log(f"LOST {key} via {via}: {got} (acked {writer.acked[key]!r})")
        return 1 if verdict.lost else 0
    finally:
        cluster.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--phase", type=float, default=6.0, help="seconds between faults")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--store", choices=("sqlite", "memory"), default="sqlite")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ringpop-kv-chaos-") as tmp:
        return asyncio.run(chaos(args, Path(tmp)))


if __name__ == "__main__":
    sys.exit(main())
