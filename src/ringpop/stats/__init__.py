"""Stats: one interface (:class:`Stats`), back ends for statsd, Prometheus and memory.

``Ringpop(..., stats_backend=PrometheusBackend())`` (or :class:`StatsdBackend`,
:class:`MultiBackend` of several). :class:`PrometheusBackend` needs
``ringpop[prometheus]`` and is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ringpop.stats.base import Kind, MemoryBackend, MultiBackend, NullBackend, Stats, StatsBackend
from ringpop.stats.statsd import StatsdBackend, statsd_prefix

if TYPE_CHECKING:
    from ringpop.stats.prometheus import PrometheusBackend

__all__ = [
    "Kind",
    "MemoryBackend",
    "MultiBackend",
    "NullBackend",
    "PrometheusBackend",
    "Stats",
    "StatsBackend",
    "StatsdBackend",
    "statsd_prefix",
]


def __getattr__(name: str) -> Any:
    if name == "PrometheusBackend":
        from ringpop.stats.prometheus import PrometheusBackend

        return PrometheusBackend
    raise AttributeError(f"module 'ringpop.stats' has no attribute {name!r}")
