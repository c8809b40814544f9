"""Event tracing of a node: ``/trace/add``, ``/trace/remove`` and the delivery of events.

Traced events and the JSON each delivery carries (arg3; ringpop-node's
``membership.checksumUpdate`` payload for the first)::

    membership.checksum.update
        {"id": "127.0.0.1:3000", "address": "127.0.0.1:3000", "timestamp": <epoch ms>,
         "checksum": 1837784882,
         "membershipStatusCounts": {"alive": 2, "faulty": 0, "leave": 0, "suspect": 0,
                                    "tombstone": 0}}
    ring.changed (ours)
        {"id": ..., "address": ..., "timestamp": ..., "checksum": <ring checksum>,
         "added": ["127.0.0.1:3001"], "removed": []}

The node's events come from the facade's :class:`~ringpop.events.EventEmitter`
(``ChecksumComputed``, ``RingChanged``); callbacks are attached only while a tracer of
that event exists. Answers: ``/trace/add`` echoes the camelCased options (node sends
them in arg2; we send them in arg3), ``/trace/remove`` the removed tracer's options,
or an empty body when nothing matched (as node does).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from ringpop.clock import Clock
from ringpop.eventbus import EventEmitter
from ringpop.membership.events import ChecksumComputed
from ringpop.membership.network import EndpointHandler, RemoteError
from ringpop.ring.events import RingChanged
from ringpop.tchannel import TChannelError
from ringpop.trace.options import (
    CHECKSUM_EVENT,
    RING_EVENT,
    LogSink,
    TraceOptionError,
    TraceRequest,
    parse_add,
    parse_remove,
)
from ringpop.trace.registry import DEFAULT_MAX_TRACERS, TraceLimitError, Tracer, TracerRegistry
from ringpop.trace.sinks import LogSender, Sender, TChannelSender
from ringpop.transport import Transport

__all__ = ["STATUSES", "Tracing"]

log = logging.getLogger(__name__)

STATUSES = ("alive", "faulty", "leave", "suspect", "tombstone")
"""The keys of ``membershipStatusCounts``, in node's order."""
SINK_CONNECT_TIMEOUT = 1.0


class Tracing:
    """The tracers of the node at ``address``, fed by ``events``, sending over ``channel``.

    ``status_counts()`` gives the number of members per status (for the checksum
    event); ``clock.now_ms()`` is the time used for timestamps and expiry.
    """

    def __init__(
        self,
        address: str,
        events: EventEmitter,
        channel: Transport,
        status_counts: Callable[[], Mapping[str, int]],
        clock: Clock,
        *,
        max_tracers: int = DEFAULT_MAX_TRACERS,
    ) -> None:
        self.address = address
        self.events = events
        self.channel = channel
        self.registry = TracerRegistry(max_tracers)
        self._status_counts = status_counts
        self._clock = clock
        self._listening: set[str] = set()
        self._timer: asyncio.TimerHandle | None = None

    def handlers(self) -> dict[str, EndpointHandler]:
        """``/trace/add`` and ``/trace/remove``, for service ``ringpop``."""
        return {"/trace/add": self.handle_add, "/trace/remove": self.handle_remove}

    # -- endpoints ---------------------------------------------------------------------

    async def handle_add(self, body: bytes) -> bytes:
        """``/trace/add``: register or renew a tracer; echoes the options."""
        try:
            request = parse_add(body)
            if not isinstance(request.sink, LogSink):
                await self._check_sink(request.sink.host_port)
            self.add(request)
        except (TraceOptionError, TraceLimitError) as error:
            log.warning("%s: /trace/add refused: %s", self.address, error.message)
            raise RemoteError(error.type, error.message) from None
        return msgspec.json.encode(request.options)

    async def handle_remove(self, body: bytes) -> bytes:
        """``/trace/remove``: unregister a tracer; its options, or empty if none matched."""
        try:
            request = parse_remove(body)
        except TraceOptionError as error:
            raise RemoteError(error.type, error.message) from None
        tracer = self.remove(request)
        return b"" if tracer is None else msgspec.json.encode(tracer.options)

    async def _check_sink(self, host_port: str) -> None:
        """Like node's ``connectSink``: the sink must be reachable when the tracer is added."""
        if self.channel.peer_connection(host_port) is not None:
            return
        try:
            await self.channel.ping(host_port, timeout=SINK_CONNECT_TIMEOUT)
        except (TChannelError, OSError, TimeoutError) as error:
            raise TraceOptionError("tchannel.hostPort", f"it is unreachable ({error})") from None

    # -- registry ----------------------------------------------------------------------

    def add(self, request: TraceRequest) -> Tracer:
        """Register (or renew) a tracer now; raises ``TraceLimitError`` over the cap."""
        now = self._clock.now_ms()
        tracer, created = self.registry.add(request, now)
        if created:
            tracer.handle = self._sender(tracer)
            log.info("%s: tracing %s to %s", self.address, tracer.event, tracer.sink.describe())
        self._refresh(now)
        return tracer

    def remove(self, request: TraceRequest) -> Tracer | None:
        """Unregister the matching tracer; it, or ``None``."""
        tracer = self.registry.remove(request)
        if tracer is not None:
            self._closed(tracer, "removed")
        self._refresh(self._clock.now_ms())
        return tracer

    def close(self) -> None:
        """Drop every tracer and stop pending deliveries."""
        for tracer in self.registry.expire(float("inf")):
            self._closed(tracer, "closed")
        self._refresh(0)

    def _sender(self, tracer: Tracer) -> Sender:
        if isinstance(tracer.sink, LogSink):
            return LogSender(tracer.sink)
        return TChannelSender(self.channel, tracer.sink)

    def _closed(self, tracer: Tracer, why: str) -> None:
        if tracer.handle is not None:
            tracer.handle.close()
        log.info(
            "%s: tracer %s -> %s %s (%d sent, %d failed, %d dropped)",
            self.address,
            tracer.event,
            tracer.sink.describe(),
            why,
            tracer.sent,
            tracer.failed,
            tracer.dropped,
        )

    def _expire(self) -> None:
        self._timer = None
        now = self._clock.now_ms()
        for tracer in self.registry.expire(now):
            self._closed(tracer, "expired")
        self._refresh(now)

    def _refresh(self, now_ms: float) -> None:
        """Attach event callbacks for traced events only; arm the expiry timer."""
        wanted = self.registry.events()
        for event, (event_type, callback) in self._sources().items():
            if event in wanted and event not in self._listening:
                self.events.on(event_type, callback)
                self._listening.add(event)
            elif event not in wanted and event in self._listening:
                self.events.off(event_type, callback)
                self._listening.discard(event)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        due = self.registry.next_expiry()
        if due is not None:
            delay = max(0.0, (due - now_ms) / 1000)
            self._timer = asyncio.get_running_loop().call_later(delay, self._expire)

    def _sources(self) -> dict[str, tuple[type[Any], Callable[[Any], None]]]:
        return {
            CHECKSUM_EVENT: (ChecksumComputed, self._on_checksum),
            RING_EVENT: (RingChanged, self._on_ring),
        }

    # -- delivery ----------------------------------------------------------------------

    def _on_checksum(self, event: ChecksumComputed) -> None:
        counts = self._status_counts()
        self._deliver(
            CHECKSUM_EVENT,
            lambda now: {
                "id": self.address,
                "address": self.address,
                "timestamp": now,
                "checksum": event.checksum,
                "membershipStatusCounts": {s: counts.get(s, 0) for s in STATUSES},
            },
        )

    def _on_ring(self, event: RingChanged) -> None:
        self._deliver(
            RING_EVENT,
            lambda now: {
                "id": self.address,
                "address": self.address,
                "timestamp": now,
                "checksum": event.checksum,
                "added": list(event.added),
                "removed": list(event.removed),
            },
        )

    def _deliver(self, event: str, payload: Callable[[int], dict[str, Any]]) -> None:
        now = self._clock.now_ms()
        tracers = self.registry.for_event(event, now)
        if not tracers:
            return
        blob = msgspec.json.encode(payload(now))
        for tracer in tracers:
            if tracer.handle is not None:
                tracer.handle.send(tracer, blob)
