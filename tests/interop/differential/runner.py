"""Run cases against ringpop-node and testpop side by side; compare and summarise.

:func:`run_cases` starts one ringpop-node and one testpop target (each with its own
anchor), sends every case to both (the two targets concurrently, the cases one after
the other; ``/proxy/req`` cases, which never change the membership and which
ringpop-node leaves unanswered, all at once) and returns a :class:`CaseResult` per
case. :func:`summary` tabulates them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from tests.cluster.procs import Cluster
from tests.interop.differential.cases import Case
from tests.interop.differential.harness import FakeAddresses, Outcome, Target

__all__ = [
    "LIMIT_MUTATIONS",
    "ROTATE_EVERY",
    "CaseResult",
    "Run",
    "dump_run",
    "load_run",
    "run_cases",
    "summary",
]

LIMIT_MUTATIONS: Final = ("above-arg-limit", "oversized-list")
"""Cases beyond a documented size limit (16 MiB per message, 100 000 changes): ours
refuses them on purpose, so they are reported apart from decoding strictness."""
_PROXY_CONCURRENCY: Final = 32
ROTATE_EVERY: Final = 60
"""Cases after which both targets are replaced by fresh processes (also whenever the
kind changes): each case adds fresh members, and a large membership makes every
later case slower."""


@dataclass(slots=True)
class CaseResult:
    """One case and what each target did with it."""

    case: Case
    node: Outcome
    python: Outcome
    seconds: float = 0.0

    @property
    def over_limit(self) -> bool:
        return self.case.id.rsplit("/", 1)[-1] in LIMIT_MUTATIONS

    @property
    def stricter(self) -> bool:
        """Ours refused what ringpop-node accepted and kept working on."""
        return self.node.accepted and self.node.working and not self.python.accepted

    @property
    def differs(self) -> bool:
        """The targets disagree on acceptance, on working, or on the membership."""
        node, ours = self.node, self.python
        return (
            node.accepted != ours.accepted
            or node.working != ours.working
            or (node.working and ours.working and node.membership != ours.membership)
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "node": self.node.as_json(),
            "python": self.python.as_json(),
            "seconds": round(self.seconds, 3),
        }


@dataclass(slots=True)
class Run:
    """Every result plus bookkeeping."""

    results: list[CaseResult]
    seconds: float
    restarts: dict[str, int]


async def _proxy_batch(
    target: Target, cases: Sequence[Case], fakes: FakeAddresses
) -> list[Outcome]:
    """All ``/proxy/req`` cases at once, then one check of the target."""
    await target.refresh()
    before = dict(target.members)
    limit = asyncio.Semaphore(_PROXY_CONCURRENCY)

    async def one(case: Case) -> tuple[bool, str]:
        async with limit:
            accepted, detail, _ = await target.deliver(case, target.bindings(fakes.take(case)))
            return accepted, detail

    delivered = await asyncio.gather(*(one(case) for case in cases))
    working, why, membership, found = await target.observe(before, target.bindings({}), [])
    if not working:
        await target.restart()
    return [Outcome(a, d, working, why, membership, found) for a, d in delivered]


async def run_cases(cases: Sequence[Case], workdir: Path) -> Run:
    """Send ``cases`` to a ringpop-node and a testpop target; every result, in order."""
    started = time.monotonic()
    cluster = Cluster(workdir)
    node = Target("node", cluster, workdir)
    ours = Target("python", cluster, workdir)
    fakes = FakeAddresses()
    by_id: dict[str, CaseResult] = {}
    try:
        await asyncio.gather(node.start(), ours.start())
        proxy = [case for case in cases if case.kind == "proxy-head"]
        if proxy:
            node_side, our_side = await asyncio.gather(
                _proxy_batch(node, proxy, fakes), _proxy_batch(ours, proxy, fakes)
            )
            for case, n, o in zip(proxy, node_side, our_side, strict=True):
                by_id[case.id] = CaseResult(case, n, o)
        previous = None
        for index, case in enumerate(c for c in cases if c.kind != "proxy-head"):
            if index and (index % ROTATE_EVERY == 0 or case.kind != previous):
                await asyncio.gather(node.rotate(), ours.rotate())
            previous = case.kind
            addresses = fakes.take(case)
            began = time.monotonic()
            n, o = await asyncio.gather(node.run(case, addresses), ours.run(case, addresses))
            by_id[case.id] = CaseResult(case, n, o, time.monotonic() - began)
    finally:
        await asyncio.gather(node.close(), ours.close(), return_exceptions=True)
        cluster.stop_all()
    results = [by_id[case.id] for case in cases]
    return Run(
        results, time.monotonic() - started, {"node": node.restarts, "python": ours.restarts}
    )


def dump_run(run: Run) -> dict[str, Any]:
    """A run as JSON (``--json``)."""
    return {
        "seconds": run.seconds,
        "restarts": run.restarts,
        "results": {r.case.id: r.as_json() for r in run.results},
    }


def load_run(path: Path, cases: Sequence[Case]) -> Run:
    """The results of ``cases`` from a :func:`dump_run` file."""
    data = json.loads(path.read_text())
    found = data["results"]
    results = [
        CaseResult(
            case,
            Outcome(**found[case.id]["node"]),
            Outcome(**found[case.id]["python"]),
            found[case.id]["seconds"],
        )
        for case in cases
        if case.id in found
    ]
    return Run(results, data["seconds"], data["restarts"])


def summary(run: Run) -> str:
    """A table: cases, accepted/refused per side, stricter, forbidden states."""
    results = run.results
    lines = [f"differential: {len(results)} cases in {run.seconds:.1f} s"]
    header = f"{'':32}{'node':>10}{'python':>10}"
    lines.append(header)
    lines.append("-" * len(header))

    def row(label: str, node: int, ours: int) -> None:
        lines.append(f"{label:32}{node:>10}{ours:>10}")

    row("accepted", sum(r.node.accepted for r in results), sum(r.python.accepted for r in results))
    row(
        "refused",
        sum(not r.node.accepted for r in results),
        sum(not r.python.accepted for r in results),
    )
    row(
        "stopped working (restarted)",
        sum(not r.node.working for r in results),
        sum(not r.python.working for r in results),
    )
    row(
        "states outside spec §6",
        sum(bool(r.node.violations) for r in results),
        sum(bool(r.python.violations) for r in results),
    )
    lines.append("-" * len(header))
    stricter = [r for r in results if r.stricter and not r.over_limit]
    limited = [r for r in results if r.stricter and r.over_limit]
    lines.append(f"ours stricter than node: {len(stricter)}")
    lines.append(f"ours refuses over a documented size limit, node accepts: {len(limited)}")
    lines.append(
        f"node refuses or stops working, ours accepts: "
        f"{sum(r.python.accepted and not (r.node.accepted and r.node.working) for r in results)}"
    )
    lines.append(f"cases where the two differ: {sum(r.differs for r in results)}")
    lines.append(f"restarts: node {run.restarts['node']}, python {run.restarts['python']}")
    return "\n".join(lines)
