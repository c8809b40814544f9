"""TChannel benchmark (issue 3): calls/s, p50 and p99 of small JSON calls over one connection.

The call is a ringpop-sized JSON request (``as=json``, the 118-byte body of a
``/protocol/ping``) answered with a small JSON body, over one TCP connection on
127.0.0.1, in two modes: ``sequential`` (one call at a time) and ``64 in
flight`` (64 concurrent callers sharing the connection). Two set-ups:

* ``1 process`` - client and server channels on one event loop (what the
  issue's targets refer to: >= 10k sequential, >= 40k with 64 in flight);
* ``2 processes`` - server in a child process, client here: every round trip
  also pays two cross-process wake-ups.

With ``--tls``, only the TLS figures: the same calls in 1 process, plaintext
against TLS 1.3 with mutual authentication (ECDSA P-256 certificates made for the
run), and the cost of opening a connection (TCP + TLS + TChannel handshakes).

Python runs on the default asyncio loop and on uvloop. The baseline, measured in
the same run and set-ups, is tchannel-node 3.10.1's own client and server doing
the same (``interop/tchannel/bench.js``). A raw asyncio echo (no TChannel at
all) shows the machine's floor for one sequential round trip. Each figure is
the best of several rounds (the machine is shared). Run:
``.venv/bin/python bench/tchannel.py [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ringpop.tchannel import Channel, Request  # noqa: E402
from ringpop.tlsconfig import TLSConfig  # noqa: E402

BENCH_JS = REPO / "interop" / "tchannel" / "bench.js"
REQUEST_BODY = {
    "checksum": 3184296888,
    "changes": [],
    "source": "127.0.0.1:3001",
    "sourceIncarnationNumber": 1414142122276,
    "app": "ringpop",
}
CONCURRENCY = 64
START_TIMEOUT = 30.0
LOOPS = ("asyncio", "uvloop")


@dataclass
class Result:
    """The best round of one measurement (``cpu_us``: process CPU time per call)."""

    calls: int
    seconds: float
    p50_us: float
    p99_us: float
    cpu_us: float | None = None

    @property
    def rate(self) -> float:
        return self.calls / self.seconds


@dataclass
class Plan:
    """How much to measure."""

    seq_calls: int
    conc_calls: int
    warmup: int
    rounds: int

    def modes(self) -> list[tuple[str, int, int]]:
        return [
            ("sequential", self.seq_calls, 1),
            (f"{CONCURRENCY} in flight", self.conc_calls, CONCURRENCY),
        ]


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """A new-event-loop function for ``asyncio`` or ``uvloop``."""
    if name == "uvloop":
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
        return factory
    return asyncio.new_event_loop


def run(loop_name: str, coro: Awaitable[Result]) -> Result:
    """Run ``coro`` on a fresh loop of kind ``loop_name``."""

    async def main() -> Result:
        return await coro

    with asyncio.Runner(loop_factory=loop_factory(loop_name)) as runner:
        return runner.run(main())


def summarize(latencies_ns: list[int], seconds: float, cpu_seconds: float | None = None) -> Result:
    latencies_ns.sort()
    n = len(latencies_ns)
    cpu_us = None if cpu_seconds is None else cpu_seconds / n * 1e6
    return Result(
        n,
        seconds,
        latencies_ns[n // 2] / 1e3,
        latencies_ns[min(n - 1, n * 99 // 100)] / 1e3,
        cpu_us,
    )


# ---------------------------------------------------------------- TChannel, Python


def bench_server(plain: bool = False, tls: TLSConfig | None = None) -> Channel:
    """The server: ``bench``/``ping`` answers a small JSON body.

    The handler is a coroutine function (run in a task per request), or with
    ``plain`` an ordinary function (run as the request is read).
    """
    channel = Channel("127.0.0.1:0", tls=tls)

    async def ping(request: Request, body: Any) -> Any:
        return {"changes": [], "checksum": body["checksum"]}

    def plain_ping(request: Request, body: Any) -> Any:
        return {"changes": [], "checksum": body["checksum"]}

    channel.register_json("bench", "ping", plain_ping if plain else ping)
    return channel


async def measure_calls(
    peer: str, calls: int, concurrency: int, plan: Plan, tls: TLSConfig | None = None
) -> Result:
    """Best of ``plan.rounds`` rounds of ``calls`` JSON calls to ``peer``."""
    channel = Channel(tls=tls)
    call_json = channel.call_json
    perf = time.perf_counter_ns
    best: Result | None = None
    try:
        for _ in range(plan.warmup):
            await call_json(peer, "bench", "ping", REQUEST_BODY, timeout=5)
        for _ in range(plan.rounds):
            latencies: list[int] = []

            async def worker(count: int, record: Callable[[int], None] = latencies.append) -> None:
                for _ in range(count):
                    begin = perf()
                    reply = await call_json(peer, "bench", "ping", REQUEST_BODY, timeout=5)
                    record(perf() - begin)
                    assert reply["checksum"] == 3184296888

            gc.collect()
            start = time.perf_counter()
            cpu = time.process_time()
            await asyncio.gather(*(worker(calls // concurrency) for _ in range(concurrency)))
            cpu = time.process_time() - cpu
            result = summarize(latencies, time.perf_counter() - start, cpu)
            if best is None or result.rate > best.rate:
                best = result
    finally:
        await channel.close(drain_timeout=0)
    assert best is not None
    return best


async def measure_in_process(
    calls: int,
    concurrency: int,
    plan: Plan,
    plain: bool = False,
    tls: tuple[TLSConfig, TLSConfig] | None = None,
) -> Result:
    server = bench_server(plain, None if tls is None else tls[0])
    try:
        peer = await server.listen()
        return await measure_calls(peer, calls, concurrency, plan, None if tls is None else tls[1])
    finally:
        await server.close(drain_timeout=0)


async def measure_connects(count: int, tls: tuple[TLSConfig, TLSConfig] | None) -> Result:
    """``count`` calls that each open a fresh connection (TCP, TLS, TChannel handshakes)."""
    server = bench_server(True, None if tls is None else tls[0])
    client = Channel(tls=None if tls is None else tls[1])
    perf = time.perf_counter_ns
    latencies: list[int] = []
    try:
        peer = await server.listen()
        start = time.perf_counter()
        cpu = time.process_time()
        for _ in range(count):
            begin = perf()
            await client.call_json(peer, "bench", "ping", REQUEST_BODY, timeout=5)
            latencies.append(perf() - begin)
            conn = client.peer_connection(peer)
            assert conn is not None
            conn.close()
            await conn.lost
        return summarize(latencies, time.perf_counter() - start, time.process_time() - cpu)
    finally:
        await client.close(drain_timeout=0)
        await server.close(drain_timeout=0)


def tls_pair(directory: Path) -> tuple[TLSConfig, TLSConfig]:
    """Server and client settings for mutual TLS with certificates made now."""
    from ringpop.tchannel.tlsgen import make_ca, make_cert

    ca = make_ca()
    ca_file = str(ca.write_cert(directory, "ca"))
    server_cert, server_key = make_cert(ca, "server", ips=["127.0.0.1"]).write(directory, "server")
    client_cert, client_key = make_cert(ca, "client").write(directory, "client")
    server = TLSConfig(
        cert_file=str(server_cert),
        key_file=str(server_key),
        ca_file=ca_file,
        require_client_cert=True,
    )
    client = TLSConfig(cert_file=str(client_cert), key_file=str(client_key), ca_file=ca_file)
    return server, client


def measure_tls(plan: Plan) -> None:
    """Plaintext against mutual TLS, 1 process, both loops; then connection set-up."""
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as directory:
        tls = tls_pair(Path(directory))
        for loop_name in LOOPS:
            for mode, calls, conc in plan.modes():
                for label, pair in (("plaintext", None), ("mutual TLS", tls)):
                    result = run(loop_name, measure_in_process(calls, conc, plan, tls=pair))
                    rows.append(("1 process", f"python ({loop_name}), {label}", mode, result))
                    show(rows[-1])
            for label, pair in (("plaintext", None), ("mutual TLS", tls)):
                result = run(loop_name, measure_connects(plan.warmup, pair))
                rows.append(("1 process", f"python ({loop_name}), {label}", "new conn.", result))
                show(rows[-1])
    print()
    print(
        "| loop | mode | plaintext calls/s | mutual TLS calls/s | TLS/plain | p50 plain | p50 TLS |"
    )
    print("|---|---|---|---|---|---|---|")
    by_key = {(who, mode): result for _, who, mode, result in rows}
    for loop_name in LOOPS:
        for mode in [m for m, _, _ in plan.modes()] + ["new conn."]:
            plain = by_key[(f"python ({loop_name}), plaintext", mode)]
            secure = by_key[(f"python ({loop_name}), mutual TLS", mode)]
            print(
                f"| {loop_name} | {mode} | {plain.rate:,.0f} | {secure.rate:,.0f} "
                f"| {secure.rate / plain.rate:.2f}x | {plain.p50_us:,.0f} µs "
                f"| {secure.p50_us:,.0f} µs |"
            )


async def _serve_until_stdin_closes() -> None:
    server = bench_server()
    host_port = await server.listen()
    print(json.dumps({"hostPort": host_port}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.close(drain_timeout=0)


# ------------------------------------------------------------ raw echo (the floor)


class _Echo(asyncio.BufferedProtocol):
    """Buffered, like our connections: a plain Protocol on the default asyncio loop
    pays for a 256 KiB bytes per read, which would not be a floor."""

    def __init__(self) -> None:
        self.buffer = memoryview(bytearray(65536))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.transport.write(bytes(self.buffer[:nbytes]))


class _EchoClient(asyncio.BufferedProtocol):
    def __init__(self) -> None:
        self.waiter: asyncio.Future[None] | None = None
        self.buffer = memoryview(bytearray(65536))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


async def measure_echo(port: int | None, calls: int, plan: Plan) -> Result:
    """Sequential 200-byte ping-pongs over a bare buffered protocol (in process if no port)."""
    loop = asyncio.get_running_loop()
    server = None
    if port is None:
        server = await loop.create_server(_Echo, "127.0.0.1", 0)
        port = int(server.sockets[0].getsockname()[1])
    transport, protocol = await loop.create_connection(_EchoClient, "127.0.0.1", port)
    message = b"x" * 200
    perf = time.perf_counter_ns
    best: Result | None = None
    try:
        for _ in range(plan.rounds):
            latencies = []
            start = time.perf_counter()
            cpu = time.process_time()
            for _ in range(calls):
                begin = perf()
                protocol.waiter = loop.create_future()
                transport.write(message)
                await protocol.waiter
                latencies.append(perf() - begin)
            cpu = time.process_time() - cpu
            result = summarize(latencies, time.perf_counter() - start, cpu)
            if best is None or result.rate > best.rate:
                best = result
    finally:
        transport.close()
        if server is not None:
            server.close()
    assert best is not None
    return best


async def _echo_until_stdin_closes() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Echo, "127.0.0.1", 0)
    print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


# ------------------------------------------------------------------ processes


@contextmanager
def child(args: list[str], env: dict[str, str] | None = None) -> Iterator[Any]:
    """Start a child that prints one JSON line and exits when stdin closes; stop it by PID."""
    proc = subprocess.Popen(
        args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=REPO
    )
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=START_TIMEOUT):
                raise RuntimeError(f"{args} did not start within {START_TIMEOUT}s")
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{args} exited with {proc.poll()}")
        yield json.loads(line)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def node_env() -> dict[str, str] | None:
    """Environment for the node scripts, or ``None`` if node/tchannel is unavailable."""
    try:
        from tests.nodeenv import node_modules_dir

        modules = node_modules_dir()
    except BaseException as exc:  # pytest.skip raises a BaseException when node is absent
        print(f"(tchannel-node baseline unavailable: {exc})")
        return None
    env = dict(os.environ)
    env["TCHANNEL_NODE_MODULES"] = str(modules)
    return env


def node_bench(env: dict[str, str], args: list[str]) -> Result:
    out = subprocess.run(
        ["node", str(BENCH_JS), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    data = json.loads(out.stdout)
    return Result(data["calls"], data["seconds"], data["p50Us"], data["p99Us"], data["cpuUs"])


# ----------------------------------------------------------------------- main

Row = tuple[str, str, str, Result]  # set-up, who, mode, result


def cpu_text(setup: str, result: Result) -> str:
    """CPU per call; only meaningful when one process does all the work."""
    if setup != "1 process" or result.cpu_us is None:
        return "–"
    return f"{result.cpu_us:.1f} µs"


def show(row: Row) -> None:
    setup, who, mode, result = row
    print(
        f"  {setup:11} {who:36} {mode:13} {result.rate:9,.0f} calls/s"
        f"  p50 {result.p50_us:7,.0f} µs  p99 {result.p99_us:7,.0f} µs"
        f"  cpu/call {cpu_text(setup, result)}",
        flush=True,
    )


def measure_all(plan: Plan) -> list[Row]:
    rows: list[Row] = []
    me = [sys.executable, __file__]

    def add(row: Row) -> None:
        rows.append(row)
        show(row)

    for loop_name in LOOPS:
        add(("1 process", f"raw asyncio echo ({loop_name})", "sequential",
             run(loop_name, measure_echo(None, plan.seq_calls, plan))))  # fmt: skip
        for mode, calls, conc in plan.modes():
            result = run(loop_name, measure_in_process(calls, conc, plan))
            add(("1 process", f"python ({loop_name})", mode, result))
        for mode, calls, conc in plan.modes():
            result = run(loop_name, measure_in_process(calls, conc, plan, plain=True))
            add(("1 process", f"python ({loop_name}), plain handler", mode, result))
    for loop_name in LOOPS:
        with child([*me, "--echo", loop_name]) as info:
            add(("2 processes", f"raw asyncio echo ({loop_name})", "sequential",
                 run(loop_name, measure_echo(info["port"], plan.seq_calls, plan))))  # fmt: skip
        with child([*me, "--serve", loop_name]) as info:
            for mode, calls, conc in plan.modes():
                result = run(loop_name, measure_calls(info["hostPort"], calls, conc, plan))
                add(("2 processes", f"python ({loop_name})", mode, result))

    env = node_env()
    if env is None:
        return rows
    counts = [str(plan.warmup), str(plan.rounds)]
    for mode, calls, conc in plan.modes():
        result = node_bench(env, ["both", str(calls), str(conc), *counts])
        add(("1 process", "tchannel-node (baseline)", mode, result))
    with child(["node", str(BENCH_JS), "serve"], env) as info:
        peer = info["hostPort"]
        for mode, calls, conc in plan.modes():
            result = node_bench(env, ["client", peer, str(calls), str(conc), *counts])
            add(("2 processes", "tchannel-node (baseline)", mode, result))
        for mode, calls, conc in plan.modes():
            result = run("uvloop", measure_calls(peer, calls, conc, plan))
            add(("2 processes", "python (uvloop) -> node server", mode, result))
    return rows


def report(rows: list[Row], plan: Plan) -> None:
    print()
    print("| set-up | client and server | mode | calls/s | p50 | p99 | CPU/call |")
    print("|---|---|---|---|---|---|---|")
    for setup, who, mode, result in rows:
        print(
            f"| {setup} | {who} | {mode} | {result.rate:,.0f} | {result.p50_us:,.0f} µs "
            f"| {result.p99_us:,.0f} µs | {cpu_text(setup, result)} |"
        )
    by_key = {(setup, who, mode): result for setup, who, mode, result in rows}
    print()
    for setup in ("1 process", "2 processes"):
        for mode, _, _ in plan.modes():
            base = by_key.get((setup, "tchannel-node (baseline)", mode))
            if base is None:
                continue
            for loop_name in LOOPS:
                ours = by_key[(setup, f"python ({loop_name})", mode)]
                print(
                    f"ratio python ({loop_name}) / tchannel-node, {setup}, {mode}: "
                    f"{ours.rate / base.rate:.2f}x"
                )
    seq = by_key[("1 process", "python (uvloop)", "sequential")].rate
    conc = by_key[("1 process", "python (uvloop)", f"{CONCURRENCY} in flight")].rate
    print()
    print(
        f"targets (1 process, uvloop): sequential {seq:,.0f}/s (>= 10,000: "
        f"{'met' if seq >= 10_000 else 'NOT met'}); {CONCURRENCY} in flight {conc:,.0f}/s "
        f"(>= 40,000: {'met' if conc >= 40_000 else 'NOT met'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer calls and rounds")
    parser.add_argument("--tls", action="store_true", help="plaintext against mutual TLS only")
    parser.add_argument("--serve", choices=LOOPS, help=argparse.SUPPRESS)
    parser.add_argument("--echo", choices=LOOPS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve or args.echo:
        gc.freeze()
        server = _serve_until_stdin_closes() if args.serve else _echo_until_stdin_closes()
        with asyncio.Runner(loop_factory=loop_factory(args.serve or args.echo)) as runner:
            runner.run(server)
        return
    if args.quick:
        plan = Plan(seq_calls=3_000, conc_calls=CONCURRENCY * 150, warmup=300, rounds=2)
    else:
        plan = Plan(seq_calls=10_000, conc_calls=CONCURRENCY * 400, warmup=1_000, rounds=5)
    print(
        f"TChannel benchmark: small JSON calls over one connection, best of {plan.rounds} "
        f"rounds ({os.cpu_count()} CPUs)"
    )
    if args.tls:
        measure_tls(plan)
        return
    report(measure_all(plan), plan)


if __name__ == "__main__":
    main()
