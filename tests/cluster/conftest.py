"""Fixtures for the real-process cluster tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.procs import Admin, Cluster


@pytest.fixture
def make_cluster(tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    """``make_cluster(**Cluster kwargs)``; every process started through the clusters
    it made is SIGKILLed by PID when the test ends, whatever happened."""
    made: list[Cluster] = []

    def make(**kwargs: Any) -> Cluster:
        workdir = tmp_path / f"cluster{len(made)}"
        workdir.mkdir()
        cluster = Cluster(workdir, **kwargs)
        made.append(cluster)
        return cluster

    try:
        yield make
    finally:
        for cluster in made:
            cluster.stop_all()


@pytest.fixture
async def admin() -> AsyncIterator[Admin]:
    async with Admin(timeout=1.0) as client:
        yield client
