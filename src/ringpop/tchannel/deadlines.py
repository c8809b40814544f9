"""Many deadlines, one timer: the per-connection timeout sweeper.

Every call (and every request being served) has a deadline. Scheduling and
cancelling one loop timer per call costs more than the rest of a small call's
bookkeeping, so a connection keeps its deadlines in a dict and a single timer
set for the earliest one. Calls that finish just drop their entry; when the
timer fires it expires whatever is overdue and re-arms for the next deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["Deadlines"]

# Timers may fire a little early (uvloop rounds to milliseconds): treat
# deadlines this close as due rather than re-arming in a tight loop.
_SLACK = 0.001


class Deadlines:
    """Deadlines keyed by message id; ``expire(id)`` runs when one passes."""

    __slots__ = ("_at", "_deadlines", "_expire", "_handle", "_loop", "_time")

    def __init__(self, loop: asyncio.AbstractEventLoop, expire: Callable[[int], None]) -> None:
        self._loop = loop
        self._time = loop.time
        self._expire = expire
        self._deadlines: dict[int, float] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._at = 0.0

    def __len__(self) -> int:
        return len(self._deadlines)

    def add(self, key: int, delay: float) -> None:
        """Expire ``key`` after ``delay`` seconds unless it is discarded first."""
        deadline = self._time() + delay
        self._deadlines[key] = deadline
        if self._handle is None or deadline < self._at:
            self._arm(deadline)

    def discard(self, key: int) -> None:
        """Forget ``key`` (its work finished)."""
        self._deadlines.pop(key, None)

    def close(self) -> None:
        """Forget everything and stop the timer."""
        self._deadlines.clear()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _arm(self, at: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._at = at
        self._handle = self._loop.call_at(at, self._fire)

    def _fire(self) -> None:
        self._handle = None
        deadlines = self._deadlines
        if not deadlines:
            return
        now = self._loop.time() + _SLACK
        overdue = [key for key, at in deadlines.items() if at <= now]
        for key in overdue:
            del deadlines[key]
        for key in overdue:
            self._expire(key)
        if deadlines and self._handle is None:
            self._arm(min(deadlines.values()))
