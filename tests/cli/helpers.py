"""Process helpers for the command-line tests: clusters, children, PIDs, waits (all bounded)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from ringpop.admin.client import AdminClient, AdminError, NodeStats
from ringpop.cli import admin

REPO_ROOT = Path(__file__).resolve().parents[2]
STOP_TIMEOUT_S = 10.0
# Started while other suites run on the same two cores: generous, but bounded.
CONVERGE_TIMEOUT_S = 25.0


def free_ports(count: int) -> list[int]:
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for sock in socks:
            sock.close()


def start_nodes(
    argv_prefix: Sequence[str], addresses: Sequence[str], workdir: Path, *, cwd: Path | None = None
) -> list[subprocess.Popen[bytes]]:
    """Start one node per address with testpop's flags; output in workdir/*.log."""
    return start_each([(argv_prefix, cwd)] * len(addresses), addresses, workdir)


def start_each(
    commands: Sequence[tuple[Sequence[str], Path | None]], addresses: Sequence[str], workdir: Path
) -> list[subprocess.Popen[bytes]]:
    """Start a node per address, each with its own ``(argv prefix, cwd)``, all from one
    hosts file, with testpop's flags; output in workdir/*.log."""
    hosts = workdir / "hosts.json"
    hosts.write_text(json.dumps(list(addresses)))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for (argv_prefix, cwd), address in zip(commands, addresses, strict=True):
            log = workdir / f"node-{address.replace(':', '_')}.log"
            with log.open("wb") as out:
                procs.append(
                    subprocess.Popen(
                        [*argv_prefix, f"--listen={address}", f"--hosts={hosts}"],
                        cwd=cwd,
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
    except BaseException:
        stop(procs)
        raise
    return procs


def admin_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    """``ringpop admin ARGS --json``'s document (the command must succeed)."""
    status = admin.main([*args, "--json"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return json.loads(captured.out)


def testpop_argv() -> list[str]:
    return [sys.executable, "-m", "ringpop.cli.testpop"]


def stop(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    """SIGTERM the processes we started (by PID), SIGKILL after a bound."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)


async def _all_stats(addresses: Sequence[str]) -> dict[str, NodeStats | AdminError]:
    async with AdminClient(timeout=1.5) as client:
        return await client.stats_many(addresses)


def converged(addresses: Sequence[str]) -> tuple[bool, str]:
    """Whether every node answers with one checksum and sees exactly ``addresses`` alive."""
    results = asyncio.run(_all_stats(addresses))
    errors = [str(r) for r in results.values() if isinstance(r, AdminError)]
    if errors:
        return False, "; ".join(errors)
    stats = [r for r in results.values() if isinstance(r, NodeStats)]
    checksums = {s.membership_checksum for s in stats}
    views = {s.alive_addresses() for s in stats}
    ok = len(checksums) == 1 and views == {frozenset(addresses)}
    return ok, f"checksums {sorted(checksums)}, alive views {[sorted(v) for v in views]}"


def wait_for(
    condition: Callable[[], tuple[bool, str]], timeout: float, what: str, interval: float = 0.25
) -> None:
    """Poll ``condition`` until true; AssertionError with its last explanation otherwise."""
    deadline = time.monotonic() + timeout
    detail = ""
    while True:
        ok, detail = condition()
        if ok:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached within {timeout:.0f} s: {detail}")
        time.sleep(interval)


def wait_converged(addresses: Sequence[str], logs: Path | None = None) -> None:
    try:
        wait_for(lambda: converged(addresses), CONVERGE_TIMEOUT_S, "convergence")
    except AssertionError as error:
        tails = ""
        if logs is not None:
            tails = "\n".join(
                f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}"
                for p in sorted(logs.glob("*.log"))
            )
        raise AssertionError(f"{error}\n{tails}") from None


def children_of(pid: int) -> set[int]:
    """PIDs of the live direct children of ``pid`` (Linux /proc)."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may contain spaces, so split after ')'.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def _cmdline(pid: int) -> str | None:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None


def process_gone(pid: int, cmdline: str | None) -> bool:
    """Whether ``pid`` no longer runs the program it ran (``cmdline`` as seen before)."""
    now = _cmdline(pid)
    if now is None:
        return True
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z" or now != cmdline


def snapshot(pids: set[int]) -> dict[int, str | None]:
    """``pid -> cmdline`` for later :func:`assert_all_gone`."""
    return {pid: _cmdline(pid) for pid in pids}


def assert_all_gone(processes: dict[int, str | None], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        alive = [pid for pid, cmd in processes.items() if not process_gone(pid, cmd)]
        if not alive:
            return
        if time.monotonic() >= deadline:
            for pid in alive:  # leave nothing behind, then fail
                with contextlib.suppress(OSError):
                    os.kill(pid, 9)
            raise AssertionError(f"child processes still running: {alive}")
        time.sleep(0.1)


def run_cli(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run the real ``ringpop`` entry point (``python -m ringpop.cli.main``)."""
    return subprocess.run(
        [sys.executable, "-m", "ringpop.cli.main", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=REPO_ROOT,
    )
