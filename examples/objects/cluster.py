"""Start a local 3-node cluster of the objects example and ask it a few questions.

::

    python -m examples.objects.cluster [--base-port 3000] [--keep]

Nodes listen on 127.0.0.1:3000-3002 (TChannel) and 127.0.0.1:4000-4002 (HTTP). It
asks every node for a few objects and prints who answered, then keeps running
with ``--keep`` (Ctrl-C stops the nodes with SIGTERM: they self-evict).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _get(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as answer:
        body: dict[str, object] = json.loads(answer.read())
        return body


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-port", type=int, default=3000)
    parser.add_argument("--keep", action="store_true", help="keep running until Ctrl-C")
    args = parser.parse_args()
    ports = [args.base_port + i for i in range(3)]
    workdir = Path(tempfile.mkdtemp(prefix="ringpop-objects-"))
    hosts = workdir / "hosts.json"
    hosts.write_text(json.dumps([f"127.0.0.1:{port}" for port in ports]))
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    )
    procs = []
    for port in ports:
        log = open(workdir / f"node-{port}.log", "wb")  # noqa: SIM115 - kept for the child
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "examples.objects.node",
                    f"--listen=127.0.0.1:{port}",
                    f"--hosts={hosts}",
                    "--log-level=WARNING",
                ],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    print(f"nodes started (logs in {workdir}); waiting for them to be ready")
    try:
        deadline = time.monotonic() + 30
        for port in ports:
            while True:
                try:
                    if _get(f"http://127.0.0.1:{port + 1000}/")["ready"]:
                        break
                except (OSError, urllib.error.URLError):
                    pass
                if time.monotonic() > deadline:
                    print("the cluster did not start; see the logs", file=sys.stderr)
                    return 1
                time.sleep(0.2)
        for object_id in ("abc", "def", "ghi", "jkl"):
            for port in ports:
                answer = _get(f"http://127.0.0.1:{port + 1000}/objects/{object_id}")
                via = f"forwarded by {answer['forwarded_by']}" if answer["forwarded"] else "local"
                print(f"GET :{port + 1000}/objects/{object_id} -> {answer['handled_by']} ({via})")
        if args.keep:
            print("running; Ctrl-C to stop")
            signal.signal(signal.SIGTERM, _interrupt)
            while True:
                signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
