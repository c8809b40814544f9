"""Stats: one interface (:class:`Stats`), back ends for statsd, Prometheus and memory."""

from ringpop.stats.base import Kind, MemoryBackend, MultiBackend, NullBackend, Stats, StatsBackend
from ringpop.stats.statsd import StatsdBackend, statsd_prefix

__all__ = [
    "Kind",
    "MemoryBackend",
    "MultiBackend",
    "NullBackend",
    "Stats",
    "StatsBackend",
    "StatsdBackend",
    "statsd_prefix",
]
