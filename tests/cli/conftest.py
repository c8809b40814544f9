"""Fixtures of the command-line tests: live clusters started and stopped by PID."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.helpers import free_ports, start_nodes, stop, testpop_argv, wait_converged


@pytest.fixture(scope="module")
def testpop_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Three testpop processes on free 127.0.0.1 ports, converged."""
    workdir: Path = tmp_path_factory.mktemp("testpop-cluster")
    addresses = [f"127.0.0.1:{port}" for port in free_ports(3)]
    procs = start_nodes(testpop_argv(), addresses, workdir)
    try:
        wait_converged(addresses, workdir)
        yield sorted(addresses)
    finally:
        stop(procs)
