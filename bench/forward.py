"""Forwarding benchmark (issue 5): HTTP requests through a 3-node cluster, with wrk.

Three clusters of 3 nodes on 127.0.0.1, each node with an HTTP front answering
``GET /objects/{id}`` from the owner of ``id`` (a small JSON body saying who):

* **Python, lean front** - ``bench/lean_front.py``: a minimal HTTP/1.1 server on an
  asyncio protocol calling ``Ringpop.handle_or_proxy`` directly, the owner answering
  from the ``HttpRequest``; uvloop. What ringpop's forwarding costs without a web
  framework around it;
* **Python, aiohttp app** - ``examples/objects``: an ``aiohttp.web`` application with
  ringpop's aiohttp integration (middleware on the entry, the owner's app serving the
  forwarded request through its router and middlewares); uvloop;
* **Python, FastAPI / Starlette on uvicorn** - ``bench/asgi_front.py``: the ASGI
  integration (``wrap`` + ``route_key``, bootstrap in the lifespan) in a FastAPI
  and a Starlette app served by uvicorn (uvloop, httptools);
* **FastAPI / Starlette alone** - the same apps without ringpop's middleware
  (``asgi_front.py --alone``), local ids only: what the framework and server cost
  by themselves;
* **ringpop-node** (baseline) - ringpop-node 10.21.0 running
  ``interop/node/http-front.js`` (node's ``http`` server calling
  ``ringpop.handleOrProxy``, the ``request`` listener answering).

wrk (``-t2 -c32``, 10 s by default) hits one node of a cluster with two workloads:
``random`` ids (the node owns about 1/3 of them: about 2/3 are forwarded) and
``local`` ids (all owned by the node hit: no forwarding). Reported: requests/s,
p50 and p99 latency (wrk ``--latency``), non-2xx answers and socket errors, and
the CPU time the processes spent per request (entry node, whole cluster: less
sensitive than req/s to other work on a shared machine), and the Python/node
ratios. Each cluster gets a 2 s warm-up per workload; the implementations then run
alternately, round by round, and the round with the highest throughput of each is
kept (every round is printed as it ends).

wrk is a Debian package: if it is not on PATH and we are root with apt-get, it is
installed (``apt-get update`` then ``apt-get install -y wrk``); otherwise the
benchmark stops and says so. The ringpop-node baseline needs node and
``interop/node/setup.sh`` (run on demand); without node it is skipped.

Run: ``.venv/bin/python bench/forward.py [--duration 10] [--rounds 2] [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ringpop.ring import HashRing  # noqa: E402

NODE_DIR = REPO / "interop" / "node"
HTTP_FRONT_JS = NODE_DIR / "http-front.js"
LOCAL_KEYS = 2000


# -- wrk ------------------------------------------------------------------------------


def find_wrk() -> str:
    """wrk's path, installing the Debian package when it is missing and we may."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        sys.exit(
            "wrk is not installed and cannot be installed here (needs root and apt-get): "
            "install the 'wrk' package and run again"
        )
    print("wrk is not installed: running apt-get update && apt-get install -y wrk", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in ([apt, "update"], [apt, "install", "-y", "wrk"]):
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            sys.exit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    found = shutil.which("wrk")
    if not found:
        sys.exit("apt-get installed wrk but it is not on PATH")
    return found


@dataclass
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    cpu_us_entry: float = 0.0
    """CPU time (user + system) of the node hit, per request, in microseconds."""
    cpu_us_cluster: float = 0.0
    """CPU time of all three nodes per request."""


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"cannot read wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    total = re.search(r"(\d+) requests in", output)
    if not (rps and p50 and p99 and total):
        raise RuntimeError(f"cannot read wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkResult(
        float(rps.group(1)),
        _ms(p50.group(1)),
        _ms(p99.group(1)),
        int(total.group(1)),
        int(non_2xx.group(1)) if non_2xx else 0,
        sum(int(x) for x in errors.groups()) if errors else 0,
    )


def lua_random() -> str:
    return (
        "math.randomseed(os.time())\n"
        "request = function()\n"
        '  return wrk.format("GET", "/objects/id" .. math.random(1, 1000000))\n'
        "end\n"
    )


def lua_local(keys: Sequence[str]) -> str:
    table = ",".join(json.dumps(k) for k in keys)
    return (
        f"local keys = {{{table}}}\n"
        "math.randomseed(os.time())\n"
        "request = function()\n"
        '  return wrk.format("GET", "/objects/" .. keys[math.random(1, #keys)])\n'
        "end\n"
    )


def run_wrk(
    wrk: str, url: str, script: Path, *, duration: float, connections: int, threads: int
) -> WrkResult:
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration:g}s",
        "--latency",
        "--timeout",
        "5s",
        "-s",
        str(script),
        url,
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + 60, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return parse_wrk(result.stdout)


# -- clusters ---------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process so far (``/proc/<pid>/stat``)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_ports(count: int) -> list[int]:
    ports: list[int] = []
    sockets = []
    try:
        while len(ports) < count:
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            sockets.append(probe)
            ports.append(probe.getsockname()[1])
    finally:
        for probe in sockets:
            probe.close()
    return ports


@dataclass
class BenchCluster:
    name: str
    addresses: list[str]
    http: list[str]
    procs: list[subprocess.Popen[bytes]]
    logs: list[Path]
    local_only: bool = False
    """The fronts answer only the keys their node owns (no forwarding)."""

    def owner(self, key: str) -> str:
        ring = HashRing()
        for address in self.addresses:
            ring.add_server(address)
        found = ring.lookup(key)
        assert found is not None
        return found

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@contextmanager
def cluster(
    name: str, workdir: Path, command: Sequence[str], *, cwd: Path, local_only: bool = False
) -> Iterator[BenchCluster]:
    ports = free_ports(6)
    addresses = [f"127.0.0.1:{p}" for p in ports[:3]]
    http = [f"127.0.0.1:{p}" for p in ports[3:]]
    hosts = workdir / f"{name}-hosts.json"
    hosts.write_text(json.dumps(addresses))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    started = BenchCluster(name, addresses, http, procs, logs, local_only)
    try:
        for address, front in zip(addresses, http, strict=True):
            argv = [part.format(listen=address, hosts=hosts, http=front) for part in command]
            log = workdir / f"{name}-{address.replace(':', '_')}.log"
            logs.append(log)
            with log.open("wb") as out:
                procs.append(
                    subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
                )
        wait_ready(started)
        yield started
    finally:
        started.stop()


def _get_json(url: str) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            body: dict[str, object] = json.loads(answer.read())
            return body
    except (OSError, urllib.error.URLError, ValueError):
        return None


def wait_ready(started: BenchCluster, timeout: float = 60.0) -> None:
    """Every node answers and forwarding works: each node's front answers ids of all owners."""
    deadline = time.monotonic() + timeout
    probes = [f"probe{i}" for i in range(30)]
    while time.monotonic() < deadline:
        for proc, log in zip(started.procs, started.logs, strict=True):
            if proc.poll() is not None:
                raise RuntimeError(f"{started.name}: a node exited:\n{log.read_text()[-3000:]}")
        ok = True
        for address, front in zip(started.addresses, started.http, strict=True):
            for key in probes:
                if started.local_only and started.owner(key) != address:
                    continue
                body = _get_json(f"http://{front}/objects/{key}")
                if body is None or body.get("handled_by") != started.owner(key):
                    ok = False
                    break
            if not ok:
                break
        if ok:
            return
        time.sleep(0.3)
    raise RuntimeError(f"{started.name}: cluster not answering correctly after {timeout} s")


def node_available() -> str | None:
    """Why the node baseline cannot run, or ``None`` if it can."""
    node = shutil.which("node")
    if node is None:
        return "node is not installed"
    modules = NODE_DIR / "node_modules"
    if not (modules / "ringpop").is_dir() or not (modules / "tchannel").is_dir():
        print("installing the ringpop-node environment (interop/node/setup.sh)", flush=True)
        result = subprocess.run(
            ["bash", str(NODE_DIR / "setup.sh")],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        if result.returncode != 0:
            return f"interop/node/setup.sh failed:\n{result.stdout[-2000:]}"
    return None


# -- main ---------------------------------------------------------------------------------------


def fmt(result: WrkResult | None) -> tuple[str, ...]:
    if result is None:
        return ("-",) * 6
    return (
        f"{result.requests_per_s / 1000:.1f}k",
        f"{result.p50_ms:.2f} ms",
        f"{result.p99_ms:.2f} ms",
        f"{result.cpu_us_entry:.0f} us",
        f"{result.cpu_us_cluster:.0f} us",
        str(result.non_2xx + result.socket_errors),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run (10)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2, help="runs of each, best kept (2)")
    parser.add_argument("--quick", action="store_true", help="3 s runs, 1 round")
    parser.add_argument("--no-node", action="store_true", help="skip the ringpop-node baseline")
    parser.add_argument(
        "--only",
        help="comma-separated fronts to run (lean, aiohttp, fastapi, starlette, "
        "fastapi-alone, starlette-alone, node)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.rounds = 3.0, 1
    wrk = find_wrk()
    why_no_node = "--no-node" if args.no_node else node_available()
    if why_no_node:
        print(f"ringpop-node baseline skipped: {why_no_node}")

    lean_cmd = [
        sys.executable,
        str(REPO / "bench" / "lean_front.py"),
        "--listen={listen}",
        "--hosts={hosts}",
        "--http={http}",
    ]
    aiohttp_cmd = [
        sys.executable,
        "-m",
        "examples.objects.node",
        "--listen={listen}",
        "--hosts={hosts}",
        "--http={http}",
        "--log-level=WARNING",
    ]
    asgi_cmds = {
        f"{framework}{suffix}": [
            sys.executable,
            str(REPO / "bench" / "asgi_front.py"),
            f"--framework={framework}",
            "--listen={listen}",
            "--hosts={hosts}",
            "--http={http}",
            *(["--alone"] if suffix else []),
        ]
        for framework in ("fastapi", "starlette")
        for suffix in ("", "-alone")
    }
    node_cmd = [
        "node",
        str(HTTP_FRONT_JS),
        "--listen={listen}",
        "--hosts={hosts}",
        "--http={http}",
    ]
    best: dict[tuple[str, str], WrkResult] = {}
    with tempfile.TemporaryDirectory(prefix="ringpop-bench-forward-") as tmp:
        workdir = Path(tmp)
        scripts = {"random": workdir / "random.lua"}
        scripts["random"].write_text(lua_random())
        implementations = [
            ("lean", lean_cmd, REPO),
            ("aiohttp", aiohttp_cmd, REPO),
            ("fastapi", asgi_cmds["fastapi"], REPO),
            ("starlette", asgi_cmds["starlette"], REPO),
            ("fastapi-alone", asgi_cmds["fastapi-alone"], REPO),
            ("starlette-alone", asgi_cmds["starlette-alone"], REPO),
        ]
        if not why_no_node:
            implementations.append(("node", node_cmd, NODE_DIR))
        if args.only:
            wanted = set(args.only.split(","))
            implementations = [i for i in implementations if i[0] in wanted]
        clusters: dict[str, BenchCluster] = {}
        stack = []
        try:
            for name, command, cwd in implementations:
                manager = cluster(
                    name, workdir, command, cwd=cwd, local_only=name.endswith("-alone")
                )
                clusters[name] = manager.__enter__()
                stack.append(manager)
            for name, started in clusters.items():
                target = started.addresses[0]
                keys: list[str] = []
                i = 0
                while len(keys) < LOCAL_KEYS:
                    key = f"local{i}"
                    if started.owner(key) == target:
                        keys.append(key)
                    i += 1
                path = workdir / f"local-{name}.lua"
                path.write_text(lua_local(keys))
                scripts[f"local-{name}"] = path
            for round_number in range(args.rounds):
                for workload in ("random", "local"):
                    for name, started in clusters.items():
                        if workload == "random" and started.local_only:
                            continue
                        script = scripts["random" if workload == "random" else f"local-{name}"]
                        url = f"http://{started.http[0]}/"
                        if round_number == 0:  # warm up (JIT, connections, caches)
                            run_wrk(
                                wrk,
                                url,
                                script,
                                duration=2,
                                connections=args.connections,
                                threads=args.threads,
                            )
                        before = [cpu_seconds(p.pid) for p in started.procs]
                        result = run_wrk(
                            wrk,
                            url,
                            script,
                            duration=args.duration,
                            connections=args.connections,
                            threads=args.threads,
                        )
                        spent = [
                            cpu_seconds(p.pid) - b
                            for p, b in zip(started.procs, before, strict=True)
                        ]
                        result.cpu_us_entry = spent[0] / max(1, result.requests) * 1e6
                        result.cpu_us_cluster = sum(spent) / max(1, result.requests) * 1e6
                        print(
                            f"round {round_number + 1} {workload:6} {name:15} "
                            f"{result.requests_per_s:9.0f} req/s  p50 {result.p50_ms:6.2f} ms  "
                            f"p99 {result.p99_ms:7.2f} ms  CPU/request "
                            f"{result.cpu_us_entry:5.0f} us entry, "
                            f"{result.cpu_us_cluster:5.0f} us cluster  errors "
                            f"{result.non_2xx + result.socket_errors}",
                            flush=True,
                        )
                        previous = best.get((workload, name))
                        if previous is None or (result.requests_per_s, -result.p99_ms) > (
                            previous.requests_per_s,
                            -previous.p99_ms,
                        ):
                            best[(workload, name)] = result
        finally:
            for manager in reversed(stack):
                manager.__exit__(None, None, None)

    print()
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s against one node "
        f"of 3; best of {args.rounds} round(s)"
    )
    header = (
        "workload",
        "implementation",
        "req/s",
        "p50",
        "p99",
        "CPU/req entry",
        "CPU/req cluster",
        "errors",
    )
    rows = []
    for workload, label in (("random", "random ids (~2/3 forwarded)"), ("local", "local ids")):
        for name, title in (
            ("lean", "Python, lean front"),
            ("aiohttp", "Python, aiohttp app"),
            ("fastapi", "Python, FastAPI on uvicorn"),
            ("starlette", "Python, Starlette on uvicorn"),
            ("fastapi-alone", "FastAPI alone (no ringpop)"),
            ("starlette-alone", "Starlette alone (no ringpop)"),
            ("node", "ringpop-node"),
        ):
            if workload == "random" and name.endswith("-alone"):
                continue
            rows.append((label, title, *fmt(best.get((workload, name)))))
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    print()
    for workload in ("random", "local"):
        theirs = best.get((workload, "node"))
        for name in ("lean", "aiohttp", "fastapi", "starlette"):
            ours = best.get((workload, name))
            if ours and theirs:
                print(
                    f"{workload:6} {name:9} vs node: throughput "
                    f"{ours.requests_per_s / theirs.requests_per_s:.2f}x, "
                    f"p99 {ours.p99_ms / theirs.p99_ms:.2f}x, CPU/request at the entry "
                    f"{ours.cpu_us_entry / max(1e-9, theirs.cpu_us_entry):.2f}x, "
                    f"in the cluster "
                    f"{ours.cpu_us_cluster / max(1e-9, theirs.cpu_us_cluster):.2f}x"
                )
    for name in ("fastapi", "starlette"):
        wrapped, alone = best.get(("local", name)), best.get(("local", f"{name}-alone"))
        if wrapped and alone:
            print(
                f"local  {name:9} with ringpop vs alone: throughput "
                f"{wrapped.requests_per_s / alone.requests_per_s:.2f}x, CPU/request "
                f"{wrapped.cpu_us_entry:.0f} us vs {alone.cpu_us_entry:.0f} us "
                f"(ringpop's middleware: {wrapped.cpu_us_entry - alone.cpu_us_entry:+.0f} us)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
