"""Injected time: protocol cores read time through a :class:`Clock`, never directly.

The real clock wraps :func:`time.monotonic` and :func:`time.time`; tests pass a
:class:`ManualClock` they advance themselves; the simulator
(:mod:`ringpop.testing.memnet`) uses :class:`LoopClock`, which follows the event
loop's (possibly virtual) time.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["Clock", "LoopClock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    """Source of time for protocol logic."""

    def monotonic(self) -> float:
        """Seconds on a monotonic clock (for periods, timeouts, ages)."""
        ...

    def now_ms(self) -> int:
        """Wall-clock milliseconds since the Unix epoch (for incarnation numbers)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` on this clock (drivers wait through it, never directly)."""
        ...


class SystemClock:
    """The process clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ManualClock:
    """A clock that only moves when told to (deterministic tests, simulation)."""

    def __init__(self, start_ms: int = 1_414_142_122_274, start_monotonic: float = 0.0) -> None:
        self._wall_ms = start_ms
        self._mono = start_monotonic
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

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
        if self._sleepers:
            due = [entry for entry in self._sleepers if entry[0] <= self._mono]
            self._sleepers = [entry for entry in self._sleepers if entry[0] > self._mono]
            for _, waiter in due:
                if not waiter.done():
                    waiter.set_result(None)

    async def sleep(self, seconds: float) -> None:
        """Wait until :meth:`advance` has moved the clock ``seconds`` on (a zero or
        negative wait only yields to the event loop)."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        waiter = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._mono + seconds, waiter))
        await waiter


class LoopClock:
    """The event loop's clock: ``monotonic()`` is ``loop.time()`` and ``now_ms()``
    moves with it, from ``start_ms`` at the first reading.

    Under a fast-forwarding loop (``looptime``) both follow virtual time, so
    incarnation numbers and timers agree with the simulated network. Nodes that
    share one instance share one wall clock. ``loop`` defaults to the running loop
    at each reading.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop | None = None, *, start_ms: int = 1_414_142_122_274
    ) -> None:
        self._loop = loop
        self._start_ms = start_ms
        self._origin: float | None = None

    def _time(self) -> float:
        loop = self._loop if self._loop is not None else asyncio.get_running_loop()
        now = loop.time()
        if self._origin is None:
            self._origin = now
        return now

    def monotonic(self) -> float:
        return self._time()

    def now_ms(self) -> int:
        now = self._time()
        assert self._origin is not None
        return self._start_ms + round((now - self._origin) * 1000)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
