"""The ``cluster`` fixture: fake nodes plus one testpop process, torn down by PID."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.fakes import Cluster

MakeCluster = Callable[..., Awaitable[Cluster]]


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[MakeCluster]:
    """``await cluster(n, **flags)``: start n fakes and a SUT; checked and stopped after.

    Every message of the SUT is schema-checked: against our schemas always, and
    against the spec's copy of ringpop-common's too when it is checked out.
    """
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
