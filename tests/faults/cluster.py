"""A ringpop cluster in network namespaces: node processes, the observer, views.

:class:`FaultCluster` starts one node per host of a :class:`~tests.faults.netns.Fabric`
(``ip netns exec``), all on TChannel port 3000 with an HTTP front on 4000, from one
hosts file. Two programs, the same flags and the same ``GET /objects/<id>`` front:

* ``python``: ``examples/objects`` (ringpop for Python, aiohttp integration);
* ``node``: ``interop/node/http-front.js`` (ringpop-node 10.21.0, ``handleOrProxy``);
* ``mixed``: both in one cluster, alternately (the first host Python, the second
  ringpop-node, ...), so each half of a partition holds both; our nodes run
  ``--checksum-flavour=node`` to share ringpop-node's membership checksum.

The :class:`Observer` runs in the switch namespace and answers ``/admin/stats`` views
and forwarded-request counters (``tests.faults.observer``). Processes are stopped by
PID only; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.faults.netns import Fabric, Host

__all__ = [
    "NODE_PORT",
    "PROGRAMS",
    "FaultCluster",
    "Observer",
    "Periods",
    "View",
    "converged",
]

REPO = Path(__file__).resolve().parents[2]
NODE_PORT = 3000
HTTP_PORT = 4000
RELAY_PORT = 3999
OBSERVER_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 8.0
PROGRAMS = ("python", "node", "mixed")

View = dict[str, dict[str, Any]]
"""address -> ``{"checksum": int, "members": {address: status}}`` or ``{"error": text}``."""


@dataclass(frozen=True)
class Periods:
    """Membership periods in milliseconds, passed to both programs alike."""

    suspect_ms: int = 5000
    faulty_ms: int = 5000
    tombstone_ms: int = 5000

    def flags(self) -> list[str]:
        """The command-line flags."""
        return [
            f"--suspect-period={self.suspect_ms}",
            f"--faulty-period={self.faulty_ms}",
            f"--tombstone-period={self.tombstone_ms}",
        ]


def converged(view: View, addresses: Sequence[str]) -> bool:
    """Every node of ``addresses`` answered, with one checksum and all of them alive."""
    checksums = set()
    want = set(addresses)
    for address in addresses:
        node = view.get(address)
        if node is None or "error" in node:
            return False
        members: dict[str, str] = node["members"]
        if {a for a, s in members.items() if s == "alive"} != want or len(members) != len(want):
            return False
        checksums.add(node["checksum"])
    return len(checksums) == 1


class Observer:
    """The observer process in the switch namespace (JSON lines over its stdin/stdout)."""

    def __init__(self, fabric: Fabric, log: Path) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        with log.open("ab") as err:
            self._proc = subprocess.Popen(
                fabric.observer_argv([sys.executable, "-m", "tests.faults.observer"]),
                cwd=REPO,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
            )
        self._buffer = b""

    def request(self, message: dict[str, Any], timeout: float = OBSERVER_TIMEOUT_S) -> Any:
        """Send one request; its answer (``RuntimeError`` after ``timeout`` s)."""
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        self._proc.stdin.write((json.dumps(message) + "\n").encode())
        self._proc.stdin.flush()
        deadline = time.monotonic() + timeout
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"observer: no answer to {message.get('op')} in {timeout} s")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise RuntimeError(f"observer exited (status {self._proc.poll()})")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)

    def stats(self, addresses: Sequence[str], timeout: float = 1.0) -> View:
        """Every node's membership view."""
        answer: View = self.request(
            {"op": "stats", "addresses": list(addresses), "timeout": timeout}
        )["nodes"]
        return answer

    def load(self, fronts: Sequence[str], rate: float) -> None:
        """Send forwarded-request load to ``fronts`` (``[]`` stops it)."""
        self.request({"op": "load", "fronts": list(fronts), "rate": rate})

    def counters(self) -> dict[str, int]:
        """Load totals since start: ok, failed, forwarded, skipped."""
        answer: dict[str, int] = self.request({"op": "counters"})
        return answer

    def close(self) -> None:
        """Ask it to quit; kill it (by PID) if it does not."""
        with contextlib.suppress(Exception):
            self.request({"op": "quit"}, timeout=3.0)
        _stop_process(self._proc, signal.SIGTERM)


def _stop_process(proc: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    """Stop one child by PID: ``signum``, then SIGKILL; bounded."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGCONT)
        os.kill(proc.pid, signum)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=STOP_TIMEOUT_S)


def program_argv(program: str) -> list[str]:
    """The command (before the node flags) of ``program``."""
    if program == "python":
        return [
            sys.executable,
            "-m",
            "examples.objects",
            "--log-level=WARNING,ringpop.membership.verdicts=INFO",
        ]
    if program == "node":
        from tests.nodeenv import interop_script, node_binary, node_modules_dir

        node_modules_dir()
        return [node_binary(), str(interop_script("http-front.js"))]
    raise ValueError(f"unknown program {program!r}")


class FaultCluster:
    """``count`` nodes of ``program`` on a fresh :class:`Fabric`, plus the observer.

    Use as a context manager: everything (processes, relay, observer, namespaces) is
    stopped or deleted on the way out, whatever happened.
    """

    def __init__(
        self,
        count: int,
        program: str = "python",
        periods: Periods | None = None,
        *,
        tag: str = "",
        workdir: Path | None = None,
    ) -> None:
        if program not in PROGRAMS:
            raise ValueError(f"unknown program {program!r}")
        self.program = program
        self.periods = periods or Periods()
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="ringpop-faults-"))
        self.fabric = Fabric(count, tag=tag)
        self.hosts = self.fabric.hosts
        self.addresses = [f"{h.ip}:{NODE_PORT}" for h in self.hosts]
        self.fronts = [f"{h.ip}:{HTTP_PORT}" for h in self.hosts]
        self.hosts_file = self.workdir / "hosts.json"
        self.hosts_file.write_text(json.dumps(self.addresses))
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._relays: dict[str, subprocess.Popen[bytes]] = {}
        self.observer: Observer | None = None
        try:
            self.observer = Observer(self.fabric, self.workdir / "observer.log")
            for host in self.hosts:
                self.start(host)
        except BaseException:
            self.close()
            raise

    # -- processes -------------------------------------------------------------------

    def address(self, host: Host) -> str:
        """The ringpop address of ``host``'s node."""
        return f"{host.ip}:{NODE_PORT}"

    def program_of(self, host: Host) -> str:
        """The program ``host``'s node runs (``python`` or ``node``)."""
        if self.program != "mixed":
            return self.program
        return PROGRAMS[self.hosts.index(host) % 2]

    def start(self, host: Host) -> None:
        """Start (or restart) ``host``'s node."""
        program = self.program_of(host)
        # in a mixed cluster our nodes checksum as ringpop-node does (spec §12.2)
        mixed = self.program == "mixed" and program == "python"
        argv = [
            *program_argv(program),
            *(["--checksum-flavour=node"] if mixed else []),
            f"--listen={host.ip}:{NODE_PORT}",
            f"--hosts={self.hosts_file}",
            f"--http={host.ip}:{HTTP_PORT}",
            *self.periods.flags(),
        ]
        env = dict(os.environ, PYTHONPATH=str(REPO))
        with (self.workdir / f"{host.name}.log").open("ab") as log:
            self.procs[host.name] = subprocess.Popen(
                host.exec_argv(argv),
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def signal(self, host: Host, signum: signal.Signals) -> None:
        """Send ``signum`` to ``host``'s node (by PID)."""
        proc = self.procs[host.name]
        if proc.poll() is None:
            os.kill(proc.pid, signum)

    def kill(self, host: Host) -> None:
        """SIGKILL ``host``'s node and reap it (bounded)."""
        proc = self.procs[host.name]
        self.signal(host, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=STOP_TIMEOUT_S)

    def start_relay(self, host: Host, delay_ms: float) -> None:
        """Put a delaying relay on every TChannel connection of ``host`` (a slow link)."""
        env = dict(os.environ, PYTHONPATH=str(REPO))
        argv = [
            sys.executable,
            "-m",
            "tests.faults.relay",
            f"--port={RELAY_PORT}",
            f"--delay-ms={delay_ms}",
        ]
        log_path = self.workdir / f"{host.name}-relay.log"
        with log_path.open("ab") as log:
            relay = subprocess.Popen(
                host.exec_argv(argv),
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        self._relays[host.name] = relay
        assert relay.stdout is not None
        ready, _, _ = select.select([relay.stdout.fileno()], [], [], OBSERVER_TIMEOUT_S)
        if not ready or not relay.stdout.readline().startswith(b"relay ready"):
            raise RuntimeError(f"the relay of {host.name} did not start (see {log_path})")
        self.fabric.slow(host, NODE_PORT, RELAY_PORT)

    def relayed(self, host: Host) -> int:
        """How many connections ``host``'s relay has carried so far."""
        log = self.workdir / f"{host.name}-relay.log"
        if not log.exists():
            return 0
        return sum(1 for line in log.read_text().splitlines() if line.startswith("relayed "))

    def stop_relay(self, host: Host) -> None:
        """Take ``host``'s relay off the path and stop it."""
        self.fabric.unslow(host)
        relay = self._relays.pop(host.name, None)
        if relay is not None:
            _stop_process(relay, signal.SIGTERM)

    # -- views ---------------------------------------------------------------------------

    def view(self) -> View:
        """Every node's membership view now."""
        assert self.observer is not None
        return self.observer.stats(self.addresses)

    def wait(
        self,
        done: Callable[[View], bool],
        timeout: float,
        *,
        every: Callable[[View], None] | None = None,
        poll: float = 0.15,
    ) -> tuple[float | None, View]:
        """Poll views until ``done`` (seconds taken) or ``timeout`` (``None``); last view."""
        start = time.monotonic()
        view: View = {}
        for _ in range(int(timeout / poll) + 2):
            view = self.view()
            if every is not None:
                every(view)
            elapsed = time.monotonic() - start
            if done(view):
                return elapsed, view
            if elapsed >= timeout:
                break
            time.sleep(poll)
        return None, view

    def observe_for(self, seconds: float, every: Callable[[View], None]) -> View:
        """Poll views for ``seconds``, handing each to ``every``; the last one."""
        _, view = self.wait(lambda _v: False, seconds, every=every)
        return view

    def wait_converged(self, timeout: float) -> float | None:
        """Seconds until one checksum with every node alive, or ``None`` after ``timeout``."""
        took, _ = self.wait(lambda v: converged(v, self.addresses), timeout)
        return took

    # -- shutdown ------------------------------------------------------------------------

    def close(self) -> None:
        """Stop every process (by PID), the observer and the relays; delete the namespaces."""
        for proc in self.procs.values():
            _stop_process(proc, signal.SIGKILL)
        for relay in self._relays.values():
            _stop_process(relay, signal.SIGTERM)
        if self.observer is not None:
            self.observer.close()
            self.observer = None
        self.fabric.close()
        if self._own_workdir and not os.environ.get("RINGPOP_FAULTS_KEEP"):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> FaultCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
