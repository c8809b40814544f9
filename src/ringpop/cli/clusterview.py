"""What tick-cluster knows about its cluster, and the events it reports (no I/O).

The controller feeds it process changes (started, killed, suspended, exited) and the
``/admin/stats`` answers of each polling round; it keeps one :class:`NodeState` per
node, decides whether the cluster has converged and emits :class:`Event` lines.

Converged means: every node whose process runs (and is not suspended) answers, they
all report the same membership checksum, and the members they consider alive are
exactly those nodes. Time to converge is measured from the first moment the cluster
was seen not converged, or from the action (kill, revive, ...) that disturbed it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ringpop.admin.client import AdminError, NodeStats
from ringpop.admin.views import group_by_view

__all__ = ["ClusterModel", "Event", "NodeState", "Verdict"]

# A node that has answered before is still counted (with its last answer) until it
# misses this many polls in a row; one slow answer on a loaded machine is no event.
MISSES_BEFORE_DOWN = 3


@dataclass(frozen=True)
class Event:
    """One line of the event log."""

    at: float  # wall-clock seconds
    kind: str  # up, down, checksum, converged, diverged, action, info, error
    text: str
    seq: int = 0  # 1, 2, ... in emission order

    def line(self) -> str:
        """``12:00:01.234 text``."""
        stamp = time.strftime("%H:%M:%S", time.localtime(self.at))
        return f"{stamp}.{int(self.at * 1000) % 1000:03d} {self.text}"


@dataclass
class NodeState:
    """tick-cluster's view of one node."""

    index: int
    address: str
    pid: int | None = None
    process: str = "not started"  # starting, running, suspended, killed, exited ...
    expected: bool = False  # process running and not suspended: should answer
    up: bool = False  # answered since its last (re)start, and not declared down
    stats: NodeStats | None = None
    misses: int = 0
    error: str | None = None
    started_at: float = 0.0

    @property
    def counted(self) -> bool:
        """Whether this node's answer takes part in the convergence verdict."""
        return self.expected and self.up and self.stats is not None


@dataclass(frozen=True)
class Verdict:
    """The convergence state after a polling round."""

    converged: bool
    partitions: int  # distinct member lists among answering nodes
    # (first node's checksum, nodes) per group holding the same members, biggest first
    groups: tuple[tuple[int, tuple[str, ...]], ...]
    waiting: tuple[str, ...]  # expected nodes without an answer
    missing: tuple[str, ...]  # expected nodes not alive in the common view
    extra: tuple[str, ...]  # alive in the common view but not running


class ClusterModel:
    """Node states, convergence and events of one tick-cluster run."""

    def __init__(
        self,
        addresses: Iterable[str],
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        history: int = 500,
    ) -> None:
        self.nodes = {a: NodeState(i, a) for i, a in enumerate(addresses)}
        self._clock = clock
        self._wall = wall
        self.events: deque[Event] = deque(maxlen=history)
        self._listeners: list[Callable[[Event], None]] = []
        self.converged = False
        self.disturbed_at: float | None = clock()
        self.last_convergence: float | None = None  # seconds the last convergence took
        self.converged_since: float | None = None
        self.verdict = Verdict(False, 0, (), (), (), ())
        self.rounds = 0
        self._seq = 0

    # -- events --------------------------------------------------------------------

    def subscribe(self, listener: Callable[[Event], None]) -> None:
        """Call ``listener`` with every new event."""
        self._listeners.append(listener)

    def emit(self, kind: str, text: str) -> Event:
        self._seq += 1
        event = Event(self._wall(), kind, text, self._seq)
        self.events.append(event)
        for listener in self._listeners:
            listener(event)
        return event

    def disturb(self) -> None:
        """An action changed the cluster: time the next convergence from now."""
        self.disturbed_at = self._clock()
        self.converged = False
        self.converged_since = None

    # -- process changes -----------------------------------------------------------

    def started(self, address: str, pid: int, *, again: bool = False) -> None:
        node = self.nodes[address]
        node.pid = pid
        node.process = "starting"
        node.expected = True
        node.up = False
        node.stats = None
        node.misses = 0
        node.error = None
        node.started_at = self._clock()
        self.emit(
            "action" if again else "info", f"{address} {'re' if again else ''}started (pid {pid})"
        )

    def killed(self, address: str, how: str) -> None:
        node = self.nodes[address]
        node.process = "killed"
        node.expected = False
        node.up = False
        self.emit("down", f"{address} down: {how}")

    def exited(self, address: str, how: str, log: str = "") -> None:
        """The process ended without us asking (``how``: "exited with status 1")."""
        node = self.nodes[address]
        node.process = "exited"
        node.expected = False
        node.error = how
        where = f" (log: {log})" if log else ""
        if node.up:
            self.emit("down", f"{address} down: {how}{where}")
        else:
            self.emit("error", f"{address} {how} before answering{where}")
        node.up = False

    def suspended(self, address: str, seconds: float) -> None:
        node = self.nodes[address]
        node.process = "suspended"
        node.expected = False
        self.emit("action", f"{address} suspended (SIGSTOP) for {seconds:g} s")

    def resumed(self, address: str) -> None:
        node = self.nodes[address]
        node.process = "running" if node.up else "starting"
        node.expected = True
        node.misses = 0
        self.emit("action", f"{address} resumed (SIGCONT)")

    # -- polling -------------------------------------------------------------------

    def observe(self, address: str, result: NodeStats | AdminError) -> None:
        """One node's answer (or failure) in the current polling round."""
        node = self.nodes[address]
        if not node.expected:
            return
        if isinstance(result, AdminError):
            node.misses += 1
            node.error = result.message
            if node.up and node.misses >= MISSES_BEFORE_DOWN:
                node.up = False
                node.process = "no answer"
                self.emit("down", f"{address} down: {result.message}")
            return
        previous = node.stats
        node.stats = result
        node.misses = 0
        node.error = None
        if not node.up:
            node.up = True
            node.process = "running"
            took = self._clock() - node.started_at
            self.emit("up", f"{address} up (pid {node.pid}, answering after {took:.1f} s)")
        old = previous.membership_checksum if previous is not None else None
        if old != result.membership_checksum:
            counts = result.counts()
            members = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no members"
            self.emit(
                "checksum",
                f"{address} checksum {old if old is not None else '-'} -> "
                f"{result.membership_checksum} ({members})",
            )

    def end_round(self) -> Verdict:
        """Decide convergence after a polling round; emits converged/diverged events."""
        self.rounds += 1
        verdict = self.evaluate()
        now = self._clock()
        if verdict.converged and not self.converged:
            took = now - self.disturbed_at if self.disturbed_at is not None else 0.0
            self.last_convergence = took
            self.converged_since = now
            checksum = verdict.groups[0][0]
            nodes = len(verdict.groups[0][1])
            self.emit(
                "converged",
                f"converged in {took:.1f} s: {nodes} node{'s' if nodes != 1 else ''}, "
                f"checksum {checksum}",
            )
            self.disturbed_at = None
        elif not verdict.converged:
            if self.converged:  # lost without an action of ours: time it from now
                self.disturbed_at = now
                self.converged_since = None
                if verdict.partitions > 1:
                    self.emit("diverged", describe_views(verdict))
                else:
                    self.emit("diverged", f"not converged: {describe_wait(verdict)}")
            elif verdict.partitions > 1 and verdict.partitions != self.verdict.partitions:
                self.emit("diverged", describe_views(verdict))
            if self.disturbed_at is None:
                self.disturbed_at = now
        self.converged = verdict.converged
        self.verdict = verdict
        return verdict

    def evaluate(self) -> Verdict:
        expected = [n for n in self.nodes.values() if n.expected]
        answering = [n for n in expected if n.counted]
        waiting = tuple(n.address for n in expected if not n.counted)
        stats = {n.address: n.stats for n in answering if n.stats is not None}
        groups = tuple((stats[g[0]].membership_checksum, tuple(g)) for g in group_by_view(stats))
        missing: tuple[str, ...] = ()
        extra: tuple[str, ...] = ()
        if len(groups) == 1 and answering:
            view = next(n.stats for n in answering if n.stats is not None)
            assert view is not None
            alive = view.alive_addresses()
            # A stopped node still suspect is still on the ring: not converged yet.
            reachable = {m.address for m in view.members if m.status in ("alive", "suspect")}
            running = {n.address for n in expected}
            missing = tuple(sorted(running - alive))
            extra = tuple(sorted(reachable - running))
        converged = (
            bool(answering) and not waiting and len(groups) == 1 and not missing and not extra
        )
        return Verdict(converged, len(groups), groups, waiting, missing, extra)

    # -- summaries -----------------------------------------------------------------

    def status_line(self) -> str:
        """``converged in 1.2 s (5 nodes, checksum 123)`` or what it is waiting for."""
        verdict = self.verdict
        now = self._clock()
        if self.converged and verdict.groups:
            took = self.last_convergence or 0.0
            nodes = len(verdict.groups[0][1])
            return (
                f"converged in {took:.1f} s: {nodes} node{'s' if nodes != 1 else ''}, "
                f"checksum {verdict.groups[0][0]}"
            )
        since = f" for {now - self.disturbed_at:.1f} s" if self.disturbed_at is not None else ""
        if not any(n.expected for n in self.nodes.values()):
            return "no node running"
        if verdict.partitions > 1:
            lasting = self.disturbed_at is not None and now - self.disturbed_at > PARTITION_AFTER
            return describe_views(verdict, since, partitioned=lasting)
        return f"not converged{since}: {describe_wait(verdict)}"

    def checksum_rank(self) -> dict[int, int]:
        """Checksum -> 0 for the biggest group, 1 for the next, ... (for colours)."""
        return {checksum: i for i, (checksum, _nodes) in enumerate(self.verdict.groups)}


PARTITION_AFTER = 30.0
"""Seconds of differing membership views after which tick-cluster calls it a partition
(before that it is gossip still spreading a change)."""


def describe_views(verdict: Verdict, since: str = "", *, partitioned: bool = False) -> str:
    """``2 membership views (gossip spreading): ...``; a partition once it lasts."""
    what = (
        f"{verdict.partitions} partitions"
        if partitioned
        else f"{verdict.partitions} membership views"
    )
    note = "" if partitioned else " (gossip spreading)"
    return f"{what}{since}{note}: {describe_groups(verdict)}"


def describe_groups(verdict: Verdict) -> str:
    return " | ".join(f"{checksum}: {' '.join(nodes)}" for checksum, nodes in verdict.groups)


def describe_wait(verdict: Verdict) -> str:
    parts: list[str] = []
    if verdict.waiting:
        parts.append(f"waiting for {', '.join(verdict.waiting)} to answer")
    if verdict.missing:
        parts.append(f"{', '.join(verdict.missing)} not yet alive in the members' view")
    if verdict.extra:
        parts.append(
            f"{', '.join(verdict.extra)} down but still alive or suspect in the members' "
            "view (on the ring until declared faulty)"
        )
    return "; ".join(parts) or "no answers yet"
