"""Real clusters of ringpop processes on 127.0.0.1: start, observe, disturb, stop.

Used by the cluster tests, the mixed-cluster interop test and ``bench/cluster.py``.

* :class:`Cluster` starts ``testpop`` processes (and, for interop, ringpop-node's
  ``main.js`` through ``interop/node/ringpop-node.js``) on free 127.0.0.1 ports, each
  with the hosts file it is given, logging to files in a work directory;
* :class:`Admin` calls ``/admin/*`` endpoints over an ephemeral TChannel client;
* :func:`wait_until` polls ``/admin/stats`` on a set of nodes until a predicate
  holds, always with a deadline, and says what it last saw when it gives up.

Processes are only ever stopped by PID (``Popen.kill``/``send_signal``), never by
name. :meth:`Cluster.stop_all` is meant for ``finally`` blocks and fixtures.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ringpop.tchannel import Channel, TChannelError

__all__ = [
    "REPO_ROOT",
    "Admin",
    "Cluster",
    "ClusterError",
    "Kind",
    "NodeProc",
    "Snapshot",
    "Stats",
    "alive_members",
    "allocate_ports",
    "converged",
    "describe",
    "member_incarnation",
    "member_status",
    "wait_until",
    "write_hosts",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_LAUNCHER = REPO_ROOT / "interop" / "node" / "ringpop-node.js"

Kind = Literal["python", "node"]
Stats = dict[str, Any]
Snapshot = dict[str, Stats | None]
"""address -> its ``/admin/stats`` body, or ``None`` when it did not answer."""

# Ports outside Linux's ephemeral range (32768-60999), so outgoing connections of
# other processes never take them between our check and the node's bind.
_PORT_RANGE = (20000, 32000)
_taken_ports: set[int] = set()


class ClusterError(AssertionError):
    """A cluster did not do what a test waited for (carries the evidence)."""


def allocate_ports(count: int, *, rng: random.Random | None = None) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 right now (never reused here)."""
    rng = rng or random.Random()
    ports: list[int] = []
    for _ in range(count * 200):
        if len(ports) == count:
            return ports
        port = rng.randrange(*_PORT_RANGE)
        if port in _taken_ports:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _taken_ports.add(port)
        ports.append(port)
    raise ClusterError(f"could not find {count} free ports in {_PORT_RANGE}")


def write_hosts(path: Path, addresses: Iterable[str]) -> None:
    """Write a hosts file (JSON array) atomically: readers never see half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(list(addresses)))
    os.replace(tmp, path)


def testpop_command() -> list[str]:
    """How to run ``testpop`` with the interpreter running us."""
    script = Path(sys.executable).parent / "testpop"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "ringpop.cli.testpop"]


@dataclass
class NodeProc:
    """One ringpop process we started."""

    address: str
    kind: Kind
    argv: list[str]
    log: Path
    popen: subprocess.Popen[bytes]
    started_at: float = field(default_factory=time.monotonic)
    killed: bool = False
    """Set by :meth:`kill`: its exit is expected."""

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL (``kill -9``) and reap."""
        self.killed = True
        if self.popen.poll() is None:
            self.popen.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)

    def pause(self) -> None:
        """SIGSTOP."""
        self.popen.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT."""
        self.popen.send_signal(signal.SIGCONT)

    def log_tail(self, chars: int = 1500) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError as error:
            return f"(no log: {error})"
        return text[-chars:]

    def cpu_seconds(self) -> float:
        """utime + stime of the process so far (``/proc/<pid>/stat``)."""
        raw = Path(f"/proc/{self.pid}/stat").read_text()
        fields = raw[raw.rindex(")") + 2 :].split()
        # Fields after the command: state is field 3, utime 14, stime 15 (1-based).
        utime, stime = int(fields[11]), int(fields[12])
        return (utime + stime) / os.sysconf("SC_CLK_TCK")

    def rss_bytes(self) -> int:
        """Resident set size now (``/proc/<pid>/status`` VmRSS)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise ClusterError(f"no VmRSS for pid {self.pid}")


class Cluster:
    """Processes started in ``workdir``; stop them all with :meth:`stop_all`.

    ``suspect_ms``/``faulty_ms``/``tombstone_ms`` are passed to every node;
    ``python_args`` are extra ``testpop`` flags (e.g. ``--checksum-flavour=node``).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        suspect_ms: int = 5000,
        faulty_ms: int = 5000,
        tombstone_ms: int = 5000,
        python_args: Sequence[str] = (),
        log_level: str = "INFO",
    ) -> None:
        self.workdir = workdir
        self.suspect_ms = suspect_ms
        self.faulty_ms = faulty_ms
        self.tombstone_ms = tombstone_ms
        self.python_args = list(python_args)
        self.log_level = log_level
        self.procs: list[NodeProc] = []
        self._generation = 0

    # -- starting ----------------------------------------------------------------

    def hosts_file(self, name: str, addresses: Iterable[str]) -> Path:
        """Write ``workdir/<name>`` with ``addresses``; its path."""
        path = self.workdir / name
        write_hosts(path, addresses)
        return path

    def _argv(self, kind: Kind, address: str, hosts: Path) -> list[str]:
        flags = [
            f"--listen={address}",
            f"--hosts={hosts}",
            f"--suspect-period={self.suspect_ms}",
            f"--faulty-period={self.faulty_ms}",
            f"--tombstone-period={self.tombstone_ms}",
        ]
        if kind == "python":
            return [*testpop_command(), *flags, *self.python_args, f"--log-level={self.log_level}"]
        node = shutil.which("node")
        if node is None:
            raise ClusterError("node is not installed")
        return [node, str(NODE_LAUNCHER), *flags]

    def spawn(
        self, address: str, hosts: Path, kind: Kind = "python", *, extra_args: Sequence[str] = ()
    ) -> NodeProc:
        """Start one node listening on ``address`` and bootstrapping from ``hosts``
        (``extra_args``: more flags for this node only)."""
        return self._start(kind, address, [*self._argv(kind, address, hosts), *extra_args])

    def _start(self, kind: Kind, address: str, argv: list[str]) -> NodeProc:
        self._generation += 1
        log = self.workdir / f"{kind}-{address.replace(':', '_')}-{self._generation}.log"
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        # Cache bytecode like any installed package does: without it every start
        # compiles ringpop's modules again (~60 ms of CPU per process).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        with log.open("wb") as out:
            popen = subprocess.Popen(
                argv,
                cwd=NODE_LAUNCHER.parent if kind == "node" else REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL if kind == "python" else out,
                stderr=out,
                env=env,
            )
        proc = NodeProc(address, kind, argv, log, popen)
        self.procs.append(proc)
        return proc

    def start(
        self, count: int, kind: Kind = "python", *, hosts_name: str = "hosts.json"
    ) -> list[NodeProc]:
        """``count`` nodes on fresh ports sharing one hosts file that lists them all."""
        addresses = [f"127.0.0.1:{port}" for port in allocate_ports(count)]
        hosts = self.hosts_file(hosts_name, addresses)
        return [self.spawn(address, hosts, kind) for address in addresses]

    def restart(self, proc: NodeProc) -> NodeProc:
        """Start ``proc``'s command again (same address and flags); ``proc`` must be dead."""
        if proc.running():
            raise ClusterError(f"{proc.address} (pid {proc.pid}) is still running")
        return self._start(proc.kind, proc.address, proc.argv)

    # -- stopping ----------------------------------------------------------------

    def stop_all(self) -> None:
        """SIGKILL every process we started (resuming stopped ones is not needed)."""
        for proc in self.procs:
            if proc.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.popen.kill()
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=10)

    def check_running(self, procs: Iterable[NodeProc] | None = None) -> None:
        """Raise with the log of any process that exited without being killed."""
        for proc in self.procs if procs is None else procs:
            code = proc.popen.poll()
            if code is not None and not proc.killed:
                raise ClusterError(
                    f"{proc.kind} node {proc.address} (pid {proc.pid}) exited with {code}:\n"
                    f"{proc.log_tail()}"
                )

    def logs(self, procs: Iterable[NodeProc] | None = None, chars: int = 800) -> str:
        """The tails of the logs, for failure messages."""
        return "\n".join(
            f"--- {p.kind} {p.address} pid {p.pid}\n{p.log_tail(chars)}"
            for p in (self.procs if procs is None else procs)
        )


class Admin:
    """Admin calls to ringpop nodes over one ephemeral TChannel client."""

    def __init__(self, *, timeout: float = 1.0, concurrency: int = 64) -> None:
        self.channel = Channel()
        self.timeout = timeout
        self._limit = asyncio.Semaphore(concurrency)

    async def __aenter__(self) -> Admin:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.channel.close()

    async def call(
        self, address: str, endpoint: str, body: Any = None, *, timeout: float | None = None
    ) -> Any:
        """Call ``endpoint`` on ``address`` (``as=raw``); the parsed JSON answer."""
        async with self._limit:
            return await self.channel.call_json(
                address,
                "ringpop",
                endpoint,
                body,
                timeout=self.timeout if timeout is None else timeout,
                scheme="raw",
            )

    async def stats(self, address: str, *, timeout: float | None = None) -> Stats | None:
        """``/admin/stats`` of ``address``, or ``None`` if it does not answer."""
        try:
            result = await self.call(address, "/admin/stats", timeout=timeout)
        except (TChannelError, OSError):
            return None
        return result if isinstance(result, dict) else None

    async def snapshot(self, addresses: Iterable[str], *, timeout: float | None = None) -> Snapshot:
        """``/admin/stats`` of every address, fetched concurrently."""
        addresses = list(addresses)
        results = await asyncio.gather(*(self.stats(a, timeout=timeout) for a in addresses))
        return dict(zip(addresses, results, strict=True))

    async def lookup(self, address: str, key: str) -> str:
        """``/admin/lookup`` of ``key`` at ``address``."""
        result = await self.call(address, "/admin/lookup", {"key": key})
        if not isinstance(result, dict) or not isinstance(result.get("dest"), str):
            raise ClusterError(f"/admin/lookup on {address} answered {result!r}")
        return str(result["dest"])


# -- reading snapshots -----------------------------------------------------------------


def member_status(stats: Stats, address: str) -> str | None:
    """The status ``stats`` shows for ``address`` (``None`` when unknown)."""
    for member in stats["membership"]["members"]:
        if member["address"] == address:
            return str(member["status"])
    return None


def member_incarnation(stats: Stats, address: str) -> int | None:
    """The incarnation ``stats`` shows for ``address`` (``None`` when unknown)."""
    for member in stats["membership"]["members"]:
        if member["address"] == address:
            return int(member["incarnationNumber"])
    return None


def alive_members(stats: Stats) -> set[str]:
    """Addresses ``stats`` shows as alive."""
    return {m["address"] for m in stats["membership"]["members"] if m["status"] == "alive"}


def converged(snapshot: Snapshot, alive: Iterable[str]) -> bool:
    """Every node answered with one membership checksum and one ring checksum, shows
    exactly ``alive`` as alive members and has exactly them in its ring."""
    expected = set(alive)
    if not snapshot or any(s is None for s in snapshot.values()):
        return False
    stats = [s for s in snapshot.values() if s is not None]
    return (
        len({s["membership"]["checksum"] for s in stats}) == 1
        and len({s["ring"]["checksum"] for s in stats}) == 1
        and all(alive_members(s) == expected for s in stats)
        and all(set(s["ring"]["servers"]) == expected for s in stats)
    )


def describe(snapshot: Snapshot) -> str:
    """A compact view of a snapshot for failure messages."""
    lines = []
    for address, stats in snapshot.items():
        if stats is None:
            lines.append(f"{address}: no answer")
            continue
        members = ", ".join(
            f"{m['address'].rsplit(':', 1)[1]}={m['status']}@{m['incarnationNumber']}"
            for m in stats["membership"]["members"]
        )
        lines.append(
            f"{address}: checksum {stats['membership']['checksum']} "
            f"ring {stats['ring']['checksum']} [{members}]"
        )
    return "\n".join(lines)


async def wait_until(
    admin: Admin,
    addresses: Iterable[str],
    predicate: Callable[[Snapshot], bool],
    *,
    timeout: float,
    interval: float = 0.1,
    what: str = "the cluster to converge",
    cluster: Cluster | None = None,
    on_snapshot: Callable[[Snapshot], Awaitable[None] | None] | None = None,
) -> Snapshot:
    """Poll ``/admin/stats`` of ``addresses`` until ``predicate`` holds; that snapshot.

    Raises :class:`ClusterError` after ``timeout`` seconds, with the last snapshot and
    the logs of ``cluster``; also as soon as a process of ``cluster`` has exited.
    """
    addresses = list(addresses)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    snapshot: Snapshot = {}
    while True:
        snapshot = await admin.snapshot(addresses, timeout=min(1.0, admin.timeout))
        if on_snapshot is not None:
            result = on_snapshot(snapshot)
            if result is not None:
                await result
        if predicate(snapshot):
            return snapshot
        if cluster is not None:
            cluster.check_running(p for p in cluster.procs if p.address in addresses)
        if loop.time() >= deadline:
            logs = f"\n{cluster.logs()}" if cluster is not None else ""
            raise ClusterError(
                f"timed out after {timeout:.1f} s waiting for {what}; last seen:\n"
                f"{describe(snapshot)}{logs}"
            )
        await asyncio.sleep(interval)


def statuses_of(snapshot: Snapshot, address: str) -> Mapping[str, str | None]:
    """What each answering node says about ``address``."""
    return {
        observer: member_status(stats, address)
        for observer, stats in snapshot.items()
        if stats is not None
    }
