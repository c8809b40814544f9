"""Driver: arms the core's next deadline on the asyncio loop (§9 timers).

The core (:class:`~ringpop.membership.core.MembershipCore`) says when its next
transition is due; :class:`DeadlineTimer` keeps one ``loop.call_later`` armed for
that time, measured on the injected clock, and calls back when it fires. Arming the
same deadline again is free, so callers arm after every step of the core.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ringpop.clock import Clock

__all__ = ["DeadlineTimer"]


class DeadlineTimer:
    """One loop timer following the core's next deadline."""

    __slots__ = ("_clock", "_closed", "_due", "_fire", "_handle")

    def __init__(self, clock: Clock, fire: Callable[[], None]) -> None:
        self._clock = clock
        self._fire = fire
        self._handle: asyncio.TimerHandle | None = None
        self._due: float | None = None
        self._closed = False

    @property
    def due(self) -> float | None:
        """The armed deadline (clock seconds), if any."""
        return self._due if self._handle is not None else None

    def arm(self, due: float | None) -> None:
        """Fire at ``due`` (``None``: nothing to wait for). Without a running loop the
        deadline is armed again by the next step of the core."""
        if self._closed:
            return
        if due == self._due and self._handle is not None:
            return
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._due = due
        if due is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._due = None
            return
        delay = max(0.0, due - self._clock.monotonic())
        self._handle = loop.call_later(delay, self._run)

    def _run(self) -> None:
        self._handle = None
        self._due = None
        self._fire()

    def close(self) -> None:
        """Cancel the timer and arm nothing more."""
        self._closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
