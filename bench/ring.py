"""Hash ring benchmark (issue 2): lookups/s, add/remove/build times, lookup_many.

Baseline, run side by side: ``uhashring`` configured with FarmHash Fingerprint32 and
100 vnodes per node on the same 10 servers. Key hashing is included in every
lookup figure. Run: ``.venv/bin/python bench/ring.py [--quick]``.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from functools import partial

from farmhash import Fingerprint32
from uhashring import HashRing as UHashRing

from ringpop.ring import HashRing


def servers(n: int) -> list[str]:
    return [f"10.{i // 250}.{i % 250}.1:3000" for i in range(n)]


def rate(fn: Callable[[str], object], keys: list[str], rounds: int) -> float:
    """Best-of-``rounds`` calls per second of ``fn`` over ``keys``."""
    best = 0.0
    for _ in range(rounds):
        gc.disable()
        start = time.perf_counter()
        for key in keys:
            fn(key)
        elapsed = time.perf_counter() - start
        gc.enable()
        best = max(best, len(keys) / elapsed)
    return best


def timed_ms(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer keys and rounds")
    args = parser.parse_args()
    n_keys = 100_000 if args.quick else 500_000
    rounds = 2 if args.quick else 5
    keys = [f"user-{i}" for i in range(n_keys)]

    print(f"ringpop hash ring benchmark ({n_keys} keys, best of {rounds}, hashing included)")
    results: dict[int, float] = {}
    for count in (10, 100, 1000):
        ring = HashRing()
        ring.add_remove_servers(servers(count), [])
        results[count] = rate(ring.lookup, keys, rounds)
        print(f"  lookup, {count:>4} servers: {results[count] / 1e6:6.2f} M lookups/s")

    ring = HashRing()
    build_ms = min(
        timed_ms(lambda: HashRing().add_remove_servers(servers(1000), [])) for _ in range(3)
    )
    ring.add_remove_servers(servers(1000), [])
    adds, removes = [], []
    for i in range(100):
        extra = f"10.200.{i}.9:4000"
        adds.append(timed_ms(partial(ring.add_server, extra)))
        removes.append(timed_ms(partial(ring.remove_server, extra)))
    print(f"  build 1000 servers (100 000 points): {build_ms:6.2f} ms")
    print(
        f"  add one server at 1000:    median {statistics.median(adds):5.2f} ms,"
        f" max {max(adds):5.2f} ms"
    )
    print(
        f"  remove one server at 1000: median {statistics.median(removes):5.2f} ms,"
        f" max {max(removes):5.2f} ms"
    )

    try:
        import numpy  # noqa: F401
    except ImportError:
        print("  lookup_many: numpy not installed (pip install 'ringpop[numpy]')")
    else:
        many = [f"bulk-{i}" for i in range(1_000_000)]
        ring.lookup_many(many[:10])  # build the numpy view outside the timing
        best = min(timed_ms(lambda: ring.lookup_many(many)) for _ in range(3))
        print(f"  lookup_many, 1M keys at 1000 servers: {1e3 / best:6.2f} M keys/s")

    baseline = UHashRing(
        nodes={s: {"vnodes": 100} for s in servers(10)},
        hash_fn=lambda key: Fingerprint32(key),
    )
    base = rate(baseline.get_node, keys, rounds)
    print(f"  baseline uhashring (Fingerprint32, 100 vnodes), 10 servers: {base / 1e6:6.2f} M/s")
    print(f"  ratio ringpop / uhashring at 10 servers: {results[10] / base:5.2f}x")


if __name__ == "__main__":
    main()
