"""A testing aid: block a node's event loop on a schedule (``testpop --stall-ms``).

:class:`LoopStall` runs a plain callback on the event loop that calls
:func:`time.sleep` - the loop is genuinely blocked, exactly as a slow synchronous
call in an application would block it: nothing is read, sent, timed out or
answered while it lasts, and everything that piled up is handled afterwards, in
the loop's own order. It reproduces a node that is alive but intermittently slow,
the case Lifeguard (``--lifeguard``, docs/membership.md) is about.
"""

from __future__ import annotations

import asyncio
import logging
import time

__all__ = ["LoopStall"]

log = logging.getLogger("ringpop.testpop")


class LoopStall:
    """Block the event loop for ``duration`` seconds once every ``every`` seconds.

    Stalls start on a fixed schedule (start to start, no drift): the first one
    ``every - duration`` seconds after :meth:`start`. :meth:`stop` cancels the next.
    """

    def __init__(self, duration: float, every: float) -> None:
        if not 0 < duration < every:
            raise ValueError(
                f"a stall must be shorter than its interval ({duration} s every {every} s)"
            )
        self.duration = duration
        self.every = every
        self.count = 0
        """Stalls done so far."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._next = 0.0

    def start(self) -> None:
        """Start stalling the running loop (no-op if already started)."""
        if self._handle is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._next = self._loop.time() + self.every - self.duration
        self._handle = self._loop.call_at(self._next, self._stall)
        log.info(
            "stalling the event loop %.0f ms every %.0f ms (testing aid)",
            self.duration * 1000,
            self.every * 1000,
        )

    def _stall(self) -> None:
        loop = self._loop
        assert loop is not None
        time.sleep(self.duration)  # deliberately blocking: that is the fault
        self.count += 1
        # The next one on the schedule; if the loop fell behind it, one period from now.
        self._next += self.every
        if self._next <= loop.time():
            self._next = loop.time() + self.every - self.duration
        self._handle = loop.call_at(self._next, self._stall)

    def stop(self) -> None:
        """Cancel the next stall."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
            log.info("stopped stalling after %d stalls", self.count)
