"""The protocol period (§8.1) as plain data: twice the median of recent periods.

:class:`ProtocolRate` keeps the durations of the last protocol periods and
recomputes the period at most once per ``interval`` seconds: ``max(2 x median,
minimum)``. Times are plain numbers (seconds on the caller's monotonic clock); the
gossip loop (:mod:`.gossip`) measures the periods and sleeps.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

__all__ = ["ProtocolRate", "median"]

_SAMPLES = 10


class ProtocolRate:
    """The current gossip period and the samples it comes from."""

    __slots__ = ("_computed_at", "_durations", "interval", "minimum", "rate")

    def __init__(self, minimum: float, interval: float, *, samples: int = _SAMPLES) -> None:
        self.minimum = minimum
        """The shortest period (``min_protocol_period``)."""
        self.interval = interval
        """How often the period is recomputed (``protocol_rate_interval``)."""
        self.rate = minimum
        """The current period in seconds."""
        self._durations: deque[float] = deque(maxlen=samples)
        self._computed_at = float("-inf")

    def durations(self) -> list[float]:
        """The last period durations in seconds, oldest first."""
        return list(self._durations)

    def record(self, duration: float, now: float) -> None:
        """A period of ``duration`` seconds ended at ``now``; maybe recompute the rate."""
        self._durations.append(duration)
        if now - self._computed_at < self.interval:
            return
        self._computed_at = now
        self.rate = max(2 * median(self._durations), self.minimum)

    def reset(self) -> bool:
        """Forget the samples and go back to the minimum; whether the period shrank."""
        self._durations.clear()
        self._computed_at = float("-inf")
        if self.rate > self.minimum:
            self.rate = self.minimum
            return True
        return False


def median(values: Sequence[float]) -> float:
    """The median of a few samples (``statistics`` costs ~3 ms of start-up to import)."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
