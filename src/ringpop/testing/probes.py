"""Measuring a :class:`~ringpop.testing.SimCluster`: who knew what when, and what it cost.

* :class:`Spread` records, for a set of subjects, when each node first held each
  of them in one of the given statuses (at or above an incarnation): the
  dissemination of a change, and its convergence curve;
* :class:`AliveCounter` follows how many others each node holds alive, and
  :class:`FalseAlarms` the suspect/faulty rumours about live members;
* :class:`Meter` takes the network's counters and the process CPU time at the
  start and end of a window: messages and bytes per node per second, the largest
  message, CPU seconds per simulated node-second.

Both read only what the cluster exposes (membership events, network counters);
they change nothing in the nodes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

from ringpop.events import MembershipChanged
from ringpop.testing.cluster import SimCluster

__all__ = ["AliveCounter", "FalseAlarms", "Meter", "Spread", "Window", "rss_bytes"]


def rss_bytes() -> int:
    """This process's resident set size now (Linux ``/proc``; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


class Spread:
    """When each node first held each subject in one of ``statuses``.

    Subscribes to every node of ``cluster`` (restarted ones too). ``incarnations``
    (subject -> minimum) ignores older news, e.g. the state before a restart.
    """

    def __init__(
        self,
        cluster: SimCluster,
        subjects: Iterable[str],
        statuses: Iterable[str],
        *,
        incarnations: dict[str, int] | None = None,
    ) -> None:
        self.cluster = cluster
        self.statuses = frozenset(statuses)
        self.first: dict[str, dict[str, float]] = {s: {} for s in subjects}
        """subject -> observer -> loop seconds (cluster time) it first held it so."""
        self.incarnations = dict(incarnations or {})
        self._active = True
        cluster.watch(self._seen)

    def _seen(self, observer: str, event: MembershipChanged) -> None:
        if not self._active:
            return
        first = self.first
        for update in event.updates:
            known = first.get(update.address)
            if known is None or observer in known or update.status not in self.statuses:
                continue
            if update.incarnation < self.incarnations.get(update.address, 0):
                continue
            known[observer] = self.cluster.now()

    def stop(self) -> None:
        """Stop recording."""
        self._active = False

    def seed_from_views(self, observers: Iterable[str]) -> None:
        """Record ``now`` for observers whose view already holds a subject so."""
        now = self.cluster.now()
        for observer in observers:
            members = self.cluster.ringpops[observer].node.members
            for subject, known in self.first.items():
                member = members.get(subject)
                if (
                    member is not None
                    and observer not in known
                    and member.status.value in self.statuses
                    and member.incarnation >= self.incarnations.get(subject, 0)
                ):
                    known[observer] = now

    def complete(self, observers: Iterable[str]) -> bool:
        """Whether every observer holds every subject so."""
        chosen = list(observers)
        return all(all(o in known for o in chosen) for known in self.first.values())

    def times(self, subject: str, observers: Iterable[str]) -> list[float]:
        """When each observer first held ``subject`` so, sorted (missing ones left out)."""
        known = self.first[subject]
        return sorted(known[o] for o in observers if o in known)

    def first_time(self, subject: str) -> float | None:
        """When any node first held ``subject`` so."""
        known = self.first[subject]
        return min(known.values()) if known else None

    def last_time(self, observers: Iterable[str]) -> float | None:
        """When the last observer learned the last subject (``None``: incomplete)."""
        chosen = list(observers)
        latest = 0.0
        for known in self.first.values():
            for observer in chosen:
                at = known.get(observer)
                if at is None:
                    return None
                latest = max(latest, at)
        return latest


class Window:
    """What a :class:`Meter` measured between :meth:`Meter.start` and :meth:`Meter.stop`."""

    def __init__(
        self,
        *,
        seconds: float,
        nodes: int,
        messages: int,
        payload: int,
        largest: int,
        largest_endpoint: str,
        cpu: float,
        wall: float,
    ) -> None:
        self.seconds = seconds
        """Virtual seconds of the window."""
        self.nodes = nodes
        self.messages = messages
        self.payload = payload
        self.largest = largest
        self.largest_endpoint = largest_endpoint
        self.cpu = cpu
        """Process CPU seconds spent in the window."""
        self.wall = wall

    @property
    def messages_per_node_s(self) -> float:
        """Messages (requests and responses) sent per node per virtual second."""
        return self.messages / max(self.nodes * self.seconds, 1e-9)

    @property
    def bytes_per_node_s(self) -> float:
        """Payload bytes sent per node per virtual second."""
        return self.payload / max(self.nodes * self.seconds, 1e-9)

    @property
    def cpu_per_node_s(self) -> float:
        """CPU seconds per simulated node-second (the simulator's and the nodes')."""
        return self.cpu / max(self.nodes * self.seconds, 1e-9)


class Meter:
    """Network counters and CPU time over a window of a simulation."""

    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster
        self._start = (0.0, 0, 0, 0.0, 0.0)

    def start(self) -> None:
        """Start a window; the largest-message record starts over."""
        stats = self.cluster.network.stats
        stats.largest_message = 0
        stats.largest_endpoint = ""
        self._start = (
            self.cluster.now(),
            stats.messages_sent,
            stats.bytes_sent,
            time.process_time(),
            time.perf_counter(),
        )

    def stop(self, nodes: int) -> Window:
        """End the window; ``nodes`` is how many nodes ran in it (for per-node figures)."""
        stats = self.cluster.network.stats
        at, messages, payload, cpu, wall = self._start
        return Window(
            seconds=self.cluster.now() - at,
            nodes=nodes,
            messages=stats.messages_sent - messages,
            payload=stats.bytes_sent - payload,
            largest=stats.largest_message,
            largest_endpoint=stats.largest_endpoint,
            cpu=time.process_time() - cpu,
            wall=time.perf_counter() - wall,
        )


class AliveCounter:
    """Per node, how many others it holds alive, kept from membership events."""

    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster
        self.want = len(cluster.addresses) - 1
        self.count: dict[str, int] = {}
        self.done: dict[str, float] = {}
        for address, rp in cluster.ringpops.items():
            members = rp.node.members
            self.count[address] = sum(
                1 for m in members if m.status.value == "alive" and m.address != address
            )
        self.down_at_start = sum(self.want - c for c in self.count.values()) / max(self.want, 1)
        cluster.watch(self._seen)

    def _seen(self, observer: str, event: MembershipChanged) -> None:
        delta = 0
        for update in event.updates:
            if update.local:
                continue
            was = update.previous_status == "alive"
            now = update.status == "alive"
            delta += int(now) - int(was)
        if delta:
            count = self.count[observer] = self.count.get(observer, 0) + delta
            if count >= self.want and observer not in self.done:
                self.done[observer] = self.cluster.now()

    def complete(self) -> bool:
        """Whether every node holds every other node alive."""
        return len(self.done) >= len(self.count) or all(c >= self.want for c in self.count.values())

    def times(self) -> list[float]:
        """When each node came to hold everyone alive, sorted."""
        return sorted(self.done.values())


class FalseAlarms:
    """Rumours that a live member is suspect or faulty: distinct ``(member,
    incarnation)`` pairs (one rumour reaching many nodes counts once)."""

    def __init__(self, cluster: SimCluster, victim: str) -> None:
        self.victim = victim
        self._suspects: set[tuple[str, int]] = set()
        self._faulty: set[tuple[str, int]] = set()
        cluster.watch(self._seen)

    @property
    def suspects(self) -> int:
        """Distinct false suspect rumours."""
        return len(self._suspects)

    @property
    def faulty(self) -> int:
        """Distinct false faulty rumours."""
        return len(self._faulty)

    def _seen(self, observer: str, event: MembershipChanged) -> None:
        for update in event.updates:
            if update.address == self.victim or update.local:
                continue
            if update.status == "suspect":
                self._suspects.add((update.address, update.incarnation))
            elif update.status == "faulty":
                self._faulty.add((update.address, update.incarnation))
