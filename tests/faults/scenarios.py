"""Fault scenarios on a :class:`~tests.faults.cluster.FaultCluster`, with their figures.

Each scenario converges the cluster, starts a small load of forwarded requests (the
observer sends ``GET /objects/<random id>`` to the fronts in turn), injects one fault,
removes it and waits for one ring again, polling every node's ``/admin/stats`` about
four times a second. It returns an :class:`Outcome`:

* ``heal_s``: seconds from the end of the fault (network healed, node resumed or
  restarted) to one membership checksum with every node alive in every view;
* ``wrong``: members wrongly declared faulty, tombstoned or evicted (gone from the
  list), one line per (observer, member) pair, first sighting. Wrong means either the
  pair was never cut by the fault (the two could talk all along: a same-side member of
  a partition, any member under packet loss), or the member had been seen alive again
  by that node after the fault ended (a regression, e.g. a stale rumour delivered after
  a heal);
* ``requests``: forwarded-request successes/failures per phase;
* ``notes``: what each side believed at the end of the fault, and similar records.

What a correct implementation must do is :meth:`Outcome.problems`: converge within the
bound and declare nothing wrongly. Every wait is bounded.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from tests.faults.cluster import FaultCluster, View, converged
from tests.faults.netns import Host

__all__ = [
    "SCENARIOS",
    "Outcome",
    "Tracker",
    "asymmetric",
    "flapping",
    "kill_restart",
    "loss",
    "partition",
    "sigstop",
    "slow_link",
]

START_TIMEOUT_S = 60.0
HEAL_TIMEOUT_S = 45.0
"""Bound of every wait for one ring after a fault (main's partition heals take ~27 s)."""
SETTLE_S = 6.0
"""Least observation after convergence: late (stale) rumours still count as wrong."""
SETTLE_MARGIN_S = 2.0
LOAD_RATE = 20.0
BAD = ("faulty", "tombstone", "evicted")


@dataclass
class Outcome:
    """What one scenario run showed."""

    scenario: str
    program: str
    heal_s: float | None = None
    wrong: list[str] = field(default_factory=list)
    requests: dict[str, tuple[int, int]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    heal_target_s: float | None = None
    converged_at_end: bool = False

    def problems(self) -> list[str]:
        """Why this run is not what a correct implementation does (empty: fine)."""
        found: list[str] = []
        if self.heal_s is None:
            found.append(f"no single ring within {HEAL_TIMEOUT_S:g} s of the fault's end")
        elif self.heal_target_s is not None and self.heal_s > self.heal_target_s:
            found.append(f"heal took {self.heal_s:.1f} s (target {self.heal_target_s:g} s)")
        if self.heal_s is not None and not self.converged_at_end:
            found.append("the ring split again after converging")
        if self.wrong:
            found.append(f"{len(self.wrong)} reachable members wrongly declared: {self.wrong}")
        return found

    def report(self) -> str:
        """A multi-line summary for assertion messages and logs."""
        heal = "none" if self.heal_s is None else f"{self.heal_s:.2f} s"
        lines = [f"{self.scenario} [{self.program}]: heal {heal}, wrong {len(self.wrong)}"]
        lines += [
            f"  requests {p}: ok {ok}, failed {bad}" for p, (ok, bad) in self.requests.items()
        ]
        lines += [f"  {k}: {v}" for k, v in self.notes.items()]
        lines += [f"  wrong: {w}" for w in self.wrong]
        return "\n".join(lines)


class Tracker:
    """Watches views for members wrongly declared faulty/tombstoned/evicted."""

    def __init__(self, cluster: FaultCluster) -> None:
        self._addresses = cluster.addresses
        self._names = {cluster.address(h): h.name for h in cluster.hosts}
        self._cut: set[tuple[str, str]] = set()
        self._healed = False
        self._alive_since_heal: set[tuple[str, str]] = set()
        self.phase = "before"
        self.wrong: dict[tuple[str, str], str] = {}
        self.sightings: dict[tuple[str, str], int] = {}

    def cut(self, side_a: Iterable[str], side_b: Iterable[str]) -> None:
        """Pairs between ``side_a`` and ``side_b`` are cut by the fault (both orders)."""
        b = list(side_b)
        for x in side_a:
            for y in b:
                self._cut.update({(x, y), (y, x)})

    def healed(self) -> None:
        """The fault is over: from now on a member seen alive must stay so."""
        self._healed = True
        self._alive_since_heal.clear()
        self.phase = "after the fault"

    def __call__(self, view: View) -> None:
        for observer in self._addresses:
            node = view.get(observer)
            if node is None or "error" in node:
                continue
            members: dict[str, str] = node["members"]
            for member in self._addresses:
                if member == observer:
                    continue
                pair = (observer, member)
                status = members.get(member, "evicted")
                if status in BAD:
                    self.sightings[pair] = self.sightings.get(pair, 0) + 1
                if self._healed and status == "alive":
                    self._alive_since_heal.add(pair)
                if status not in BAD or pair in self.wrong:
                    continue
                if pair not in self._cut:
                    self._record(pair, status, "never cut")
                elif pair in self._alive_since_heal:
                    self._record(pair, status, "after it was alive again")

    def _record(self, pair: tuple[str, str], status: str, why: str) -> None:
        observer, member = (self._names[a] for a in pair)
        self.wrong[pair] = f"{observer} saw {member} {status} ({self.phase}; {why})"


class Run:
    """One scenario in progress: the cluster, the tracker, load counters per phase."""

    def __init__(self, cluster: FaultCluster, scenario: str) -> None:
        self.cluster = cluster
        self.tracker = Tracker(cluster)
        self.outcome = Outcome(scenario, cluster.program)
        self._phase = "before"
        self._counters = {"ok": 0, "failed": 0}
        self._deadline = time.monotonic()

    def start(self, fronts: Sequence[str] | None = None) -> None:
        """Wait for one ring, start the load, watch for a moment."""
        took = self.cluster.wait_converged(START_TIMEOUT_S)
        if took is None:
            raise RuntimeError(f"the cluster did not converge within {START_TIMEOUT_S:g} s")
        self.load(fronts if fronts is not None else self.cluster.fronts)
        self._mark("before")
        self.cluster.observe_for(2.0, self.tracker)

    def load(self, fronts: Sequence[str]) -> None:
        """Send the forwarded-request load to ``fronts``."""
        assert self.cluster.observer is not None
        self.cluster.observer.load(fronts, LOAD_RATE)

    def _mark(self, phase: str) -> None:
        """Close the current load phase and start ``phase``."""
        assert self.cluster.observer is not None
        now = self.cluster.observer.counters()
        if self._phase != "before" or phase != "before":
            ok = now["ok"] - self._counters["ok"]
            failed = now["failed"] - self._counters["failed"]
            self.outcome.requests[self._phase] = (ok, failed)
        self._counters = now
        self._phase = phase
        self.tracker.phase = phase

    def fault(self, name: str, seconds: float) -> View:
        """Phase ``name``: observe ``seconds``; the last view."""
        self._mark(name)
        return self.cluster.observe_for(seconds, self.tracker)

    def heal(
        self,
        fault_s: float,
        fronts: Sequence[str] | None = None,
        target: float | None = None,
    ) -> Outcome:
        """The fault (``fault_s`` long) just ended: wait for one ring, settle; the outcome.

        Observation goes on until ``fault_s`` (plus a margin) after the fault's end, and
        at least :data:`SETTLE_S` after convergence: data that TCP kept retransmitting
        through a fault arrives at the latest one backoff interval (at most the fault's
        length) after it.
        """
        healed_at = time.monotonic()
        self.tracker.healed()
        self._mark("heal")
        if fronts is not None:
            self.load(fronts)
        took, _ = self.cluster.wait(
            lambda v: converged(v, self.cluster.addresses), HEAL_TIMEOUT_S, every=self.tracker
        )
        self.outcome.heal_s = took
        self.outcome.heal_target_s = target
        self._mark("after")
        settle = max(SETTLE_S, healed_at + fault_s + SETTLE_MARGIN_S - time.monotonic())
        view = self.cluster.observe_for(settle, self.tracker)
        self.outcome.converged_at_end = converged(view, self.cluster.addresses)
        self._mark("end")
        self.outcome.wrong = sorted(self.tracker.wrong.values())
        if self.tracker.wrong:
            polls = [self.tracker.sightings.get(pair, 0) for pair in self.tracker.wrong]
            self.outcome.notes["polls showing each wrong pair"] = ", ".join(map(str, polls))
        return self.outcome


def _names(cluster: FaultCluster, hosts: Iterable[Host]) -> list[str]:
    return [cluster.address(h) for h in hosts]


def beliefs(cluster: FaultCluster, view: View, about: Sequence[Host]) -> str:
    """``n1: n4 faulty, n5 evicted; n2: ...``: what every node thinks of ``about``."""
    parts = []
    for host in cluster.hosts:
        node = view.get(cluster.address(host), {})
        if "error" in node or "members" not in node:
            parts.append(f"{host.name}: (no answer)")
            continue
        seen = [
            f"{h.name} {node['members'].get(cluster.address(h), 'evicted')}"
            for h in about
            if h != host
        ]
        parts.append(f"{host.name}: {', '.join(seen)}")
    return "; ".join(parts)


def _halves(
    cluster: FaultCluster,
    scenario: str,
    phase: str,
    seconds: float,
    cut: Callable[[Sequence[Host], Sequence[Host]], None],
    target: float | None = None,
) -> Outcome:
    """Cut the first half of the hosts from the second with ``cut`` for ``seconds``."""
    half = len(cluster.hosts) // 2
    side_a, side_b = cluster.hosts[:half], cluster.hosts[half:]
    run = Run(cluster, scenario.format(a=half, b=len(side_b), s=seconds))
    run.start()
    run.tracker.cut(_names(cluster, side_a), _names(cluster, side_b))
    cut(side_a, side_b)
    view = run.fault(phase, seconds)
    run.outcome.notes["beliefs at heal"] = beliefs(cluster, view, cluster.hosts)
    cluster.fabric.heal()
    return run.heal(seconds, target=target)


def partition(cluster: FaultCluster, seconds: float = 20.0, target: float = 5.0) -> Outcome:
    """A silent partition of the hosts into two halves for ``seconds``, then heal."""
    title = "partition {a}|{b} {s:g} s"
    return _halves(cluster, title, "partition", seconds, cluster.fabric.partition, target)


def asymmetric(cluster: FaultCluster, seconds: float = 20.0) -> Outcome:
    """Packets from the first half to the second are dropped (the first hears the second)."""

    def one_way(side_a: Sequence[Host], side_b: Sequence[Host]) -> None:
        cluster.fabric.block(side_b, side_a)

    title = "asymmetric {a}->{b} dropped {s:g} s"
    return _halves(cluster, title, "asymmetric", seconds, one_way)


def flapping(
    cluster: FaultCluster, cycles: int = 5, down_s: float = 3.0, up_s: float = 3.0
) -> Outcome:
    """One host's link goes down and up ``cycles`` times, then stays up."""
    flapper, others = cluster.hosts[0], cluster.hosts[1:]
    run = Run(cluster, f"flapping {cycles}x{down_s:g}s down/{up_s:g}s up")
    run.start()
    run.tracker.cut(_names(cluster, [flapper]), _names(cluster, others))
    for cycle in range(cycles):
        cluster.fabric.partition([flapper], others)
        run.fault(f"down {cycle + 1}", down_s)
        cluster.fabric.heal()
        run.fault(f"up {cycle + 1}", up_s)
    faulty = sum(n for (o, m), n in run.tracker.sightings.items() if m == cluster.address(flapper))
    run.outcome.notes["flapper seen faulty/evicted"] = f"{faulty} times (view x observer)"
    return run.heal(down_s)


def loss(cluster: FaultCluster, pct: int, seconds: float = 30.0) -> Outcome:
    """``pct`` % random packet loss between all hosts for ``seconds``: nobody is faulty."""
    run = Run(cluster, f"loss {pct}% {seconds:g} s")
    run.start()
    cluster.fabric.set_loss(pct)
    run.fault(f"loss {pct}%", seconds)
    cluster.fabric.heal()
    return run.heal(SETTLE_S)


def _last_node_down(cluster: FaultCluster, scenario: str) -> tuple[Run, Host]:
    """A run whose fault takes the last host's node away: load through the others only."""
    victim, others = cluster.hosts[-1], cluster.hosts[:-1]
    run = Run(cluster, scenario)
    run.start([f for f in cluster.fronts if not f.startswith(f"{victim.ip}:")])
    run.tracker.cut(_names(cluster, [victim]), _names(cluster, others))
    return run, victim


def sigstop(cluster: FaultCluster, seconds: float = 8.0) -> Outcome:
    """One node frozen (SIGSTOP) for ``seconds``, then resumed (SIGCONT)."""
    run, victim = _last_node_down(cluster, f"SIGSTOP {seconds:g} s")
    cluster.signal(victim, signal.SIGSTOP)
    try:
        view = run.fault("stopped", seconds)
        run.outcome.notes["beliefs at SIGCONT"] = beliefs(cluster, view, [victim])
    finally:
        cluster.signal(victim, signal.SIGCONT)
    return run.heal(seconds)


def kill_restart(cluster: FaultCluster, down_s: float = 8.0) -> Outcome:
    """One node killed (SIGKILL) and restarted on the same address after ``down_s``."""
    run, victim = _last_node_down(cluster, f"kill -9 + restart after {down_s:g} s")
    cluster.kill(victim)
    view = run.fault("down", down_s)
    run.outcome.notes["beliefs at restart"] = beliefs(cluster, view, [victim])
    cluster.start(victim)
    return run.heal(SETTLE_S, fronts=cluster.fronts)


def slow_link(cluster: FaultCluster, delay_ms: float = 250.0, seconds: float = 20.0) -> Outcome:
    """One host reached only through a relay adding ``delay_ms`` each way: nobody faulty.

    The NAT redirect only catches new connections, so the host's node is restarted
    once the relay is in place (its old connections die with it); the scenario starts
    when the cluster has converged again. The relay logs every connection it carries.
    """
    victim = cluster.hosts[-1]
    cluster.wait_converged(START_TIMEOUT_S)
    cluster.kill(victim)
    cluster.start_relay(victim, delay_ms)
    cluster.start(victim)
    run = Run(cluster, f"slow link +{delay_ms:g} ms each way {seconds:g} s")
    try:
        run.start()
        run.fault("slow", seconds)
        run.outcome.notes["relayed connections"] = str(cluster.relayed(victim))
    finally:
        cluster.stop_relay(victim)
    return run.heal(SETTLE_S)


SCENARIOS: dict[str, Callable[[FaultCluster], Outcome]] = {
    "partition": partition,
    # 12 s: the other half is held faulty or tombstone at the heal, not yet evicted.
    "partition-12s": lambda c: partition(c, seconds=12.0),
    "asymmetric": asymmetric,
    "flapping": flapping,
    "loss10": lambda c: loss(c, 10),
    "loss30": lambda c: loss(c, 30),
    "sigstop": sigstop,
    "kill-restart": kill_restart,
    "slow-link": slow_link,
}
"""Every scenario with its default figures, by name (bench/faults.py runs them all)."""
