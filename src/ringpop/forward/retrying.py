"""The one retry loop of both forwarders (HTTP ``/proxy/req`` and TChannel calls).

:class:`Retrier` sends through a caller-supplied ``send(destination)`` and, when an
attempt fails, follows a :class:`~ringpop.forward.policy.RetryPolicy`: wait (on the
injected clock), look the keys up again, reroute (to ourselves: serve locally when
the caller can), fail over to the next owner of an unreachable one, or give up. Every
step is reported as an event of :mod:`ringpop.forward.events`; the events carry the
forwarder's ``style`` so that only node-style forwarding counts in the stats.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from ringpop.clock import Clock
from ringpop.errors import RingpopError
from ringpop.eventbus import EventEmitter
from ringpop.forward.events import (
    ForwardStyle,
    RequestProxied,
    RerouteReason,
    RetryAborted,
    RetryAttempted,
    RetryFailed,
    RetryRerouted,
    RetryScheduled,
    RetrySucceeded,
)
from ringpop.forward.ownership import OwnershipError, owner_of
from ringpop.forward.policy import RetryPolicy
from ringpop.ring import HashRing

__all__ = ["FAILOVER_DEPTH", "AttemptError", "Retrier", "RetriesExhaustedError"]

T = TypeVar("T")

FAILOVER_DEPTH = 3
"""Owners tried for a key, in ``lookup_n`` order, before waiting for the ring."""


class AttemptError(Exception):
    """One forwarding attempt failed (transport or remote error).

    ``unreachable``: the destination refused the connection, dropped it or did not
    answer in time (a transport failure), as opposed to answering with an error.
    ``ring_differs``: the owner refused because its ring differs from ours.
    ``final``: no retry can succeed (our own channel is closed).
    """

    def __init__(
        self,
        message: str,
        *,
        unreachable: bool = False,
        ring_differs: bool = False,
        final: bool = False,
    ):
        super().__init__(message)
        self.unreachable = unreachable
        self.ring_differs = ring_differs
        self.final = final


class RetriesExhaustedError(RingpopError):
    """Every retry failed; ``retries`` were attempted, ``error`` is the last failure."""

    def __init__(self, retries: int, error: str) -> None:
        super().__init__(error)
        self.retries = retries
        self.error = error


class Retrier:
    """Sends a request to the owner of its keys and retries on failure."""

    __slots__ = ("clock", "events", "me", "ring", "style")

    def __init__(
        self, ring: HashRing, me: str, events: EventEmitter, clock: Clock, style: ForwardStyle
    ) -> None:
        self.ring = ring
        self.me = me
        self.events = events
        self.clock = clock
        self.style: ForwardStyle = style

    def owner(self, keys: Sequence[str]) -> str:
        """The owner of every key (ourselves on an empty ring); :class:`OwnershipError`."""
        return owner_of(self.ring.lookup, self.me, keys)

    async def run(
        self,
        keys: tuple[str, ...],
        destination: str,
        send: Callable[[str], Awaitable[T]],
        policy: RetryPolicy,
        *,
        endpoint: str,
        failover: bool = False,
        local: Callable[[], Awaitable[T]] | None = None,
    ) -> T:
        """``send(destination)``, retried as ``policy`` says.

        ``send`` raises :class:`AttemptError` for a failure worth retrying. With
        ``local``, a retry whose owner is now ourselves is served by ``local()``
        instead of being sent; with ``failover``, an unreachable destination is
        replaced at once by the key's next owner. Raises :class:`RetriesExhaustedError`
        when the policy gives up or an attempt fails for good (our channel closed),
        :class:`OwnershipError` (after a
        :class:`RetryAborted` event) when the keys stop sharing an owner.
        """
        events = self.events
        style = self.style
        unreachable: set[str] = set()
        last_error = ""
        while True:
            try:
                result = await self._send(keys, destination, send, endpoint)
            except AttemptError as error:
                last_error = str(error)
                ring_differs = error.ring_differs
                if error.final:
                    events.emit(RetryFailed(keys, policy.tries, last_error, style))
                    raise RetriesExhaustedError(policy.tries, last_error) from None
                if error.unreachable:
                    unreachable.add(destination)
            else:
                if policy.tries:
                    events.emit(RetrySucceeded(keys, policy.tries, destination, style))
                return result
            if failover and destination in unreachable:
                alternate = self._alternate(keys, unreachable)
                if alternate is not None:  # bounded: each pass adds one to `unreachable`
                    events.emit(
                        RetryRerouted(keys, policy.tries, destination, alternate, style, "failover")
                    )
                    if local is not None and alternate == self.me:
                        return await local()
                    destination = alternate
                    continue
            step = policy.next(ring_differs)
            if step is None:
                break
            events.emit(
                RetryScheduled(keys, step.attempt, step.delay, last_error, style, step.settling)
            )
            await self.clock.sleep(step.delay)
            if step.lookup:
                owner = self._retry_destination(keys, step.attempt, unreachable, failover)
                if owner != destination:
                    reason: RerouteReason = "settle" if step.settling else "lookup"
                    events.emit(
                        RetryRerouted(keys, step.attempt, destination, owner, style, reason)
                    )
                    if local is not None and owner == self.me:
                        return await local()
                    destination = owner
            events.emit(RetryAttempted(keys, step.attempt, destination, style))
        events.emit(RetryFailed(keys, policy.max_retries, last_error, style))
        raise RetriesExhaustedError(policy.max_retries, last_error)

    async def _send(
        self,
        keys: tuple[str, ...],
        destination: str,
        send: Callable[[str], Awaitable[T]],
        endpoint: str,
    ) -> T:
        clock = self.clock
        started = clock.monotonic()
        ok = False
        try:
            result = await send(destination)
            ok = True
            return result
        finally:
            events = self.events
            if events.wants(RequestProxied):
                elapsed = clock.monotonic() - started
                events.emit(RequestProxied(keys, destination, endpoint, ok, elapsed, self.style))

    def _retry_destination(
        self, keys: tuple[str, ...], attempt: int, unreachable: set[str], failover: bool
    ) -> str:
        """The owner of ``keys`` now, or its first reachable next owner with failover;
        :class:`OwnershipError` (and a :class:`RetryAborted` event) when the keys diverged."""
        try:
            owner = self.owner(keys)
        except OwnershipError as error:
            self.events.emit(RetryAborted(keys, attempt, str(error), self.style))
            raise
        if failover and owner in unreachable:
            owner = self._alternate(keys, unreachable) or owner
        return owner

    def _alternate(self, keys: tuple[str, ...], unreachable: set[str]) -> str | None:
        """The first of the first key's next owners that did not fail us, or ``None``."""
        for candidate in self.ring.lookup_n(keys[0], FAILOVER_DEPTH):
            if candidate not in unreachable:
                return candidate
        return None
