"""Scale by simulation (issue 16): figures held to SWIM's theory, and reproducible.

* the same seed gives the same figures (every virtual-time figure, the traffic
  counts, the convergence curves), a different seed different ones;
* a short form of the bench's 1,000-node cold start and kill scenarios
  (``bench/scale.py`` runs them in full; docs/scale.md): cold start until one
  checksum (held to 1.2x the theory of :mod:`ringpop.testing.theory`), then at once
  one node killed until every survivor suspects it (detection 1.2x, spread 1.5x).
"""

from __future__ import annotations

import asyncio
import random
import time

import looptime
import pytest

from ringpop.options import Options
from ringpop.testing import SimCluster
from ringpop.testing.probes import Meter, Spread
from ringpop.testing.scenarios import DOWN, Outcome, run_scenario, scale_options
from ringpop.testing.theory import (
    epidemic_time,
    false_suspect_probability,
    first_detection_time,
    harmonic,
    many_rumours_time,
)

LARGE = 1000
"""The short form's size (docs/scale.md says what it costs)."""


def _run(name: str, size: int, seed: int) -> Outcome:
    loop = looptime.new_event_loop(noop_cycles=1)
    try:
        return loop.run_until_complete(run_scenario(name, size, seed, scale_options()))
    finally:
        loop.close()


def _replayable(outcome: Outcome) -> tuple[object, ...]:
    """Everything but what the host measures (CPU, wall, RSS)."""
    traffic = {k: v for k, v in outcome.traffic.items() if "cpu" not in k}
    return outcome.figures, outcome.theory, traffic, outcome.curves


@pytest.mark.parametrize("name", ["cold", "kill"])
def test_same_seed_same_figures(name: str) -> None:
    first = _run(name, 40, seed=5)
    again = _run(name, 40, seed=5)
    other = _run(name, 40, seed=6)
    assert _replayable(first) == _replayable(again)
    assert first.figures != other.figures or first.curves != other.curves
    assert all(v is not None and v > 0 for k, v in first.figures.items() if k != "false_faulty")


def test_theory_formulas() -> None:
    # One rumour, push-pull: T (n-1)/n H(n-1); two nodes: one exchange of rate 2/T.
    assert epidemic_time(2, 0.2) == pytest.approx(0.1)
    assert epidemic_time(1000, 0.2) == pytest.approx(0.2 * 0.999 * harmonic(999))
    assert harmonic(20_000) == pytest.approx(sum(1 / k for k in range(1, 20_001)), rel=1e-9)
    # Grows as log n: x10 nodes adds ~T ln 10.
    assert epidemic_time(10_000, 0.2) - epidemic_time(1000, 0.2) == pytest.approx(
        0.2 * 2.302585, rel=0.01
    )
    assert many_rumours_time(1000, 1000, 0.2) > epidemic_time(1000, 0.2)
    assert epidemic_time(100, 0.2, loss=0.1) > epidemic_time(100, 0.2)
    assert first_detection_time(99, 0.2, 1.5) == pytest.approx(0.2 * 99 / 100 + 3.0)
    assert false_suspect_probability(0.0) == 0.0
    assert 0.0 < false_suspect_probability(0.1) < 0.19 * 0.1


async def _cold_start_then_kill(size: int, seed: int) -> dict[str, float]:
    options = scale_options(agreement_shortcut=True)
    cluster = SimCluster(size, seed=seed, options=options, record=False)
    meter = Meter(cluster)
    meter.start()
    await cluster.bootstrap()
    one = await cluster.wait_for(cluster.converged, timeout=60, step=0.05)
    victim = random.Random(seed).choice(cluster.addresses)
    live = cluster.live([victim])
    suspects = Spread(cluster, [victim], DOWN)
    killed = cluster.now()
    await cluster.crash(victim)
    await cluster.wait_for(lambda: suspects.complete(live), timeout=30, step=0.05)
    window = meter.stop(size)
    times = suspects.times(victim, live)
    await cluster.stop()
    return {
        "one_checksum": one,
        "first_detection": times[0] - killed,
        "suspect_spread": times[-1] - times[0],
        "largest": window.largest,
        "virtual": window.seconds,
    }


@pytest.mark.timeout(600)
def test_large_cold_start_and_kill_within_theory(record_property: object) -> None:
    started = time.perf_counter()
    loop = looptime.new_event_loop(noop_cycles=1)
    try:
        got = loop.run_until_complete(_cold_start_then_kill(LARGE, seed=1))
    finally:
        loop.close()
    period = Options().min_protocol_period
    ping = Options().ping_timeout
    assert got["one_checksum"] <= 1.2 * many_rumours_time(LARGE, LARGE, period)
    assert 2 * ping <= got["first_detection"] <= 1.2 * first_detection_time(LARGE - 1, period, ping)
    # Killed during the cold start's piggyback tail, one spread varies more than on a
    # quiet cluster (0.9-1.45 x at 300 nodes over three seeds; the bench measures the
    # quiet case against 1.2 x): held to 1.5 x here.
    assert got["suspect_spread"] <= 1.5 * epidemic_time(LARGE - 1, period)
    # A join response carries every member: ~150 bytes each, the largest message.
    assert 100 * LARGE <= got["largest"] <= 200 * LARGE
    if callable(record_property):
        for key, value in got.items():
            record_property(key, value)
        record_property("wall_s", time.perf_counter() - started)


def test_asyncio_is_not_left_running() -> None:
    # Each test above ran on its own loop; none may leak into the next.
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
