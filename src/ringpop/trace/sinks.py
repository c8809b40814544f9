"""Delivery of traced events: to the log, or to a TChannel endpoint of another service.

A TChannel delivery is what ringpop-node's ``TChannelTracer.send`` makes: a raw call
(``as: raw``, caller ``ringpop``) to ``endpoint`` of ``serviceName`` at ``hostPort``,
arg2 empty, arg3 the event as JSON, timeout 1 s unless the sink says otherwise. Sends
run in their own tasks (never awaited by membership), at most ``max_in_flight`` per
sink (more are dropped and counted); failures are counted and logged at most once per
``log_interval`` seconds per sink.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

from ringpop.trace.options import LogSink, TChannelSink
from ringpop.trace.registry import Tracer
from ringpop.transport import Transport

__all__ = ["LogSender", "Sender", "TChannelSender", "WarnLimiter"]

log = logging.getLogger(__name__)
trace_log = logging.getLogger("ringpop.trace")

_LEVELS = {
    "error": logging.ERROR,
    "warn": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": 5,
}
CALLER = "ringpop"


class Sender(Protocol):
    """Delivers the JSON of traced events to one sink."""

    def send(self, tracer: Tracer, blob: bytes) -> None:
        """Deliver ``blob`` (never blocks, never raises)."""
        ...

    def close(self) -> None:
        """Stop delivering (pending sends are cancelled)."""
        ...


class WarnLimiter:
    """Allows one warning per ``interval`` seconds; counts the ones held back."""

    def __init__(self, interval: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._monotonic = monotonic
        self._last: float | None = None
        self.suppressed = 0

    def allow(self) -> int | None:
        """``None`` when a warning must be held back, else how many were held back since."""
        now = self._monotonic()
        if self._last is not None and now - self._last < self.interval:
            self.suppressed += 1
            return None
        self._last = now
        held, self.suppressed = self.suppressed, 0
        return held


class LogSender:
    """Writes each event to the ``ringpop.trace`` logger: ``<message> <json>``."""

    def __init__(self, sink: LogSink) -> None:
        self.sink = sink
        self._level = _LEVELS[sink.level]

    def send(self, tracer: Tracer, blob: bytes) -> None:
        trace_log.log(self._level, "%s %s", self.sink.message, blob.decode(errors="replace"))
        tracer.sent += 1

    def close(self) -> None:
        pass


class TChannelSender:
    """Calls the sink's TChannel endpoint once per event, bounded and never blocking."""

    def __init__(
        self,
        channel: Transport,
        sink: TChannelSink,
        *,
        max_in_flight: int = 32,
        log_interval: float = 10.0,
    ) -> None:
        self.channel = channel
        self.sink = sink
        self.max_in_flight = max_in_flight
        self._tasks: set[asyncio.Task[None]] = set()
        self._warn = WarnLimiter(log_interval)

    def send(self, tracer: Tracer, blob: bytes) -> None:
        if len(self._tasks) >= self.max_in_flight:
            tracer.dropped += 1
            self._warning(tracer, "dropped an event: too many sends in flight")
            return
        task = asyncio.get_running_loop().create_task(self._deliver(tracer, blob))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, tracer: Tracer, blob: bytes) -> None:
        sink = self.sink
        try:
            response = await self.channel.call(
                sink.host_port,
                sink.service,
                sink.endpoint,
                b"",
                blob,
                timeout=sink.timeout_ms / 1000,
                scheme="raw",
                caller=CALLER,
            )
        except asyncio.CancelledError:
            raise
        except Exception as error:
            tracer.failed += 1
            self._warning(tracer, f"send failed: {error}")
            return
        if not response.ok:
            tracer.failed += 1
            self._warning(tracer, f"sink answered not ok: {response.arg3[:200]!r}")
            return
        tracer.sent += 1

    def _warning(self, tracer: Tracer, text: str) -> None:
        held = self._warn.allow()
        if held is not None:
            more = f" ({held} more since the last warning)" if held else ""
            log.warning(
                "trace %s -> %s: %s; %d failed, %d dropped so far%s",
                tracer.event,
                self.sink.describe(),
                text,
                tracer.failed,
                tracer.dropped,
                more,
            )

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()
