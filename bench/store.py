"""MemoryStore benchmark: blocks of 8192 records against one flat block, side by side.

For stores of ``--sizes`` keys (filled in one bulk apply), each layout runs: ``--ops``
puts of new keys (random places in the ring), as many updates of existing keys,
``get`` of existing keys, and a scan of the whole ring by packed pages of 8192. The
baseline is ``MemoryStore(segment=size)``: one block holding everything, which is the
earlier layout (a single set of columns: a new key moves half the store). Garbage
collection stays on (a block split creates lists the collector then visits).
Run: ``.venv/bin/python bench/store.py [--sizes 100000,1000000] [--ops 2000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from ringpop.ring.ownership import HASH_SPACE, Range
from ringpop.state.hlc import Version
from ringpop.state.memory import MemoryStore
from ringpop.state.store import Columns, Record

VALUE = b"x" * 100


async def measure(size: int, segment: int, ops: int) -> dict[str, float]:
    """Microseconds per operation (per record for the scan) of one layout."""
    store = MemoryStore(segment=segment)
    keys = [f"key-{i}" for i in range(size)]
    await store.put_many_if_newer(
        Columns(keys, [VALUE] * size, [1] * size, [0] * size, ["a"] * size)
    )
    figures: dict[str, float] = {}

    async def timed(name: str, records: list[Record]) -> None:
        start = time.perf_counter()
        for record in records:
            await store.put(record)
        figures[name] = (time.perf_counter() - start) / len(records) * 1e6

    await timed("put new key", [Record(f"new-{i}", VALUE, Version(2, 0, "a")) for i in range(ops)])
    step = max(1, size // ops)
    await timed(
        "update", [Record(keys[i], VALUE, Version(3, 0, "b")) for i in range(0, size, step)]
    )
    start = time.perf_counter()
    for i in range(0, size, step):
        await store.get(keys[i])
    figures["get"] = (time.perf_counter() - start) / len(range(0, size, step)) * 1e6
    start, cursor, seen = time.perf_counter(), None, 0
    everything = Range(0, HASH_SPACE)
    for _ in range(size // 8192 + 2):  # bounded: one page per 8192 records
        page = await store.scan_packed(everything, cursor, 8192)
        seen += len(page)
        cursor = page.cursor
        if cursor is None:
            break
    assert seen == len(store), (seen, len(store))
    figures["scan (per record)"] = (time.perf_counter() - start) / seen * 1e6
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000,3000000")
    parser.add_argument("--ops", type=int, default=2000)
    args = parser.parse_args()
    print(f"{'keys':>9} {'operation':<18} {'flat (µs)':>10} {'blocks (µs)':>12} {'ratio':>7}")
    for size in map(int, args.sizes.split(",")):
        flat = asyncio.run(measure(size, max(2, size * 2), args.ops))
        blocks = asyncio.run(measure(size, 8192, args.ops))
        for name in flat:
            ratio = flat[name] / blocks[name] if blocks[name] else float("inf")
            print(f"{size:>9} {name:<18} {flat[name]:>10.3f} {blocks[name]:>12.3f} {ratio:>6.1f}x")


if __name__ == "__main__":
    main()
