"""The registered tracers of a node: pure bookkeeping, time passed in (epoch ms).

A tracer is identified by its event and its sink's key (node's ``matches``: for a
TChannel sink type, ``hostPort`` and ``endpoint``; for a log sink its message), with
the sink's defaults applied on both sides. Adding an existing tracer renews its expiry
(node's ``_updateExpiration``); the number of tracers is capped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec

from ringpop.errors import RingpopError
from ringpop.trace.options import SinkSpec, TraceRequest

__all__ = ["DEFAULT_MAX_TRACERS", "TraceLimitError", "Tracer", "TracerRegistry"]

DEFAULT_MAX_TRACERS = 16


class TraceLimitError(RingpopError):
    """Too many tracers are registered already."""

    type = "ringpop.trace.limit-exceeded"

    def __init__(self, limit: int) -> None:
        self.message = f"at most {limit} tracers may be registered; remove one or let one expire"
        super().__init__(self.message)


class Tracer(msgspec.Struct):
    """One registered tracer and its delivery counters."""

    event: str
    sink: SinkSpec
    options: dict[str, Any]
    expires_at_ms: float
    sent: int = 0
    failed: int = 0
    dropped: int = 0
    handle: Any = None
    """Whatever delivers to the sink (owned by the caller)."""

    @property
    def key(self) -> tuple[str, ...]:
        """Event and sink key."""
        return (self.event, *self.sink.key)


class TracerRegistry:
    """Tracers by key, at most ``max_tracers`` of them."""

    def __init__(self, max_tracers: int = DEFAULT_MAX_TRACERS) -> None:
        if max_tracers < 1:
            raise ValueError("max_tracers must be at least 1")
        self.max_tracers = max_tracers
        self._tracers: dict[tuple[str, ...], Tracer] = {}

    def __len__(self) -> int:
        return len(self._tracers)

    def __iter__(self) -> Iterator[Tracer]:
        return iter(list(self._tracers.values()))

    def add(self, request: TraceRequest, now_ms: float) -> tuple[Tracer, bool]:
        """Register (or renew) the tracer of ``request``; ``(tracer, created)``.

        Raises :class:`TraceLimitError` when a new one would exceed the cap. An expiry
        already past registers nothing lasting: the next :meth:`expire` drops it.
        """
        expires_at = request.expires_at(now_ms)
        key = (request.event, *request.sink.key)
        tracer = self._tracers.get(key)
        if tracer is not None:
            tracer.expires_at_ms = expires_at
            tracer.options = request.options
            return tracer, False
        self.expire(now_ms)
        if len(self._tracers) >= self.max_tracers:
            raise TraceLimitError(self.max_tracers)
        tracer = Tracer(request.event, request.sink, request.options, expires_at)
        self._tracers[key] = tracer
        return tracer, True

    def remove(self, request: TraceRequest) -> Tracer | None:
        """Unregister the tracer matching ``request``'s event and sink; it, or ``None``."""
        return self._tracers.pop((request.event, *request.sink.key), None)

    def expire(self, now_ms: float) -> list[Tracer]:
        """Unregister and return the tracers whose expiry is at or before ``now_ms``."""
        gone = [t for t in self._tracers.values() if t.expires_at_ms <= now_ms]
        for tracer in gone:
            del self._tracers[tracer.key]
        return gone

    def for_event(self, event: str, now_ms: float) -> list[Tracer]:
        """The live tracers of ``event`` at ``now_ms``."""
        return [t for t in self._tracers.values() if t.event == event and t.expires_at_ms > now_ms]

    def events(self) -> set[str]:
        """The events that have tracers."""
        return {t.event for t in self._tracers.values()}

    def next_expiry(self) -> float | None:
        """The earliest expiry (epoch ms), ``None`` without tracers."""
        return min((t.expires_at_ms for t in self._tracers.values()), default=None)
