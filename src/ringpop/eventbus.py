"""The one instrumentation channel: typed events, delivered to callbacks and async iterators.

Every layer reports what happens by emitting an :class:`Event` on the
:class:`EventEmitter` it is given; nothing else (stats, admin, the facade, users) reaches
inside a layer to learn what it did. An event that should count in the stats says so
itself: it overrides :meth:`Event.stats` to return its ``(kind, key, value)`` triples,
and :class:`ringpop.stats.recorder.StatsRecorder` forwards them to the stats back end
(it listens with :meth:`EventEmitter.on_stats`, so it wants only the events that
count: ones nobody else listens to, and that count nothing, are still not built).
Adding a metric therefore touches one place, the event.

This module sits at the bottom of the layers (beside ``clock`` and ``hashing``): it
imports nothing from ringpop, so every layer may use it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from enum import Enum
from typing import Any, TypeVar

import msgspec

__all__ = ["MAX_RUNNING", "Event", "EventEmitter", "Kind", "Stat", "Subscription", "counts"]

log = logging.getLogger(__name__)


class Kind(Enum):
    """What a stat is."""

    COUNTER = "c"
    GAUGE = "g"
    TIMING = "ms"


Stat = tuple[Kind, str, float]
"""One stat an event stands for: kind, ringpop-node's dotted key, value (ms for timings)."""


class Event(msgspec.Struct, frozen=True):
    """Base of all events."""

    def stats(self) -> tuple[Stat, ...]:
        """The stats this event stands for (none unless a subclass says otherwise)."""
        return ()


def counts(event_type: type[Event]) -> bool:
    """Whether events of ``event_type`` stand for stats (their class overrides ``stats``)."""
    return event_type.stats is not Event.stats


E = TypeVar("E", bound=Event)

MAX_RUNNING = 1000
"""Tasks one ``async def`` callback may have running; events beyond are dropped for it
(counted in :attr:`EventEmitter.dropped`), as a subscription's full queue drops them,
rather than piling up tasks while the callback is stuck."""


class Subscription(AsyncIterator[Event]):
    """An async iterator over events of some types; ``close()`` to stop it."""

    def __init__(self, emitter: EventEmitter, types: tuple[type[Event], ...], maxsize: int) -> None:
        self._emitter = emitter
        self.types = types
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize)
        self.dropped = 0
        self._closed = False
        self._finished = False

    def _offer(self, event: Event) -> None:
        if self._closed:
            return
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(event)

    def close(self) -> None:
        """Stop: the iterator ends after the events already queued."""
        if not self._closed:
            self._closed = True
            self._emitter._unsubscribe(self)
            if self._queue.full():
                self._queue.get_nowait()
            self._queue.put_nowait(None)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        if self._finished:
            raise StopAsyncIteration
        event = await self._queue.get()
        if event is None:
            self._finished = True
            raise StopAsyncIteration
        return event

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()


class EventEmitter:
    """Delivers events to callbacks (by type) and to async subscriptions."""

    def __init__(self) -> None:
        self._callbacks: dict[type[Event], list[Callable[[Any], object]]] = {}
        self._subscriptions: list[Subscription] = []
        self._stat_sinks: list[Callable[[Event], object]] = []
        self._wanted: dict[type[Event], bool] = {}
        self._running: set[asyncio.Task[object]] = set()  # async callbacks' tasks
        self._running_per: dict[int, int] = {}  # by id(callback): its tasks running
        #: Events an ``async def`` callback missed: it had :data:`MAX_RUNNING` tasks running.
        self.dropped = 0

    def on(self, event_type: type[E], callback: Callable[[E], object]) -> None:
        """Call ``callback(event)`` for every event of ``event_type`` (or a subclass).

        An ``async def`` callback runs as a task of its own (the emitter does not wait
        for it), at most :data:`MAX_RUNNING` at once: while it has that many running,
        its events are dropped (counted in :attr:`dropped`, logged). A failing callback,
        plain or async, is logged, never propagated.
        """
        _check_types(event_type)
        _check_callback(callback)
        self._callbacks.setdefault(event_type, []).append(callback)
        self._wanted.clear()

    def _start(self, coroutine: Any, callback: object, event: Event) -> None:
        """Run an async callback's coroutine; its failure is logged when it ends."""
        key = id(callback)
        running = self._running_per.get(key, 0)
        if running >= MAX_RUNNING:
            coroutine.close()
            self.dropped += 1
            if self.dropped % 1000 == 1:  # the first of each thousand
                log.warning(
                    "async event callback %r has %d tasks running: %r dropped "
                    "(%d events dropped in all)",
                    callback,
                    running,
                    event,
                    self.dropped,
                )
            return
        try:
            task = asyncio.get_running_loop().create_task(coroutine)
        except RuntimeError:  # emitted outside the event loop: nowhere to run it
            coroutine.close()
            log.error("async event callback %r needs a running event loop (%r)", callback, event)
            return
        self._running.add(task)
        self._running_per[key] = running + 1

        def done(task: asyncio.Task[object]) -> None:
            self._running.discard(task)
            left = self._running_per.pop(key) - 1
            if left:
                self._running_per[key] = left
            if not task.cancelled() and task.exception() is not None:
                log.error(
                    "event callback %r failed on %r",
                    callback,
                    event,
                    exc_info=task.exception(),
                )

        task.add_done_callback(done)

    def off(self, event_type: type[E], callback: Callable[[E], object]) -> None:
        """Stop calling ``callback`` (one registration; none left: nothing, as in node)."""
        callbacks = self._callbacks.get(event_type, [])
        if callback in callbacks:
            callbacks.remove(callback)
            self._wanted.clear()

    def on_stats(self, callback: Callable[[Event], object]) -> None:
        """Call ``callback(event)`` for every event whose type stands for stats
        (:func:`counts`); other events are not built for it."""
        _check_callback(callback)
        self._stat_sinks.append(callback)
        self._wanted.clear()

    def off_stats(self, callback: Callable[[Event], object]) -> None:
        """Stop calling a callback given to :meth:`on_stats` (not given: nothing)."""
        if callback in self._stat_sinks:
            self._stat_sinks.remove(callback)
            self._wanted.clear()

    def subscribe(self, *types: type[Event], maxsize: int = 1000) -> Subscription:
        """An async iterator over events of ``types`` (all events when none given),
        holding at most ``maxsize`` (a whole number >= 1) not yet read."""
        _check_types(*types)
        if maxsize.__class__ is not int or maxsize < 1:
            raise ValueError(f"maxsize must be a whole number >= 1, not {maxsize!r}")
        subscription = Subscription(self, types or (Event,), maxsize)
        self._subscriptions.append(subscription)
        self._wanted.clear()
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
            self._wanted.clear()

    def wants(self, event_type: type[Event]) -> bool:
        """Whether anyone listens for ``event_type`` (to skip building unwanted events)."""
        wanted = self._wanted.get(event_type)
        if wanted is None:
            wanted = any(
                callbacks and issubclass(event_type, registered)
                for registered, callbacks in self._callbacks.items()
            ) or any(issubclass(event_type, t) for s in self._subscriptions for t in s.types)
            wanted = wanted or bool(self._stat_sinks and counts(event_type))
            self._wanted[event_type] = wanted
        return wanted

    def emit(self, event: Event) -> None:
        """Deliver ``event``; a failing callback is logged, never propagated."""
        if not self.wants(type(event)):
            return
        for registered, callbacks in list(self._callbacks.items()):
            if isinstance(event, registered):
                for callback in list(callbacks):
                    try:
                        result = callback(event)
                    except Exception:
                        log.exception("event callback %r failed on %r", callback, event)
                    else:
                        if result is not None and asyncio.iscoroutine(result):
                            self._start(result, callback, event)
        if self._stat_sinks and counts(type(event)):
            for callback in list(self._stat_sinks):
                try:
                    callback(event)
                except Exception:
                    log.exception("stats callback %r failed on %r", callback, event)
        for subscription in list(self._subscriptions):
            if isinstance(event, subscription.types):
                subscription._offer(event)


def _check_types(*types: object) -> None:
    """``TypeError`` for what is not an :class:`Event` class: matching an event
    against it would raise inside every later ``emit``."""
    for event_type in types:
        if not (isinstance(event_type, type) and issubclass(event_type, Event)):
            raise TypeError(f"an event type must be an Event class, not {event_type!r:.80}")


def _check_callback(callback: object) -> None:
    if not callable(callback):
        raise TypeError(f"an event callback must be callable, not {callback!r:.80}")
