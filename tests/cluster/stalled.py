"""A real cluster with one stalled node, Lifeguard off or on: false suspicions counted.

Shared by ``tests/cluster/test_lifeguard_processes.py`` and ``bench/lifeguard.py
--processes``. :func:`run_stalled_cluster` starts ``size`` ``testpop`` processes on
127.0.0.1 with tight failure-detection timeouts, one of them blocking its own event
loop (``--stall-ms``: a real ``time.sleep`` in a loop callback, once it has joined),
waits until every node knows every member and the healthy ones are alive
everywhere, lets it settle, then counts for ``seconds``. Nothing is down, so every
suspicion and every faulty declaration is false.

Counts come from each node's ``/admin/lifeguard`` ``counts`` (accepted ``suspect``
/ ``faulty`` updates per member, :mod:`ringpop.admin.lifeguard`), read from every
node at the start and at the end of the window and summed over observers, split into
the stalled node and the healthy ones - the same measure as the in-process
``bench/lifeguard.py``. The local health multipliers are polled during the window.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ringpop.tchannel import TChannelError
from tests.cluster.procs import (
    Admin,
    Cluster,
    ClusterError,
    Snapshot,
    allocate_ports,
    wait_until,
)

__all__ = [
    "DECLARED_KEYS",
    "KEYS",
    "LIFEGUARD_FLAGS",
    "PING_REQ_TIMEOUT_MS",
    "PING_TIMEOUT_MS",
    "SUSPECT_MS",
    "TIGHT_FLAGS",
    "StallRun",
    "run_stalled_cluster",
]

PING_TIMEOUT_MS = 100
PING_REQ_TIMEOUT_MS = 250
SUSPECT_MS = 500
"""suspect -> faulty with Lifeguard off; Lifeguard's minimum (2.5 x log10(10) x 200 ms)."""
LIFEGUARD_SUSPICION_MULT = 2.5
TIGHT_FLAGS = (f"--ping-timeout={PING_TIMEOUT_MS}", f"--ping-req-timeout={PING_REQ_TIMEOUT_MS}")
LIFEGUARD_FLAGS = ("--lifeguard", f"--lifeguard-suspicion-mult={LIFEGUARD_SUSPICION_MULT:g}")
FAULTY_MS = 86_400_000
TOMBSTONE_MS = 60_000
"""The library's faulty and tombstone periods (a false faulty member is not evicted)."""

KEYS = ("suspect_healthy", "faulty_healthy", "suspect_stalled", "faulty_stalled")
"""Accepted updates, summed over observers (the in-process bench's measure)."""
DECLARED_KEYS = (
    "declared_suspect_healthy",
    "declared_faulty_healthy",
    "declared_suspect_stalled",
    "declared_faulty_stalled",
)
"""Independent declarations (an observer's own failed probe or suspect timer)."""
_POLL_S = 0.5
_ADMIN_TIMEOUT_S = 2.0


@dataclass
class StallRun:
    """What one run counted (totals over the window, summed over observers)."""

    lifeguard: bool
    stalled: str
    seconds: float = 0.0
    """Length of the counting window."""
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KEYS + DECLARED_KEYS, 0))
    lhm_peak_stalled: int = 0
    lhm_peak_healthy: int = 0

    def per_minute(self, key: str) -> float:
        """``counts[key]`` per minute of the window."""
        return self.counts[key] * 60.0 / self.seconds if self.seconds > 0 else 0.0

    def count(self, before: CountsByObserver, now: CountsByObserver) -> None:
        """Set :attr:`counts` to what was accepted between the two readings."""
        self.counts = dict.fromkeys(KEYS + DECLARED_KEYS, 0)
        for observer, subjects in now.items():
            for subject, counts in subjects.items():
                earlier = before.get(observer, {}).get(subject, {})
                which = "stalled" if subject == self.stalled else "healthy"
                for field_name, key in _FIELDS.items():
                    added = int(counts.get(field_name, 0)) - int(earlier.get(field_name, 0))
                    self.counts[f"{key}_{which}"] += added


CountsByObserver = Mapping[str, Mapping[str, Mapping[str, int]]]
"""observer -> subject -> its ``/admin/lifeguard`` counts."""
_FIELDS = {
    "suspect": "suspect",
    "faulty": "faulty",
    "declaredSuspect": "declared_suspect",
    "declaredFaulty": "declared_faulty",
}


def _known_everywhere(snapshot: Snapshot, addresses: list[str], healthy: list[str]) -> bool:
    """Every node answers, knows every address, and sees the healthy ones alive."""
    if any(s is None for s in snapshot.values()):
        return False
    for stats in snapshot.values():
        assert stats is not None
        members = {m["address"]: m["status"] for m in stats["membership"]["members"]}
        if set(members) != set(addresses):
            return False
        if any(members[a] != "alive" for a in healthy):
            return False
    return True


async def _lifeguard(admin: Admin, address: str) -> dict[str, Any]:
    """``/admin/lifeguard`` of ``address`` (a few tries: the stalled node is slow)."""
    error: Exception | None = None
    for _ in range(5):
        try:
            answer = await admin.call(address, "/admin/lifeguard", timeout=_ADMIN_TIMEOUT_S)
        except (TChannelError, OSError) as caught:
            error = caught
            await asyncio.sleep(0.2)
            continue
        if not isinstance(answer, dict):
            raise ClusterError(f"/admin/lifeguard of {address} answered {answer!r}")
        return answer
    raise ClusterError(f"/admin/lifeguard of {address} failed 5 times: {error}")


async def run_stalled_cluster(
    make_cluster: Callable[..., Cluster],
    admin: Admin,
    *,
    lifeguard: bool,
    seconds: float,
    min_seconds: float | None = None,
    stop_when: Callable[[StallRun], bool] | None = None,
    size: int = 10,
    stalled_index: int = 3,
    stall_ms: int = 300,
    every_ms: int = 1000,
    settle: float = 2.0,
    converge_timeout: float = 60.0,
) -> StallRun:
    """Start the cluster, count for ``seconds``, stop it (SIGKILL); the counts.

    With ``stop_when``, the window ends early, after at least ``min_seconds``, at the
    first poll (every 0.5 s) where ``stop_when(counts so far)`` holds.
    ``make_cluster(**Cluster kwargs)`` makes the :class:`Cluster` (the cluster
    tests' fixture, or one the caller stops).
    """
    flags = [*TIGHT_FLAGS, *(LIFEGUARD_FLAGS if lifeguard else ())]
    cluster = make_cluster(
        suspect_ms=SUSPECT_MS, faulty_ms=FAULTY_MS, tombstone_ms=TOMBSTONE_MS, python_args=flags
    )
    try:
        addresses = [f"127.0.0.1:{port}" for port in allocate_ports(size)]
        hosts = cluster.hosts_file("hosts.json", addresses)
        stalled = addresses[stalled_index]
        stall = (f"--stall-ms={stall_ms}", f"--stall-every-ms={every_ms}")
        for address in addresses:
            cluster.spawn(address, hosts, extra_args=stall if address == stalled else ())
        healthy = [a for a in addresses if a != stalled]
        await wait_until(
            admin,
            addresses,
            lambda s: _known_everywhere(s, addresses, healthy),
            timeout=converge_timeout,
            interval=0.2,
            cluster=cluster,
            what="every node to know every member, the healthy ones alive",
        )
        await asyncio.sleep(settle)
        run = StallRun(lifeguard, stalled)
        await _count(run, cluster, admin, addresses, seconds, min_seconds, stop_when)
        return run
    finally:
        cluster.stop_all()


async def _count(
    run: StallRun,
    cluster: Cluster,
    admin: Admin,
    addresses: list[str],
    seconds: float,
    min_seconds: float | None,
    stop_when: Callable[[StallRun], bool] | None,
) -> None:
    """Poll every node's ``/admin/lifeguard`` through the window; fill in ``run``."""
    answers = await asyncio.gather(*(_lifeguard(admin, a) for a in addresses))
    before = {a: dict(answer["counts"]) for a, answer in zip(addresses, answers, strict=True)}
    latest = dict(before)
    started = time.monotonic()
    earliest = started + (seconds if min_seconds is None else min_seconds)
    deadline = started + seconds
    while (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(_POLL_S, left))
        cluster.check_running()
        polled = await asyncio.gather(
            *(admin.call(a, "/admin/lifeguard", timeout=_ADMIN_TIMEOUT_S) for a in addresses),
            return_exceptions=True,
        )
        for address, answer in zip(addresses, polled, strict=True):
            if not isinstance(answer, dict):
                continue  # a missed poll: the final reading still counts everything
            latest[address] = dict(answer["counts"])
            lhm = int(answer["localHealth"])
            if address == run.stalled:
                run.lhm_peak_stalled = max(run.lhm_peak_stalled, lhm)
            else:
                run.lhm_peak_healthy = max(run.lhm_peak_healthy, lhm)
        run.count(before, latest)
        if stop_when is not None and time.monotonic() >= earliest and stop_when(run):
            break
    run.seconds = time.monotonic() - started
    answers = await asyncio.gather(*(_lifeguard(admin, a) for a in addresses))
    cluster.check_running()
    run.count(before, {a: answer["counts"] for a, answer in zip(addresses, answers, strict=True)})
