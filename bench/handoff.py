"""Handoff benchmark: a node joins and pulls its share of ``--keys`` keys of 100 B.

For each configuration of ``--configs`` (``source-puller`` stores, ``memory`` or
``sqlite``; a ``handed`` source is a MemoryStore filled by ``/3`` handoff pages, so
its blocks keep their blobs: the second hop of a rebalance), two fresh processes on
127.0.0.1: a *source* node holding every key, alone in its ring (``n = 1``), and a
*puller* that joins it and pulls the ranges it gains through
:class:`~ringpop.state.handoff.RangeHandoff` (``/state/scan`` pages of ``--page``
records / ``--page-bytes`` at most: ``ringpop-state-page/3`` into a MemoryStore,
``/2`` into SQLite; ``--concurrency`` ranges at a time, unthrottled, starting
``DELAY`` s after the ring changed). Reported: keys/s and MB/s of the pull (first start to last
completion), CPU seconds per record of both processes during the pull, peak RSS of
both (and the puller's before the pull). ``--profile`` prints both sides' cProfile.

The floor, measured right after the pull between the same two processes: raw
TChannel calls returning a body of the pull's mean page size, ``--concurrency`` in
flight, as MB/s (the same payload bytes on the same connection, without the work per
record). Target: the pull at least half the floor. For sqlite -> sqlite, the store's
ceiling: SQLite's own ``put_many_if_newer`` of pages of the same record count, in
hash order, into an empty file (records/s); that pull cannot beat it.

Then replicated writes and reads (3 in-process nodes, ``N=3, W=2, R=2``, 32 callers
on one coordinator) against single-owner forwarding of the same operations
(``N = W = R = 1``). Run: ``.venv/bin/python bench/handoff.py [--keys 1000000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for _path in (REPO, Path(__file__).resolve().parent):  # the package; least_work
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


from least_work import warm  # noqa: E402  (bench/least_work.py)
from ringpop import Options, Ringpop  # noqa: E402
from ringpop.hashing import fingerprint32  # noqa: E402
from ringpop.ring.ownership import Range  # noqa: E402
from ringpop.state.blobpage import BlobPage, decode_blob_page, encode_blob_page  # noqa: E402
from ringpop.state.checks import check_blob_page  # noqa: E402
from ringpop.state.events import HandoffCompleted, HandoffStarted  # noqa: E402
from ringpop.state.handoff import RangeHandoff  # noqa: E402
from ringpop.state.hlc import Version  # noqa: E402
from ringpop.state.memory import MemoryStore  # noqa: E402
from ringpop.state.packed import Packed  # noqa: E402
from ringpop.state.replicated import ReplicatedStore  # noqa: E402
from ringpop.state.replicator import ReplicaOptions  # noqa: E402
from ringpop.state.sqlite import SQLiteStore  # noqa: E402
from ringpop.state.store import Columns, Cursor, Record  # noqa: E402
from ringpop.tchannel import Request, Response  # noqa: E402

WHOLE = Range(0, 1 << 32)
N1 = ReplicaOptions(n=1, r=1, w=1, timeout=10.0)
QUIET = Options(min_protocol_period=0.2, suspect_period=60.0)
VALUE = b"v" * 100
# The puller waits this long after its ring changed before pulling (the production
# default is 1 s): with 0.05 s, a third of the runs started before the source's ring
# had the puller, got ``not-a-replica`` and retried a second later (``retry``).
DELAY = 0.5


def rss_mib() -> float:
    """Peak RSS of this process (Linux: ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_now_mib() -> float:
    """Current RSS of this process (Linux: /proc/self/statm, in pages)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20


async def serve(keys: int, directory: Path, cache_mib: int, kind: str, profiled: bool) -> None:
    """The source node: fill a store, serve it, print the address, wait for stdin EOF."""
    store = open_store(kind, directory / "source.db", cache_mib)
    now = int(time.time() * 1000)
    batch = 50_000 if kind != "handed" else 5_000  # handoff pages of ~700 kB
    names = sorted((f"key-{i:08d}" for i in range(keys)), key=lambda k: (fingerprint32(k), k))
    for start in range(0, keys, batch):  # in ring order, as a handoff would fill it
        chunk = names[start : start + batch]
        count = len(chunk)
        columns = Columns(chunk, [VALUE] * count, [now] * count, [0] * count, ["bench"] * count)
        if kind == "handed" and isinstance(store, MemoryStore):
            packed = Packed.of(
                chunk, columns.values, columns.walls, columns.logicals, columns.nodes
            )
            page = decode_blob_page(encode_blob_page(packed)[0])
            check_blob_page(page, Range(0, 1 << 32), None, count)
            await store.put_blob_page(page)
        else:
            await store.put_many_if_newer(columns)
    del names
    rp = Ringpop("bench", "127.0.0.1:0", options=QUIET, ownership_n=1)
    await rp.start()
    kv = ReplicatedStore(rp, store, N1)
    handoff = RangeHandoff(kv, delay=0.05, grace=3600)

    async def raw(request: Request) -> Response:  # the floor: a body of the asked size
        return Response(b"", b"x" * int(request.arg3 or b"1"))

    profile = cProfile.Profile() if profiled else None
    cpu_calls = 0

    async def cpu(request: Request) -> Response:  # CPU seconds and page faults so far
        nonlocal cpu_calls
        cpu_calls += 1
        if profile is not None and cpu_calls <= 2:  # profile the pull only (calls 1 to 2)
            (profile.enable if cpu_calls == 1 else profile.disable)()
        return Response(b"", f"{time.process_time()} {faults()} {os.times().system}".encode())

    async def usage(request: Request) -> Response:  # the same, the profile untouched
        return Response(b"", f"{time.process_time()} {faults()} {os.times().system}".encode())

    async def produce(request: Request) -> Response:  # the source's least work a record
        limit, max_bytes, most = (int(x) for x in request.arg3.split())
        return Response(
            b"", json.dumps(await least_source_work(store, limit, max_bytes, most)).encode()
        )

    rp.channel.register("bench", "/blob", raw)
    rp.channel.register("bench", "/cpu", cpu)
    rp.channel.register("bench", "/usage", usage)
    rp.channel.register("bench", "/produce", produce)
    await rp.bootstrap([rp.whoami()])
    print(f"ready {rp.whoami()}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    if profile is not None:
        print("source profile (the pull):", file=sys.stderr)
        pstats.Stats(profile, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    print(f"rss {rss_mib():.0f} served {handoff.server.served_records}", flush=True)
    await handoff.close()
    await kv.close()
    await rp.close(self_evict=False)
    await store.close()


async def least_source_work(
    store: MemoryStore | SQLiteStore, limit: int, max_bytes: int, most: int
) -> dict[str, float]:
    """CPU and kernel µs a record to make ``/3`` pages of ``store`` (what a source does
    a page beyond TChannel: ``scan_blob_page`` and ``encode_blob_page``, nothing sent),
    over ``most`` records in ring order (or all it holds), pages as the pull asked for
    them; and how many records that was."""
    cursor: Cursor | None = None
    records = 0
    cpu, kernel = time.process_time(), os.times().system
    while records < most:
        if isinstance(store, MemoryStore):
            page: BlobPage | Packed = await store.scan_blob_page(WHOLE, cursor, limit, max_bytes)
        else:
            page = await store.scan_packed(WHOLE, cursor, limit, max_bytes)
        count = encode_blob_page(page, max_bytes)[1]
        records += count
        if count == len(page):
            cursor = page.cursor
        else:  # the encoder cut the page: go on after its last record
            cursor = Cursor(page.hashes[count - 1], key_at(page, count - 1))
        if cursor is None:
            break
    cpu, kernel = time.process_time() - cpu, os.times().system - kernel
    return {
        "cpu": cpu / max(1, records) * 1e6,
        "kernel": kernel / max(1, records) * 1e6,
        "records": records,
    }


def key_at(page: BlobPage | Packed, i: int) -> str:
    """Record ``i``'s key."""
    if isinstance(page, Packed):
        return page.keys[i]
    for part in page.parts:
        if i < len(part):
            return part.key(i)
        i -= len(part)
    raise IndexError(i)


def open_store(kind: str, path: Path, cache_mib: int) -> MemoryStore | SQLiteStore:
    """A SQLiteStore at ``path``, or a MemoryStore (``memory``, ``handed``)."""
    return SQLiteStore(path, cache_mib=cache_mib) if kind == "sqlite" else MemoryStore()


def faults() -> int:
    """Page faults of this process so far (minor: memory new to it, page by page)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


async def source_cpu(rp: Ringpop, source: str, endpoint: str = "/cpu") -> tuple[float, int, float]:
    """The source process's CPU seconds, page faults and system (kernel) CPU seconds so
    far (``/cpu`` also starts and stops the source's profile; ``/usage`` does not)."""
    answer = await rp.channel.call(source, "bench", endpoint, b"", b"", timeout=10.0)
    seconds, count, system = answer.arg3.split()
    return float(seconds), int(count), float(system)


async def pull(source: str, directory: Path, args: argparse.Namespace) -> dict[str, float]:
    """Join the source, pull our share, then measure the raw floor; figures."""
    warm(args.warm_mib)
    store = open_store(args.store, directory / "puller.db", args.cache_mib)
    rp = Ringpop("bench", "127.0.0.1:0", options=QUIET, ownership_n=1)
    await rp.start()
    kv = ReplicatedStore(rp, store, N1)
    handoff = RangeHandoff(
        kv,
        delay=DELAY,
        grace=3600,
        concurrency=args.concurrency,
        page=args.page,
        page_bytes=args.page_bytes,
    )
    started: list[float] = []
    completed: list[float] = []
    # CPU over the transfer alone (first range started to last completed), both sides
    usage: dict[str, tuple[float, float]] = {}
    source_start: list[asyncio.Future[tuple[float, int, float]]] = []

    def on_started(_: HandoffStarted) -> None:
        started.append(time.perf_counter())
        if not source_start:
            usage["start"] = (time.process_time(), os.times().system)
            source_start.append(asyncio.ensure_future(source_cpu(rp, source, "/usage")))

    def on_completed(_: HandoffCompleted) -> None:
        completed.append(time.perf_counter())
        usage["end"] = (time.process_time(), os.times().system)

    rp.events.on(HandoffStarted, on_started)
    rp.events.on(HandoffCompleted, on_completed)
    before = rss_mib()
    cpu_source, faults_source, sys_source = await source_cpu(rp, source)
    cpu_puller, faults_puller, sys_puller = time.process_time(), faults(), os.times().system
    profile = cProfile.Profile() if args.profile else None
    if profile is not None:
        profile.enable()
    await rp.bootstrap([source, rp.whoami()])
    await asyncio.sleep(0.2)
    assert await handoff.idle(3600), handoff.stats()
    if profile is not None:
        profile.disable()
        pstats.Stats(profile, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    took = max(completed) - min(started)
    cpu_puller, faults_puller = time.process_time() - cpu_puller, faults() - faults_puller
    sys_puller = os.times().system - sys_puller
    source_end = await source_cpu(rp, source, "/usage")
    source_began = await source_start[0]
    cpu_now, faults_now, sys_now = await source_cpu(rp, source)
    cpu_source, faults_source = cpu_now - cpu_source, faults_now - faults_source
    sys_source = sys_now - sys_source
    stats = handoff.stats()
    rss_after = rss_now_mib()
    pages = max(1, stats["pages"])
    page_bytes = stats["bytes"] // pages
    asked = f"{args.page} {args.page_bytes} {stats['records']}".encode()
    answer = await rp.channel.call(source, "bench", "/produce", b"", asked, timeout=600.0)
    produce = json.loads(answer.arg3)
    cpu_source_floor, _, _ = await source_cpu(rp, source)
    cpu_puller_floor = time.process_time()
    floor, moved = await measure_floor(rp, source, page_bytes, args.floor_seconds, args.concurrency)
    cpu_puller_floor = time.process_time() - cpu_puller_floor
    cpu_source_floor = (await source_cpu(rp, source))[0] - cpu_source_floor
    # the floor's CPU per record-equivalent (the pull's mean bytes per record)
    floor_records = moved / max(1.0, stats["bytes"] / max(1, stats["records"]))
    result = {
        "records": stats["records"],
        "ranges": stats["completed"],
        "seconds": took,
        "keys_per_s": stats["records"] / took,
        "mb_per_s": stats["bytes"] / took / 1e6,
        "page_bytes": page_bytes,
        "page_records": stats["records"] / pages,
        "floor_mb_per_s": floor,
        "floor_cpu_us_puller": cpu_puller_floor / max(1.0, floor_records) * 1e6,
        "floor_cpu_us_source": cpu_source_floor / max(1.0, floor_records) * 1e6,
        "cpu_us_puller": cpu_puller / max(1, stats["records"]) * 1e6,
        "cpu_us_source": cpu_source / max(1, stats["records"]) * 1e6,
        "sys_us_puller": sys_puller / max(1, stats["records"]) * 1e6,
        "sys_us_source": sys_source / max(1, stats["records"]) * 1e6,
        "moving_us_puller": (usage["end"][0] - usage["start"][0]) / max(1, stats["records"]) * 1e6,
        "moving_sys_us_puller": (usage["end"][1] - usage["start"][1])
        / max(1, stats["records"])
        * 1e6,
        "moving_busy_puller": (usage["end"][0] - usage["start"][0]) / took,
        "moving_us_source": (source_end[0] - source_began[0]) / max(1, stats["records"]) * 1e6,
        "moving_sys_us_source": (source_end[2] - source_began[2]) / max(1, stats["records"]) * 1e6,
        "moving_busy_source": (source_end[0] - source_began[0]) / took,
        "produce_cpu_us": produce["cpu"],
        "produce_sys_us": produce["kernel"],
        "faults_puller": faults_puller / max(1, stats["records"]) * 1000,
        "faults_source": faults_source / max(1, stats["records"]) * 1000,
        "failed": stats["failed"],
        "rss_before": before,
        "rss_peak": rss_mib(),
        "rss_after": rss_after,
    }
    await handoff.close()
    await kv.close()
    await rp.close(self_evict=False)
    await store.close()
    return result


async def measure_floor(
    rp: Ringpop, source: str, size: int, seconds: float, concurrency: int
) -> tuple[float, int]:
    """MB/s of raw TChannel calls returning ``size`` bytes, ``concurrency`` in flight,
    and the bytes moved."""
    moved = 0
    end = time.perf_counter() + seconds

    async def caller() -> None:
        nonlocal moved
        for _ in range(1_000_000):
            if time.perf_counter() >= end:
                return
            answer = await rp.channel.call(
                source, "bench", "/blob", b"", str(size).encode(), timeout=10.0
            )
            moved += len(answer.arg3)

    began = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return moved / (time.perf_counter() - began) / 1e6, moved


async def store_floor(directory: Path, page: int, count: int) -> dict[str, float]:
    """Records/s of SQLite's bulk apply of pages of ``page`` records, in hash order.

    ``put_many_if_newer`` (the pull's path: columns, one executemany) and the older
    ``put_many`` of :class:`Record` s, each into an empty file: the store's ceiling.
    """
    now = int(time.time() * 1000)
    records = sorted(
        (Record(f"floor-{i:08d}", VALUE, Version(now, 0, "bench")) for i in range(count)),
        key=lambda r: (r.hash, r.key),
    )
    out: dict[str, float] = {}
    for name in ("put_many_if_newer", "put_many"):
        store = SQLiteStore(directory / f"floor-{name}.db")
        pages = [records[start : start + page] for start in range(0, count, page)]
        columns = [Columns.of(chunk) for chunk in pages]
        began = time.perf_counter()
        for chunk, batch in zip(pages, columns, strict=True):
            if name == "put_many":
                await store.put_many(chunk)
            else:
                await store.put_many_if_newer(batch)
        out[name] = count / (time.perf_counter() - began)
        await store.close()
    return out


async def replicated(ops: int) -> dict[str, float]:
    """Writes and reads per second: N=3/W=2/R=2 against single-owner (N=1) forwarding."""
    nodes = [Ringpop("bench", "127.0.0.1:0", options=QUIET) for _ in range(3)]
    for rp in nodes:
        await rp.start()
    hosts = [rp.whoami() for rp in nodes]
    await asyncio.gather(*(rp.bootstrap(hosts) for rp in nodes))
    out: dict[str, float] = {}
    for label, options in (
        ("replicated", ReplicaOptions(n=3, r=2, w=2, timeout=10.0)),
        ("single owner", N1),
    ):
        kvs = [ReplicatedStore(rp, MemoryStore(), options) for rp in nodes]
        coordinator = kvs[0]
        for op in ("write", "read"):
            keys = iter(range(ops))
            began = time.perf_counter()
            await asyncio.gather(*(_caller(coordinator, op, keys) for _ in range(32)))
            out[f"{label} {op}s/s"] = ops / (time.perf_counter() - began)
        for kv in kvs:
            await kv.close()
    for rp in nodes:
        await rp.close(self_evict=False)
    return out


async def _caller(kv: ReplicatedStore, op: str, keys: Iterator[int]) -> None:
    for i in keys:
        if op == "write":
            await kv.put(f"k{i}", VALUE)
        else:
            await kv.get(f"k{i}")


def handoff_run(kinds: str, directory: Path, args: argparse.Namespace) -> dict[str, float]:
    """One configuration (``source-puller`` stores), a source and a puller process each."""
    source_kind, puller_kind = kinds.split("-")
    here = directory / kinds
    here.mkdir()
    common = ["--keys", str(args.keys), "--cache-mib", str(args.cache_mib)]
    serve = [sys.executable, __file__, *common, "--serve", str(here), "--source-store", source_kind]
    if args.profile:
        serve.append("--profile")
    child = subprocess.Popen(serve, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdin is not None
        line = child.stdout.readline().split()
        if not line or line[0] != "ready":
            raise SystemExit(f"the source did not start: {line}")
        command = [sys.executable, __file__, *common, "--pull", line[1], "--store", puller_kind]
        command.extend(("--workdir", str(here), "--page", str(args.page)))
        command.extend(
            ("--page-bytes", str(args.page_bytes), "--concurrency", str(args.concurrency))
        )
        command.extend(("--floor-seconds", str(args.floor_seconds)))
        command.extend(("--warm-mib", str(args.warm_mib)))
        if args.profile:
            command.append("--profile")
        answer = subprocess.run(
            command, stdout=subprocess.PIPE, text=True, check=True, timeout=3600
        )
        figures: dict[str, float] = json.loads(answer.stdout.strip().splitlines()[-1])
        child.stdin.close()
        tail = child.stdout.read().split()
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    figures["rss_source"] = float(tail[1]) if len(tail) > 1 else float("nan")
    return figures


def report(kinds: str, f: dict[str, float], concurrency: int) -> None:
    """Print one configuration's figures."""
    share = f["mb_per_s"] / f["floor_mb_per_s"]
    print(
        f"{kinds.replace('-', ' -> ')}: {f['records']:.0f} keys in {f['ranges']:.0f} ranges, "
        f"{f['seconds']:.2f} s: {f['keys_per_s']:,.0f} keys/s, {f['mb_per_s']:.1f} MB/s "
        f"(pages of {f['page_bytes']:.0f} B, {f['page_records']:.0f} records); floor (raw "
        f"TChannel, same page size, {concurrency} in flight, same processes) "
        f"{f['floor_mb_per_s']:.1f} MB/s (CPU per record's bytes: puller "
        f"{f['floor_cpu_us_puller']:.2f} us, source {f['floor_cpu_us_source']:.2f} us) -> "
        f"{share:.1%} of the floor; CPU per record during the transfer: puller "
        f"{f['moving_us_puller']:.2f} us (kernel {f['moving_sys_us_puller']:.2f}, busy "
        f"{f['moving_busy_puller']:.0%}), source {f['moving_us_source']:.2f} us (kernel "
        f"{f['moving_sys_us_source']:.2f}, busy {f['moving_busy_source']:.0%}); with the join "
        f"and the wait before the pull: puller "
        f"{f['cpu_us_puller']:.2f} us (kernel {f['sys_us_puller']:.2f}), source "
        f"{f['cpu_us_source']:.2f} us (kernel {f['sys_us_source']:.2f}); page faults per "
        f"1000 records: puller {f['faults_puller']:.0f}, source {f['faults_source']:.0f}; "
        f"peak RSS puller "
        f"{f['rss_peak']:.0f} MiB (before {f['rss_before']:.0f}, after the pull "
        f"{f['rss_after']:.0f}), source {f['rss_source']:.0f} MiB"
        f"; failed attempts {f.get('failed', 0):.0f}",
        flush=True,
    )


BOUNDS = {
    "objects": "a puller building key and value objects",
    "values-blob": "the same, values kept as one blob",
    "page3-malloc": "ringpop's /3 pages kept as blobs in ordinary memory",
    "page3": "ringpop's /3 pages kept as blobs in an arena (huge pages)",
}


def bound(f: dict[str, float], warm_mib: int) -> None:
    """Print the least work a puller does a record for each page shape
    (``bench/least_work.py``, a fresh process, the pull's page size) and the share of
    the floor it leaves; then the source's (measured in the source process after the
    pull: making the pages, nothing sent)."""
    source_floor, produce = f["floor_cpu_us_source"], f["produce_cpu_us"]
    print(
        f"  bound, the source making /3 pages of its store (scan and encode, nothing sent): "
        f"{produce:.2f} us a record (kernel {f['produce_sys_us']:.2f}) on top of the floor's "
        f"{source_floor:.2f} us: at most {source_floor / (source_floor + produce):.0%} of "
        f"the floor",
        flush=True,
    )
    script = Path(__file__).with_name("least_work.py")
    floor = f["floor_cpu_us_puller"]
    for shape, what in BOUNDS.items():
        command = [sys.executable, str(script), "--page", str(round(f["page_records"]))]
        command += ["--warm-mib", str(warm_mib), "--shape", shape]
        answer = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
        least = json.loads(answer.stdout.strip().splitlines()[-1])
        print(
            f"  bound, {what}: the least it does a record (decode and keep it, check its "
            f"hash) costs {least['cpu']:.2f} us (kernel {least['kernel']:.2f}) against the "
            f"floor's {floor:.2f} us: at most {floor / (floor + least['cpu']):.0%} of the floor",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--ops", type=int, default=5000, help="replicated ops per measurement")
    parser.add_argument("--floor-seconds", type=float, default=5.0)
    parser.add_argument(
        "--configs",
        default="memory-memory,handed-memory,sqlite-memory,sqlite-sqlite",
        help="source-puller store pairs to run, comma-separated",
    )
    parser.add_argument("--page", type=int, default=8192, help="records per page at most")
    parser.add_argument("--page-bytes", type=int, default=1 << 20, help="bytes per page, about")
    parser.add_argument("--concurrency", type=int, default=2, help="ranges pulled at once")
    parser.add_argument("--store-floor-keys", type=int, default=200_000)
    parser.add_argument("--cache-mib", type=int, default=32, help="SQLite page cache per store")
    parser.add_argument("--profile", action="store_true", help="cProfile both sides (stderr)")
    parser.add_argument(
        "--warm-mib",
        type=int,
        default=0,
        help="the puller touches and frees this many MiB first (memory not new to the VM)",
    )
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--source-store", default="sqlite", help=argparse.SUPPRESS)
    parser.add_argument("--pull", help=argparse.SUPPRESS)
    parser.add_argument("--store", default="sqlite", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        asyncio.run(serve(args.keys, args.serve, args.cache_mib, args.source_store, args.profile))
        return
    if args.pull is not None:
        print(json.dumps(asyncio.run(pull(args.pull, args.workdir, args))), flush=True)
        return
    runs: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="ringpop-bench-handoff-") as tmp:
        directory = Path(tmp)
        for kinds in args.configs.split(","):
            print(f"{kinds}: filling the source with {args.keys} keys of 100 B ...", flush=True)
            runs[kinds] = handoff_run(kinds, directory, args)
            report(kinds, runs[kinds], args.concurrency)
            if kinds.endswith("-memory"):
                bound(runs[kinds], args.warm_mib)
        if args.store_floor_keys and "sqlite-sqlite" in runs:
            page = max(1, round(runs["sqlite-sqlite"]["page_records"]))
            writes = asyncio.run(store_floor(directory, page, args.store_floor_keys))
            for name, rate in writes.items():
                print(
                    f"store ceiling: SQLite {name}, {args.store_floor_keys} records in hash "
                    f"order, pages of {page}: {rate:,.0f} records/s -> sqlite -> sqlite handoff "
                    f"at {runs['sqlite-sqlite']['keys_per_s'] / rate:.0%} of it"
                )
    if args.ops:
        for name, rate in asyncio.run(replicated(args.ops)).items():
            print(f"{name}: {rate:,.0f}")


if __name__ == "__main__":
    main()
