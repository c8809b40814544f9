"""The ``cluster`` fixture: fake nodes plus one testpop process, torn down by PID."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.fakes import Cluster, load_schemas

MakeCluster = Callable[..., Awaitable[Cluster]]


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[MakeCluster]:
    """``await cluster(n, **flags)``: start n fakes and a SUT; checked and stopped after."""
    if load_schemas() is None:
        warnings.warn(
            "spec JSON schemas not found (set RINGPOP_SPEC_DIR or check out ../shared/spec "
            "next to the repository): the SUT's messages are not schema-checked",
            stacklevel=1,
        )
    started: list[Cluster] = []

    async def make(
        size: int, *, wait_for_ping: bool = True, bootstrap: bool = True, **options: Any
    ) -> Cluster:
        directory = tmp_path / f"cluster{len(started)}"
        directory.mkdir()
        made = Cluster(directory, size, **options)
        started.append(made)
        await made.start(wait_for_ping=wait_for_ping and bootstrap, bootstrap=bootstrap)
        return made

    yield make
    problems: list[str] = []
    for made in started:
        try:
            await made.close()
        finally:
            made.kill_now()
        if made.violations:
            problems += made.violations
            problems.append(made.log_tail())
    if problems:
        pytest.fail("protocol violations by the SUT:\n" + "\n".join(problems))
