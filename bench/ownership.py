"""Ownership diff benchmark: incremental diff vs brute-force recomputation.

For rings of 100 and 1000 servers (100 points each) and n = 1 and 3, one server
joins (or leaves): time :class:`OwnershipTracker.apply` (what the facade runs on
every ring change) and :func:`diff_by_recomputation` (two full maps compared), and
check they agree; then one node's ``owned_ranges`` against the full map.
Run: ``.venv/bin/python bench/ownership.py [--quick]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from ringpop.ring import HashRing, RingChange
from ringpop.ring.ownership import (
    OwnershipDiff,
    OwnershipTracker,
    diff_by_recomputation,
    owned_ranges,
    preference_ranges,
)


def servers(count: int) -> list[str]:
    return [f"10.{i // 250}.{i % 250}.1:3000" for i in range(count)]


def best(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def case(count: int, n: int, join: bool, rounds: int) -> None:
    names = servers(count + 1)
    old, new = HashRing(), HashRing()
    old.add_remove_servers(names[:count] if join else names, [])
    new.add_remove_servers(names if join else names[:count], [])
    moving = names[count]
    tracked = HashRing()
    tracked.add_remove_servers(names[:count] if join else names, [])
    tracker = OwnershipTracker(tracked)
    changes: list[RingChange] = []
    tracked.add_listener(changes.append)
    if join:
        tracked.add_server(moving)
    else:
        tracked.remove_server(moving)
    change = changes[-1]
    result: list[OwnershipDiff] = []

    def incremental() -> None:
        tracker._points = dict(old._points)  # rewind the tracker to the old ring
        result.append(tracker.apply(change, n))

    fast = best(incremental, rounds)
    slow = best(lambda: result.append(diff_by_recomputation(old, new, n)), max(1, rounds // 5))
    assert result[0] == result[-1], "incremental and brute-force diffs differ"
    verb = "joins" if join else "leaves"
    print(
        f"{count:5d} servers, n={n}, one {verb}: incremental {fast * 1e3:8.2f} ms, "
        f"brute force {slow * 1e3:9.1f} ms, x{slow / fast:7.0f}, "
        f"{len(result[0].changes)} ranges changed"
    )


def owned(count: int, n: int, rounds: int) -> None:
    ring = HashRing()
    ring.add_remove_servers(servers(count), [])
    node = servers(count)[0]
    fast = best(lambda: owned_ranges(ring, node, n), rounds)
    slow = best(lambda: preference_ranges(ring, n), max(1, rounds // 5))
    print(
        f"{count:5d} servers, n={n}, one node's owned_ranges: {fast * 1e3:6.2f} ms "
        f"(full map {slow * 1e3:7.1f} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 servers only, one round")
    args = parser.parse_args()
    sizes = [100] if args.quick else [100, 1000]
    rounds = 1 if args.quick else 20
    for count in sizes:
        for n in (1, 3):
            for join in (True, False):
                case(count, n, join, rounds)
            owned(count, n, rounds)


if __name__ == "__main__":
    main()
