"""Scale scenarios on a :class:`~ringpop.testing.SimCluster`, measured beside SWIM's theory.

Each scenario builds a fresh cluster of ``size`` full nodes (``record=False``),
runs one story in loop time and returns an :class:`Outcome`: measured figures,
the theory for the same figures (:mod:`ringpop.testing.theory`), the traffic and
CPU of the measured window, and convergence curves (for each node, when it
learned the change). ``bench/scale.py`` runs them at 100 to 10,000 nodes and
``docs/scale.md`` explains every figure. Run each on a fresh ``looptime`` loop
for the same seed to give the same figures.

(Over the ~400-line guideline on purpose: the six scenarios and the two runners,
:func:`run_scenario` and :func:`run_forked`, share the settling step and its
fork hand-over; split, that private state would span modules.)
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import os
import random
import time
from collections.abc import Awaitable
from dataclasses import asdict, dataclass, field
from typing import Protocol

from ringpop.options import Options
from ringpop.testing.cluster import SimCluster
from ringpop.testing.probes import AliveCounter, FalseAlarms, Meter, Spread, Window, rss_bytes
from ringpop.testing.theory import (
    epidemic_max_time,
    epidemic_time,
    false_suspect_probability,
    first_detection_time,
    many_rumours_time,
)

__all__ = ["SCENARIOS", "Outcome", "run_forked", "run_scenario", "scale_options"]

DOWN = ("suspect", "faulty", "tombstone", "leave")
GONE = ("faulty", "tombstone")


def scale_options(**overrides: object) -> Options:
    """The options of the scale runs: the library's defaults, ``replica_points=4``.

    The hash ring never feeds back into membership; with 100 points per server a
    simulated cluster of ``n`` nodes holds ``100 n^2`` ring points in one process
    (7 GB at 1,000), so the runs keep 4 and the ring's own cost is measured on one
    ring at full size (``bench/scale.py``).
    """
    return Options(replica_points=4).replace(**overrides)


@dataclass
class Outcome:
    """What one scenario measured, and what theory says for the same figures."""

    scenario: str
    size: int
    seed: int
    figures: dict[str, float | None] = field(default_factory=dict)
    """Measured, in seconds unless the name says otherwise."""
    theory: dict[str, float] = field(default_factory=dict)
    """The expected value of the figure with the same name."""
    traffic: dict[str, float | str] = field(default_factory=dict)
    """Messages and bytes per node per second, the largest message, CPU per node-second."""
    curves: dict[str, list[float]] = field(default_factory=dict)
    """Name -> when each node learned it (seconds after the event, sorted)."""
    cost: dict[str, float] = field(default_factory=dict)
    """What simulating it cost: wall and CPU seconds, RSS."""

    def ratio(self, name: str) -> float | None:
        """Measured / theory for ``name`` (``None`` if either is missing)."""
        measured = self.figures.get(name)
        expected = self.theory.get(name)
        if measured is None or not expected:
            return None
        return measured / expected

    def add_window(self, window: Window, prefix: str = "") -> None:
        self.traffic[f"{prefix}msgs_per_node_s"] = window.messages_per_node_s
        self.traffic[f"{prefix}bytes_per_node_s"] = window.bytes_per_node_s
        self.traffic[f"{prefix}largest_bytes"] = window.largest
        self.traffic[f"{prefix}largest_endpoint"] = window.largest_endpoint
        self.traffic[f"{prefix}cpu_per_node_s"] = window.cpu_per_node_s


def _period(cluster: SimCluster) -> float:
    return cluster.options.min_protocol_period


async def _settled(
    size: int, seed: int, options: Options, warm: bool = False, out: Outcome | None = None
) -> SimCluster:
    """A bootstrapped cluster with one checksum and nothing left to piggyback.

    ``warm``: every node starts with the full membership (``SimCluster.warm_start``,
    the join response's code path) instead of a cold start of the whole cluster.
    Either way the settled cluster's objects are then frozen out of the cyclic
    garbage collector's reach (``gc.freeze``): they live until the end of the run,
    and at thousands of nodes every full collection would walk all of them.
    """
    if warm and _PREPARED is not None:  # a forked child: the parent settled it
        cluster, cost = _PREPARED
        if out is not None:
            out.cost.update(cost)
        return cluster
    wall = time.perf_counter()
    cpu = time.process_time()
    cluster = SimCluster(size, seed=seed, options=options, record=False)
    if warm:
        paused = gc.isenabled()
        gc.disable()  # building n^2 member entries: nothing to collect
        try:
            await cluster.warm_start()
        finally:
            if paused:
                gc.enable()
    else:
        await cluster.bootstrap()
    await cluster.wait_for(cluster.converged, timeout=120, step=0.05)
    await _drained(cluster, cluster.addresses)
    gc.collect()
    gc.freeze()
    if out is not None:
        out.cost["settle_wall_s"] = time.perf_counter() - wall
        out.cost["settle_cpu_s"] = time.process_time() - cpu
        out.cost["settle_rss_mib"] = rss_bytes() / 2**20
    return cluster


async def _drained(cluster: SimCluster, live: list[str], timeout: float = 120) -> float:
    """Wait until no live node has a change left to piggyback (a quiet cluster)."""
    nodes = [cluster.ringpops[a].node for a in live]
    return await cluster.wait_for(
        lambda: all(len(n.disseminator) == 0 for n in nodes), timeout=timeout, step=0.25
    )


def _relative(times: list[float], origin: float) -> list[float]:
    return [round(t - origin, 4) for t in times]


async def cold_start(size: int, seed: int, options: Options, *, warm: bool = False) -> Outcome:
    """All nodes bootstrap at once: until everyone knows everyone, one checksum, quiet."""
    assert not warm, "a cold start is never warm"
    out = Outcome("cold start", size, seed)
    base = rss_bytes()
    cluster = SimCluster(size, seed=seed, options=options, record=False)
    meter = Meter(cluster)
    meter.start()
    t0 = cluster.now()
    await cluster.bootstrap()
    nodes = [rp.node for rp in cluster.ringpops.values()]
    knows_all: list[float] = []
    pending = list(nodes)
    while pending:
        if cluster.now() - t0 > 120:
            raise AssertionError(f"cold start of {size}: not everyone knows everyone")
        still = [n for n in pending if n.members.pingable_count < size - 1]
        knows_all.extend([cluster.now()] * (len(pending) - len(still)))
        pending = still
        if pending:
            await asyncio.sleep(0.05)
    one = await cluster.wait_for(cluster.converged, timeout=120, step=0.05)
    quiet = await _drained(cluster, cluster.addresses)
    out.add_window(meter.stop(size))
    out.cost["rss_per_node_kib"] = (rss_bytes() - base) / size / 1024
    out.cost["rss_per_member_b"] = (rss_bytes() - base) / size / size
    meter.start()
    await cluster.run_for(10)
    out.add_window(meter.stop(size), "idle_")
    period = _period(cluster)
    out.figures["dissemination"] = max(knows_all) - t0
    out.figures["one_checksum"] = one - t0
    out.figures["quiet"] = quiet - t0
    out.theory["dissemination"] = many_rumours_time(size, size, period)
    out.theory["one_checksum"] = out.theory["dissemination"]
    out.curves["knows everyone"] = _relative(sorted(knows_all), t0)
    await cluster.stop()
    return out


async def kill(
    size: int,
    seed: int,
    options: Options,
    *,
    count: int = 1,
    name: str = "kill one",
    warm: bool = False,
) -> Outcome:
    """``count`` nodes die at once (kill -9): detection, dissemination, one checksum."""
    out = Outcome(name, size, seed)
    cluster = await _settled(size, seed, options, warm, out)
    victims = random.Random(seed).sample(cluster.addresses, count)
    live = cluster.live(victims)
    suspects = Spread(cluster, victims, DOWN)
    faulties = Spread(cluster, victims, GONE)
    meter = Meter(cluster)
    meter.start()
    t0 = cluster.now()
    for victim in victims:
        await cluster.crash(victim)
    limit = options.suspect_period + 60
    await cluster.wait_for(lambda: faulties.complete(live), timeout=limit, step=0.1)
    one = await cluster.wait_for(lambda: cluster.converged(live), timeout=60, step=0.1)
    out.add_window(meter.stop(len(live)))
    period = _period(cluster)
    detect = [suspects.first_time(v) for v in victims]
    spread_s = [suspects.times(v, live) for v in victims]
    spread_f = [faulties.times(v, live) for v in victims]
    out.figures["first_detection"] = sum(d for d in detect if d is not None) / count - t0
    out.figures["all_detected"] = max(d for d in detect if d is not None) - t0
    out.figures["suspect_spread"] = max(s[-1] - s[0] for s in spread_s)
    out.figures["faulty_spread"] = max(s[-1] - s[0] for s in spread_f)
    out.figures["dissemination"] = max(s[-1] for s in spread_f) - t0
    out.figures["one_checksum"] = one - t0
    m = len(live)
    latency = cluster.network.latency
    ping = options.ping_timeout
    out.theory["first_detection"] = first_detection_time(m, period, ping, latency=latency)
    out.theory["all_detected"] = first_detection_time(m, period, ping, dead=count, latency=latency)
    # The figure is the slowest victim's spread: the largest of ``count`` epidemics.
    out.theory["suspect_spread"] = epidemic_max_time(m, period, count)
    out.theory["faulty_spread"] = epidemic_max_time(m, period, count)
    bound = out.theory["all_detected"] + options.suspect_period + epidemic_time(m, period)
    out.theory["dissemination"] = bound
    out.theory["one_checksum"] = bound
    out.curves["suspect"] = _relative(spread_s[0], t0)
    out.curves["faulty"] = _relative(spread_f[0], t0)
    await cluster.stop()
    return out


async def rolling_restart(
    size: int,
    seed: int,
    options: Options,
    *,
    gap: float = 2.0,
    fraction: float = 0.01,
    warm: bool = False,
) -> Outcome:
    """Every node restarts (graceful: self-eviction, then a new incarnation), in
    batches of ``max(1, size * fraction)`` every ``gap`` seconds."""
    out = Outcome("rolling restart", size, seed)
    cluster = await _settled(size, seed, options, warm, out)
    batch = max(1, int(size * fraction))
    meter = Meter(cluster)
    meter.start()
    t0 = cluster.now()
    spreads: list[tuple[float, Spread]] = []
    for start in range(0, size, batch):
        group = cluster.addresses[start : start + batch]
        await asyncio.gather(*(cluster.restart(a) for a in group))
        ready = cluster.now()
        incarnations = {a: cluster.ringpops[a].node.local.incarnation for a in group}
        spread = Spread(cluster, group, ("alive",), incarnations=incarnations)
        spread.seed_from_views(cluster.addresses)
        spreads.append((ready, spread))
        await cluster.run_for(gap)
    everyone = cluster.addresses
    await cluster.wait_for(
        lambda: all(s.complete(everyone) for _, s in spreads), timeout=120, step=0.1
    )
    last = cluster.now()
    one = await cluster.wait_for(cluster.converged, timeout=120, step=0.1)
    out.add_window(meter.stop(size))
    per_restart = []
    for ready, spread in spreads:
        for subject in spread.first:
            seen = spread.times(subject, [a for a in everyone if a != subject])
            per_restart.append(seen[-1] - ready)
    per_restart.sort()
    out.figures["dissemination"] = per_restart[len(per_restart) // 2]
    out.figures["dissemination_max"] = per_restart[-1]
    out.figures["one_checksum"] = one - last
    out.figures["duration"] = one - t0
    out.theory["dissemination"] = epidemic_time(size, _period(cluster))
    first_ready, first = spreads[0]
    subject = next(iter(first.first))
    out.curves["alive, new incarnation"] = _relative(
        first.times(subject, [a for a in everyone if a != subject]), first_ready
    )
    await cluster.stop()
    return out


async def partition(
    size: int, seed: int, options: Options, *, hold: float = 60.0, warm: bool = False
) -> Outcome:
    """A 50/50 partition for ``hold`` seconds, then healed: until one checksum again."""
    out = Outcome("partition 50/50", size, seed)
    cluster = await _settled(size, seed, options, warm, out)
    a = cluster.addresses
    left, right = a[: size // 2], a[size // 2 :]
    cluster.network.partition(left, right)
    await cluster.run_for(hold)
    alive = AliveCounter(cluster)
    meter = Meter(cluster)
    meter.start()
    t0 = cluster.now()
    cluster.network.heal_partition()
    one = await cluster.wait_for(cluster.converged, timeout=300, step=0.1)
    all_alive = await cluster.wait_for(alive.complete, timeout=60, step=0.1)
    out.add_window(meter.stop(size))
    out.figures["held_down_before_heal"] = alive.down_at_start / size
    out.figures["dissemination"] = all_alive - t0
    out.figures["one_checksum"] = one - t0
    probe = options.fast_heal_probe_interval / size
    out.theory["dissemination"] = probe + many_rumours_time(size, size, _period(cluster))
    out.theory["one_checksum"] = out.theory["dissemination"]
    out.curves["holds everyone alive"] = _relative(alive.times(), t0)
    await cluster.stop()
    return out


async def lossy(
    size: int, seed: int, options: Options, *, loss: float = 0.1, warm: bool = False
) -> Outcome:
    """``loss`` of every message, then one node killed: detection, spread, false alarms."""
    out = Outcome(f"{loss:.0%} loss", size, seed)
    cluster = await _settled(size, seed, options, warm, out)
    victim = random.Random(seed).choice(cluster.addresses)
    live = cluster.live([victim])
    false_alarms = FalseAlarms(cluster, victim)
    cluster.network.loss = loss
    meter = Meter(cluster)
    meter.start()
    await cluster.run_for(5)
    suspects = Spread(cluster, [victim], DOWN)
    faulties = Spread(cluster, [victim], GONE)
    t0 = cluster.now()
    await cluster.crash(victim)
    limit = options.suspect_period + 60
    await cluster.wait_for(lambda: faulties.complete(live), timeout=limit, step=0.1)
    await cluster.run_for(5)
    window = meter.stop(len(live))
    out.add_window(window)
    period = _period(cluster)
    s = suspects.times(victim, live)
    f = faulties.times(victim, live)
    out.figures["first_detection"] = s[0] - t0
    out.figures["suspect_spread"] = s[-1] - s[0]
    out.figures["faulty_spread"] = f[-1] - f[0]
    out.figures["dissemination"] = f[-1] - t0
    out.figures["false_suspects_per_s"] = false_alarms.suspects / window.seconds
    out.figures["false_faulty"] = float(false_alarms.faulty)
    m = len(live)
    ping = options.ping_timeout
    latency = cluster.network.latency
    out.theory["first_detection"] = first_detection_time(m, period, ping, latency=latency)
    out.theory["suspect_spread"] = epidemic_time(m, period, loss=loss)
    out.theory["faulty_spread"] = epidemic_time(m, period, loss=loss)
    out.theory["dissemination"] = (
        out.theory["first_detection"] + options.suspect_period + epidemic_time(m, period, loss=loss)
    )
    probes_per_s = m / period
    out.theory["false_suspects_per_s"] = probes_per_s * false_suspect_probability(
        loss, options.ping_req_size
    )
    out.curves["suspect"] = _relative(s, t0)
    await cluster.stop()
    return out


class Scenario(Protocol):
    """A scenario: ``(size, seed, options, warm=...)`` -> :class:`Outcome`."""

    def __call__(
        self, size: int, seed: int, options: Options, *, warm: bool = False
    ) -> Awaitable[Outcome]: ...


async def _kill_one_percent(
    size: int, seed: int, options: Options, *, warm: bool = False
) -> Outcome:
    count = max(1, math.ceil(size / 100))
    return await kill(size, seed, options, count=count, name="kill 1%", warm=warm)


SCENARIOS: dict[str, Scenario] = {
    "cold": cold_start,
    "kill": kill,
    "kill1pct": _kill_one_percent,
    "restart": rolling_restart,
    "partition": partition,
    "loss": lossy,
}
"""The scenarios by short name, in the order the bench runs them."""


_PREPARED: tuple[SimCluster, dict[str, float]] | None = None
"""In a child of :func:`run_forked`: the warm cluster settled by the parent."""


async def run_forked(names: list[str], size: int, seed: int, options: Options) -> list[Outcome]:
    """Warm-start one cluster, then run each scenario on a copy of it (POSIX ``fork``).

    Settling ``n^2`` member entries is most of what a warm scenario costs at
    10,000 nodes; a forked child shares the settled cluster's memory copy-on-write
    (the objects are frozen out of the garbage collector, which would otherwise
    touch them all) and replays from the same state and virtual time, so its figures
    are the ones :func:`run_scenario` with ``warm=True`` gives (a test checks).
    The children run one at a time; each outcome comes back as JSON on a pipe.
    """
    global _PREPARED
    if "cold" in names:
        raise ValueError("the cold start scenario cannot start warm")
    settled = Outcome("settle", size, seed)
    cluster = await _settled(size, seed, options, True, settled)
    outcomes: list[Outcome] = []
    loop = asyncio.get_running_loop()
    for name in names:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: run one scenario, report, exit without cleanup
            status = 1
            try:
                # asyncio ties the running loop to the pid that started it.
                asyncio.events._set_running_loop(loop)
                os.close(read)
                _PREPARED = (cluster, settled.cost)
                outcome = await run_scenario(name, size, seed, options, warm=True)
                with os.fdopen(write, "wb") as pipe:
                    pipe.write(json.dumps(asdict(outcome)).encode())
                status = 0
            finally:
                os._exit(status)
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            payload = pipe.read()
        _, status = os.waitpid(pid, 0)  # noqa: ASYNC222 - the parent must not run meanwhile
        if status != 0 or not payload:
            raise RuntimeError(f"scenario {name!r} at {size} nodes failed in its child ({status})")
        outcomes.append(Outcome(**json.loads(payload)))
    await cluster.stop()
    gc.unfreeze()
    gc.collect()
    return outcomes


async def run_scenario(
    name: str, size: int, seed: int, options: Options, *, warm: bool = False
) -> Outcome:
    """Run one scenario and add what simulating it cost (wall, CPU, RSS).

    ``warm``: start from the converged state (:meth:`SimCluster.warm_start`) rather
    than a cold start of the whole cluster (not for the ``cold`` scenario itself).
    The cost is split: ``settle_cpu_s`` for reaching the settled cluster.
    """
    if warm and name == "cold":
        raise ValueError("the cold start scenario cannot start warm")
    wall = time.perf_counter()
    cpu = time.process_time()
    try:
        outcome = await SCENARIOS[name](size, seed, options, warm=warm)
    finally:
        if _PREPARED is None:  # (a forked child exits instead: no page of it is touched)
            gc.unfreeze()  # the settled cluster is garbage now: let cycles be collected
            gc.collect()
    outcome.cost["wall_s"] = time.perf_counter() - wall
    outcome.cost["cpu_s"] = time.process_time() - cpu
    outcome.cost["warm"] = float(warm)
    outcome.cost["rss_mib"] = rss_bytes() / 2**20
    return outcome
