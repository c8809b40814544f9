"""Actors benchmark (issue 14): messages/s to local and remote actors, against plain
forwarding in the same run, and activation latency.

Two nodes (A, B) on 127.0.0.1 over real TCP, in one process and one event loop
(uvloop when installed), each with an actor system over a replicated in-memory
store. From A, ``--callers`` concurrent callers, each ``ask`` -ing its next message
and waiting for the reply (a closed loop):

* **actors, local** - ``rp.actors.ask`` to ``--actors`` counter actors owned by A;
* **actors, remote** - the same to actors owned by B (each call crosses TChannel);
* **handle_or_proxy, remote** (baseline) - ``rp.handle_or_proxy(key, request)`` with
  keys owned by B: the HTTP request is forwarded over ``/proxy/req`` and B's
  handler answers (no mailbox, no ordering, no state);
* **forward, remote** - go-style ``rp.forward`` to an endpoint B serves (the raw RPC
  under both: an actor batch is one such call);
* **handle_or_proxy, local** - keys owned by A (the handler called in place).

Then **activation latency**: a first ``ask`` to each of ``--activations`` fresh keys
(local and remote), one after the other, against a warm ``ask`` to an active actor:
the difference is the activation (a store read of the actor's saved state, quorum
of the ring, and ``on_activate``). Each workload runs ``--duration`` seconds after a
warm-up, ``--rounds`` times alternately; the best round is reported (every round
is printed).

``--chaos`` runs the long form of ``tests/actors/test_processes.py`` instead
(``--count`` messages per node, ``--actors``): real processes, kill -9, join, leave.

Run: ``.venv/bin/python bench/actors.py [--duration 3] [--rounds 2] [--callers 64]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ringpop import Options, Ringpop
from ringpop.actors import Actor, Context
from ringpop.forward import HttpRequest, HttpResponse
from ringpop.tchannel import Request, Response

OPTIONS = Options(min_protocol_period=0.2, suspect_period=60.0)


class Counter(Actor):
    """The benchmark's actor: adds, replies the total, saves it."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.count = 0

    async def on_activate(self, state: Any) -> None:
        self.count = state or 0

    async def receive(self, message: Any, context: Context) -> Any:
        self.count += message
        return self.count

    def snapshot(self) -> Any:
        return self.count


async def _handler(request: HttpRequest) -> HttpResponse:
    return HttpResponse(200, {"content-type": "text/plain"}, b"1")


async def _echo(request: Request) -> Response:
    return Response(b"", request.arg3)


async def start() -> tuple[Ringpop, Ringpop]:
    nodes = [Ringpop("actors-bench", "127.0.0.1:0", options=OPTIONS) for _ in range(2)]
    for rp in nodes:
        rp.set_http_handler(_handler)
    addresses = [await rp.start() for rp in nodes]
    for rp in nodes:
        rp.actors.register("counter", Counter)
        rp.register_forwarded("bench", "/echo", _echo, lambda r: [r.arg3.decode()])
    await asyncio.gather(*(rp.bootstrap(addresses) for rp in nodes))
    for _ in range(500):
        if all(len(rp.members()) == 2 for rp in nodes):
            break
        await asyncio.sleep(0.02)
    return nodes[0], nodes[1]


def keys_of(rp: Ringpop, owner: str, count: int, prefix: str) -> list[str]:
    found: list[str] = []
    for i in range(count * 100):
        key = f"{prefix}{i}"
        if rp.lookup(key) == owner:
            found.append(key)
            if len(found) == count:
                return found
    raise RuntimeError("not enough keys")


async def closed_loop(
    call: Callable[[str], Awaitable[object]], keys: list[str], callers: int, seconds: float
) -> tuple[float, float, float]:
    """Calls per second, p50 and p99 latency (ms) of ``callers`` closed-loop callers."""
    latencies: list[float] = []
    stop = time.perf_counter() + seconds

    async def caller(index: int) -> None:
        i = index
        for _ in range(10**9):
            now = time.perf_counter()
            if now >= stop:
                return
            await call(keys[i % len(keys)])
            latencies.append(time.perf_counter() - now)
            i += callers

    started = time.perf_counter()
    await asyncio.gather(*(caller(c) for c in range(callers)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    return len(latencies) / elapsed, p50, p99


async def activation(a: Ringpop, keys: list[str], warm: str) -> tuple[float, float, float]:
    """Median first-ask and warm-ask latency (ms), and p99 of the first asks."""
    await a.actors.ask("counter", warm, 1)
    firsts, warms = [], []
    for key in keys:
        started = time.perf_counter()
        await a.actors.ask("counter", key, 1)
        firsts.append(time.perf_counter() - started)
        started = time.perf_counter()
        await a.actors.ask("counter", warm, 1)
        warms.append(time.perf_counter() - started)
    firsts.sort()
    return (
        statistics.median(firsts) * 1000,
        statistics.median(warms) * 1000,
        firsts[int(len(firsts) * 0.99)] * 1000,
    )


async def bench(args: argparse.Namespace) -> None:
    a, b = await start()
    try:
        local = keys_of(a, a.whoami(), args.actors, "local-")
        remote = keys_of(a, b.whoami(), args.actors, "remote-")
        request = HttpRequest("GET", "/x")

        async def ask(key: str) -> object:
            return await a.actors.ask("counter", key, 1)

        async def proxy(key: str) -> object:
            return await a.handle_or_proxy(key, request)

        async def forward(key: str) -> object:
            return await a.forward(key, "bench", "/echo", b"", key.encode())

        workloads = {
            "actors, local": (ask, local),
            "actors, remote": (ask, remote),
            "handle_or_proxy, remote": (proxy, remote),
            "forward, remote": (forward, remote),
            "handle_or_proxy, local": (proxy, local),
        }
        best: dict[str, tuple[float, float, float]] = {}
        # first activations wait for handovers for a while after a ring change (bootstrap)
        await asyncio.sleep(a.actors.options.handover_window + 0.5)
        for call, keys in workloads.values():
            await closed_loop(call, keys, args.callers, 0.5)  # warm-up (actors activate)
        for round_ in range(args.rounds):
            for name, (call, keys) in workloads.items():
                rate, p50, p99 = await closed_loop(call, keys, args.callers, args.duration)
                print(f"round {round_ + 1} {name:26} {rate:8.0f}/s p50 {p50:.2f} p99 {p99:.2f} ms")
                if name not in best or rate > best[name][0]:
                    best[name] = (rate, p50, p99)
        print(f"\nbest of {args.rounds} rounds ({args.callers} callers, {args.actors} keys):")
        print("| workload | messages/s | p50 ms | p99 ms |\n|---|---|---|---|")
        for name, (rate, p50, p99) in best.items():
            print(f"| {name} | {rate:,.0f} | {p50:.2f} | {p99:.2f} |")
        base = best["handle_or_proxy, remote"][0]
        print(f"\nremote actors / handle_or_proxy remote: {best['actors, remote'][0] / base:.2f}")
        print("\nactivation (first ask to a fresh key, one at a time):")
        print(
            "| owner | first ask p50 ms | warm ask p50 ms | first ask p99 ms |\n|---|---|---|---|"
        )
        for name, owner in (("local", a.whoami()), ("remote", b.whoami())):
            fresh = keys_of(a, owner, args.activations, f"fresh-{name}-")
            first, warm, p99 = await activation(a, fresh, keys_of(a, owner, 1, f"w-{name}-")[0])
            print(f"| {name} | {first:.2f} | {warm:.2f} | {p99:.2f} |")
    finally:
        await asyncio.gather(a.actors.close(), b.actors.close())
        await asyncio.gather(a.close(self_evict=False), b.close(self_evict=False))


def chaos(args: argparse.Namespace) -> None:
    from tests.actors.chaos import run_chaos

    with tempfile.TemporaryDirectory() as tmp:
        report = asyncio.run(
            run_chaos(Path(tmp), size=5, count=args.count, actors=args.actors, rate=args.rate)
        )
    print("\n".join(report.lines()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per workload (3)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, alternated (2)")
    parser.add_argument("--callers", type=int, default=64, help="concurrent callers (64)")
    parser.add_argument("--actors", type=int, default=100, help="actors / keys (100)")
    parser.add_argument("--activations", type=int, default=200, help="fresh keys (200)")
    parser.add_argument("--chaos", action="store_true", help="the real-process fault run")
    parser.add_argument("--count", type=int, default=10_000, help="--chaos: messages per node")
    parser.add_argument("--rate", type=float, default=200, help="--chaos: messages/s per node")
    args = parser.parse_args()
    if args.chaos:
        chaos(args)
        return
    try:
        import uvloop
    except ImportError:
        asyncio.run(bench(args))
    else:
        uvloop.run(bench(args))


if __name__ == "__main__":
    main()
