"""The stats interface: one front (:class:`Stats`) over pluggable back ends.

Keys are ringpop-node's dotted stat names (``ping.send``, ``join.recv``,
``membership-update.alive``, ``checksum``, ...). The front adds the node: statsd sees
``ringpop.<host_port with . and : as _>.<key>`` exactly as ringpop-node emitted it,
Prometheus sees the key as a metric name and the node as a label.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Protocol

from ringpop.eventbus import Kind

__all__ = ["Kind", "MemoryBackend", "MultiBackend", "NullBackend", "Stats", "StatsBackend"]


class StatsBackend(Protocol):
    """Where stats go. ``emit`` must never raise and never block for long."""

    def emit(self, kind: Kind, key: str, value: float, node: str) -> None:
        """Record one value of stat ``key`` for the node listening on ``node``."""
        ...

    def close(self) -> None:
        """Release sockets/threads; further emits are dropped."""
        ...


class NullBackend:
    """Drops everything (the default)."""

    def emit(self, kind: Kind, key: str, value: float, node: str) -> None:
        return None

    def close(self) -> None:
        return None


class MemoryBackend:
    """Keeps counters, last gauge values and timing samples in memory.

    Useful for applications that expose their own status page, and for tests.
    """

    def __init__(self) -> None:
        self.counters: defaultdict[str, float] = defaultdict(float)
        self.gauges: dict[str, float] = {}
        self.timings: defaultdict[str, list[float]] = defaultdict(list)

    def emit(self, kind: Kind, key: str, value: float, node: str) -> None:
        if kind is Kind.COUNTER:
            self.counters[key] += value
        elif kind is Kind.GAUGE:
            self.gauges[key] = value
        else:
            samples = self.timings[key]
            samples.append(value)
            if len(samples) > 1000:  # bounded memory
                del samples[:500]

    def close(self) -> None:
        return None


class MultiBackend:
    """Sends every stat to several back ends."""

    def __init__(self, backends: Iterable[StatsBackend]) -> None:
        self.backends = list(backends)

    def emit(self, kind: Kind, key: str, value: float, node: str) -> None:
        for backend in self.backends:
            backend.emit(kind, key, value, node)

    def attach(self, node: str) -> None:
        """Pass a new node on to the back ends that want to know."""
        for backend in self.backends:
            attach = getattr(backend, "attach", None)
            if attach is not None:
                attach(node)

    def close(self) -> None:
        for backend in self.backends:
            backend.close()


class Stats:
    """What ringpop code calls: ``stats.increment("ping.send")`` and friends."""

    __slots__ = ("backend", "node")

    def __init__(self, node: str, backend: StatsBackend | None = None) -> None:
        self.node = node
        self.backend: StatsBackend = backend if backend is not None else NullBackend()
        attach = getattr(self.backend, "attach", None)
        if attach is not None:  # back ends that export series before their first event
            attach(node)

    def increment(self, key: str, value: int = 1) -> None:
        """Count ``value`` more occurrences of ``key``."""
        self.backend.emit(Kind.COUNTER, key, value, self.node)

    def gauge(self, key: str, value: float) -> None:
        """Report the current value of ``key``."""
        self.backend.emit(Kind.GAUGE, key, value, self.node)

    def timing(self, key: str, milliseconds: float) -> None:
        """Report one duration of ``key`` in milliseconds."""
        self.backend.emit(Kind.TIMING, key, milliseconds, self.node)
