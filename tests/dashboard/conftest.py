"""Fixtures of the dashboard tests: a headless Chromium, a 5-node cluster of real
testpop processes and ``ringpop dashboard`` processes, all stopped by PID."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.cli.helpers import REPO_ROOT, free_ports, start_nodes, stop, testpop_argv, wait_converged
from tests.dashboard.browser import find_browser, start_browser

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

# Short failure detection, so a killed node is suspect, then faulty (off the ring) fast.
SUSPECT_MS = 3000
FAULTY_MS = 60_000
PERIODS = [
    f"--suspect-period={SUSPECT_MS}",
    f"--faulty-period={FAULTY_MS}",
    "--tombstone-period=60000",
]
START_TIMEOUT_S = 20.0


class Cluster:
    """Started nodes: addresses (sorted) and their processes by address."""

    def __init__(self, procs: dict[str, subprocess.Popen[bytes]]) -> None:
        self.procs = procs
        self.addresses = sorted(procs)


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    """A headless Chromium (skipped, with the reason, when there is none)."""
    found = find_browser()
    if isinstance(found, str):
        pytest.skip(found)
    driver = start_browser(*found)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def cluster5(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Five testpop processes, converged."""
    workdir: Path = tmp_path_factory.mktemp("dashboard-cluster")
    addresses = [f"127.0.0.1:{port}" for port in free_ports(5)]
    procs = start_nodes([*testpop_argv(), *PERIODS], addresses, workdir)
    try:
        wait_converged(addresses, workdir)
        yield Cluster(dict(zip(addresses, procs, strict=True)))
    finally:
        stop(procs)


def start_dashboard(*seeds: str, interval: float = 0.25) -> tuple[subprocess.Popen[bytes], str]:
    """``ringpop dashboard SEEDS --port 0``; the process and the URL it printed."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ringpop.cli.main",
            "dashboard",
            *seeds,
            "--port",
            "0",
            "--interval",
            str(interval),
            "--timeout",
            "1",
        ],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    line = b""
    while time.monotonic() < deadline and not line.endswith(b"\n"):
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            line += chunk
    text = line.decode(errors="replace")
    if "http://" not in text:
        stop([proc])
        raise AssertionError(f"ringpop dashboard did not start: {text!r}")
    url = text.split("http://", 1)[1].split()[0]
    return proc, f"http://{url}"


@pytest.fixture
def dashboard() -> Iterator[Callable[..., str]]:
    """``dashboard(*seeds) -> url``; every dashboard started is stopped after the test."""
    procs: list[subprocess.Popen[bytes]] = []

    def make(*seeds: str, interval: float = 0.25) -> str:
        proc, url = start_dashboard(*seeds, interval=interval)
        procs.append(proc)
        return url

    try:
        yield make
    finally:
        stop(procs)
