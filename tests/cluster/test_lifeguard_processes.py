"""Lifeguard with real processes (issue 6): a stalled node, off vs on, in one run.

Ten ``testpop`` processes on 127.0.0.1 with tight timeouts (ping 100 ms, ping-req
250 ms, suspect period 500 ms = Lifeguard's minimum suspicion timeout); one of them
blocks its own event loop 300 ms of every second (``--stall-ms``, a real
``time.sleep``). Nothing is down, so every faulty declaration is false. Both modes
are counted in this test from every node's ``/admin/lifeguard`` (see
``tests/cluster/stalled.py``).

What is asserted is what holds robustly on a loaded 2-core machine: with Lifeguard
off the stalled-but-alive node is declared faulty again and again (its refutation
loses the race against the 500 ms suspect timers); with Lifeguard on, in a window
just as long, there are fewer false faulty declarations (in practice none: a lone
suspicion waits up to 3 s and the node refutes long before), and no healthy node is
declared faulty. Suspicions themselves are not fewer with Lifeguard on, and healthy
nodes are not suspected in either mode (ringpop suspects only on a helper's
explicit "unreachable", so the slow node cannot accuse anyone); the figures are
printed, and ``bench/lifeguard.py --processes`` measures them over longer runs.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.cluster.procs import Admin, Cluster
from tests.cluster.stalled import KEYS, StallRun, run_stalled_cluster

pytestmark = pytest.mark.cluster

OFF_MIN_S = 20.0
OFF_MAX_S = 50.0
"""Lifeguard off counts until it has seen a false faulty declaration: at least 20 s,
at most 50 s (in 120 s runs they came every ~8 s on average, in bursts)."""


def _faulty(run: StallRun) -> int:
    return run.counts["faulty_stalled"] + run.counts["faulty_healthy"]


def _describe(run: StallRun) -> str:
    figures = ", ".join(f"{key} {run.per_minute(key):.1f}/min" for key in KEYS)
    return (
        f"lifeguard {'on ' if run.lifeguard else 'off'} {run.seconds:.1f} s: {figures} "
        f"(stalled node's peak LHM {run.lhm_peak_stalled}, healthy {run.lhm_peak_healthy})"
    )


@pytest.mark.timeout(240)
async def test_stalled_node_fewer_false_faulty_with_lifeguard(
    make_cluster: Callable[..., Cluster], admin: Admin
) -> None:
    off = await run_stalled_cluster(
        make_cluster,
        admin,
        lifeguard=False,
        seconds=OFF_MAX_S,
        min_seconds=OFF_MIN_S,
        stop_when=lambda run: _faulty(run) > 0,
    )
    print(_describe(off))
    on = await run_stalled_cluster(make_cluster, admin, lifeguard=True, seconds=off.seconds)
    print(_describe(on))

    assert _faulty(off) > 0, (
        f"without Lifeguard the stalled node was never declared faulty in {off.seconds:.0f} s; "
        f"the scenario did not stress failure detection: {_describe(off)}"
    )
    off_rate = _faulty(off) / off.seconds
    on_rate = _faulty(on) / on.seconds
    assert on_rate < off_rate, f"{_describe(off)}\n{_describe(on)}"
    assert on.counts["faulty_healthy"] == 0, _describe(on)
