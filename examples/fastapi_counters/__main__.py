"""``python -m examples.fastapi_counters``: the counters service on 3 uvicorn nodes.

Writes a hosts file, starts one uvicorn process per node (TChannel 3000+i, HTTP
4000+i, or ``--base-port``), waits until every ``/ready`` answers 200 and prints
what to try. SIGINT/SIGTERM (or ``--duration``) stops them: each node self-evicts
and exits.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HTTP_OFFSET = 1000


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=0.5) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    """Start the nodes, wait, stop them; the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--nodes", type=int, default=3)
    parser.add_argument("--base-port", type=int, default=3000, help="first TChannel port")
    parser.add_argument("--duration", type=float, default=None, help="stop after S seconds")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="ringpop-counters-"))
    addresses = [f"127.0.0.1:{args.base_port + i}" for i in range(args.nodes)]
    hosts = workdir / "hosts.json"
    hosts.write_text(json.dumps(addresses))
    root = Path(__file__).resolve().parents[2]
    procs: list[subprocess.Popen[bytes]] = []
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for address in addresses:
        port = int(address.rsplit(":", 1)[1]) + HTTP_OFFSET
        env = {**os.environ, "RINGPOP_LISTEN": address, "RINGPOP_HOSTS": str(hosts)}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
        log = (workdir / f"{port}.log").open("wb")
        command = [sys.executable, "-m", "uvicorn", "examples.fastapi_counters.app:app"]
        command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
        procs.append(subprocess.Popen(command, env=env, stdout=log, stderr=log, cwd=root))
    ports = [int(a.rsplit(":", 1)[1]) + HTTP_OFFSET for a in addresses]
    print(f"# {args.nodes} uvicorn nodes, logs in {workdir}", flush=True)
    deadline = time.monotonic() + 30
    while not stopping and time.monotonic() < deadline and not all(map(_ready, ports)):
        time.sleep(0.2)
    if all(map(_ready, ports)):
        print(f"# ready: HTTP on 127.0.0.1:{ports[0]}-{ports[-1]}", flush=True)
        print(f"#   curl -X POST http://127.0.0.1:{ports[0]}/counters/alpha/incr", flush=True)
        print(f"#   curl http://127.0.0.1:{ports[-1]}/counters/alpha", flush=True)
        print(f"#   curl http://127.0.0.1:{ports[0]}/metrics", flush=True)
    else:
        print("# not every node became ready; see the logs", flush=True)
    end = None if args.duration is None else time.monotonic() + args.duration
    while not stopping and (end is None or time.monotonic() < end):
        time.sleep(0.1)
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    print(f"# stopped {len(procs)} nodes", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
