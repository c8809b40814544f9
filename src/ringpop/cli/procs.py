"""Child node processes of tick-cluster: start, kill, suspend, resume, stop — by PID only.

Every child is started in its own session (so a Ctrl-C in the terminal reaches only
tick-cluster, which then stops the children in order) with stdin closed and its output
in a log file. On Linux the child also asks the kernel to SIGKILL it if tick-cluster
dies without cleaning up (``PR_SET_PDEATHSIG``), so even ``kill -9`` of tick-cluster
leaves no node behind. Signals are only ever sent to a child that has not been reaped
yet, so the PID cannot have been reused by another process.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["NodeProcess", "PortsError", "ProcessGroup", "StopReport", "allocate_ports"]

_PR_SET_PDEATHSIG = 1


class PortsError(RuntimeError):
    """No usable ports for the cluster."""


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def allocate_ports(
    count: int,
    base: int | None,
    *,
    default_base: int = 3000,
    avoid: frozenset[int] = frozenset(),
) -> list[int]:
    """``count`` TCP ports on 127.0.0.1 that are free right now (and not in ``avoid``).

    ``base`` 0: any free ports (chosen by the kernel). ``base`` N: exactly N..N+count-1,
    or :class:`PortsError` naming the busy ones. ``base`` None: ``default_base``.. if
    free, else the next free run of ``count`` consecutive ports above it.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    if base == 0:
        socks: list[socket.socket] = []
        try:
            while len(socks) < count + len(avoid):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(sock)
                sock.bind(("127.0.0.1", 0))
                chosen = [int(s.getsockname()[1]) for s in socks]
                usable = [p for p in chosen if p not in avoid]
                if len(usable) == count:
                    return sorted(usable)
            raise PortsError(f"could not find {count} free ports on 127.0.0.1")
        finally:
            for sock in socks:
                sock.close()
    start = default_base if base is None else base
    if not 1 <= start <= 65536 - count:
        raise PortsError(f"ports {start}..{start + count - 1} are out of range")

    def busy_in(run: range) -> list[int]:
        return [p for p in run if p in avoid or not _port_free(p)]

    if base is not None:
        busy = busy_in(range(start, start + count))
        if busy:
            raise PortsError(
                f"port{'s' if len(busy) > 1 else ''} {', '.join(map(str, busy))} on 127.0.0.1 "
                f"already in use; choose another base port (0 picks free ports)"
            )
        return list(range(start, start + count))
    candidate = start
    while candidate <= 65536 - count:
        busy = busy_in(range(candidate, candidate + count))
        if not busy:
            return list(range(candidate, candidate + count))
        candidate = busy[-1] + 1
    raise PortsError(f"no {count} consecutive free ports on 127.0.0.1 from {start}")


def _death_signal_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` making the child die with its parent (Linux), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return hook


@dataclass
class NodeProcess:
    """One node of the cluster and its current process, if any."""

    index: int
    address: str
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    suspended: bool = False
    killed_by_us: bool = False
    starts: int = 0
    started_at: float = 0.0
    past_pids: list[int] = field(default_factory=list)

    @property
    def pid(self) -> int | None:
        return None if self.popen is None else self.popen.pid

    @property
    def running(self) -> bool:
        """Started and not exited (possibly suspended)."""
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def describe_exit(self) -> str:
        """``exited with status 1`` / ``killed by SIGKILL``."""
        code = self.returncode
        if code is None:
            return "running"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exited with status {code}"


@dataclass
class StopReport:
    """How :meth:`ProcessGroup.stop_all` went."""

    terminated: list[str] = field(default_factory=list)
    killed: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.terminated) + len(self.killed)


class ProcessGroup:
    """The node processes of one tick-cluster run."""

    def __init__(self, nodes: Sequence[NodeProcess], *, grace: float = 5.0) -> None:
        self.nodes = list(nodes)
        self.grace = grace
        self._hook = _death_signal_hook()
        self._stopped = False

    def start(self, node: NodeProcess) -> int:
        """Start ``node``'s program (it must not be running); its PID."""
        if node.running:
            raise RuntimeError(f"{node.address} is already running")
        if node.popen is not None:
            node.past_pids.append(node.popen.pid)
        with node.log_path.open("ab") as log:
            log.write(f"--- start {node.starts + 1}: {' '.join(node.argv)}\n".encode())
            log.flush()
            node.popen = subprocess.Popen(
                node.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=self._hook,  # only prctl + getppid: safe between fork and exec
                close_fds=True,
            )
        node.starts += 1
        node.started_at = time.monotonic()
        node.suspended = False
        node.killed_by_us = False
        return node.popen.pid

    def _signal(self, node: NodeProcess, signum: signal.Signals) -> bool:
        popen = node.popen
        if popen is None or popen.poll() is not None:
            return False
        try:
            popen.send_signal(signum)  # no-op once reaped: the PID is still ours here
        except ProcessLookupError:
            return False
        return True

    def kill(self, node: NodeProcess) -> bool:
        """SIGKILL ``node`` and reap it; whether it was running."""
        if not self._signal(node, signal.SIGKILL):
            return False
        node.killed_by_us = True
        node.suspended = False
        assert node.popen is not None
        with contextlib.suppress(subprocess.TimeoutExpired):
            node.popen.wait(timeout=5.0)
        return True

    def suspend(self, node: NodeProcess) -> bool:
        """SIGSTOP ``node``; whether it was running and not suspended."""
        if node.suspended or not self._signal(node, signal.SIGSTOP):
            return False
        node.suspended = True
        return True

    def resume(self, node: NodeProcess) -> bool:
        """SIGCONT ``node``; whether it was suspended."""
        if not node.suspended:
            return False
        node.suspended = False
        return self._signal(node, signal.SIGCONT)

    def stop_all(self, grace: float | None = None) -> StopReport:
        """Stop every running node: SIGCONT, SIGTERM, wait up to ``grace`` s, then SIGKILL.

        Idempotent; safe from ``finally`` blocks and ``atexit``.
        """
        report = StopReport()
        limit = self.grace if grace is None else grace
        running = [n for n in self.nodes if n.running]
        for node in running:
            if node.suspended:
                self._signal(node, signal.SIGCONT)
                node.suspended = False
            self._signal(node, signal.SIGTERM)
        deadline = time.monotonic() + limit
        pending = list(running)
        while pending and time.monotonic() < deadline:
            pending = [n for n in pending if n.running]
            if pending:
                time.sleep(0.05)
        for node in running:
            if node.running:
                self._signal(node, signal.SIGKILL)
                report.killed.append(node.address)
            else:
                report.terminated.append(node.address)
        for node in running:
            if node.popen is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    node.popen.wait(timeout=5.0)
        self._stopped = True
        return report

    def all_pids(self) -> list[int]:
        """Every PID this group ever started."""
        pids: list[int] = []
        for node in self.nodes:
            pids.extend(node.past_pids)
            if node.pid is not None:
                pids.append(node.pid)
        return pids
