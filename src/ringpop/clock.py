"""Injected time: protocol cores read time through a :class:`Clock`, never directly.

The real clock wraps :func:`time.monotonic` and :func:`time.time`; tests and the
simulator pass a :class:`ManualClock` they advance themselves.
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    """Source of time for protocol logic."""

    def monotonic(self) -> float:
        """Seconds on a monotonic clock (for periods, timeouts, ages)."""
        ...

    def now_ms(self) -> int:
        """Wall-clock milliseconds since the Unix epoch (for incarnation numbers)."""
        ...


class SystemClock:
    """The process clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that only moves when told to (deterministic tests, simulation)."""

    def __init__(self, start_ms: int = 1_414_142_122_274, start_monotonic: float = 0.0) -> None:
        self._wall_ms = start_ms
        self._mono = start_monotonic

    def monotonic(self) -> float:
        return self._mono

    def now_ms(self) -> int:
        return self._wall_ms

    def advance(self, seconds: float) -> None:
        """Move both clocks forward by ``seconds``."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._mono += seconds
        self._wall_ms += round(seconds * 1000)
