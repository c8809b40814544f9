"""Stats subscribe to events: the bridge from the event bus to a stats back end.

Layers never call the stats back end themselves. They emit typed events, and an event
that counts says which stats it stands for (:meth:`ringpop.eventbus.Event.stats`); the
recorder forwards those to :class:`~ringpop.stats.base.Stats`. With a
:class:`~ringpop.stats.base.NullBackend` nothing is subscribed, so events nobody else
wants are not even built (``EventEmitter.wants`` stays false).
"""

from __future__ import annotations

from ringpop.eventbus import Event, EventEmitter
from ringpop.stats.base import NullBackend, Stats

__all__ = ["StatsRecorder"]


class StatsRecorder:
    """Sends the stats of every event emitted on an emitter to ``stats``."""

    __slots__ = ("_emitter", "stats")

    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self._emitter: EventEmitter | None = None

    def attach(self, emitter: EventEmitter) -> None:
        """Start recording events of ``emitter`` (no-op for a null back end)."""
        if self._emitter is not None or isinstance(self.stats.backend, NullBackend):
            return
        self._emitter = emitter
        emitter.on_stats(self.record)

    def detach(self) -> None:
        """Stop recording."""
        if self._emitter is not None:
            self._emitter.off_stats(self.record)
            self._emitter = None

    def record(self, event: Event) -> None:
        """Forward the stats ``event`` stands for."""
        backend = self.stats.backend
        node = self.stats.node
        for kind, key, value in event.stats():
            backend.emit(kind, key, value, node)
