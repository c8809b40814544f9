"""The events of forwarding (both styles), and the stats each stands for.

Forwarding reports what it does only by emitting these on the node's
:class:`~ringpop.eventbus.EventEmitter`; an event that counts says which of
ringpop-node's ``requestProxy.*`` stats it stands for (:meth:`Event.stats`), and the
:class:`~ringpop.stats.recorder.StatsRecorder` sends them to the stats back end.

``style`` tells the two forwarders apart: ``"node"`` is the HTTP ``/proxy/req``
forwarding of :class:`~ringpop.forward.RequestProxy`, ``"go"`` the TChannel
forwarding of :class:`~ringpop.forward.Forwarder`. Only node-style forwarding has
stats (ringpop-node's keys); go-style events are for listeners only, as before.

:mod:`ringpop.events` re-exports every name here.
"""

from __future__ import annotations

from typing import Literal

from ringpop.eventbus import Event, Kind, Stat

__all__ = [
    "ChecksumsDiffer",
    "ForwardStyle",
    "ProxyOverloaded",
    "ProxyServed",
    "RequestProxied",
    "RerouteReason",
    "RetryAborted",
    "RetryAttempted",
    "RetryFailed",
    "RetryRerouted",
    "RetryScheduled",
    "RetrySucceeded",
]

ForwardStyle = Literal["node", "go"]
"""Which forwarder: ``"node"`` (HTTP over ``/proxy/req``) or ``"go"`` (TChannel calls)."""

RerouteReason = Literal["lookup", "failover", "settle"]
"""Why a retry changed destination: the keys were looked up again after the retry
schedule's delay (``"lookup"``), the destination could not be reached and the key's
next owner is tried at once (``"failover"``), or rings differed and were given a moment
to agree (``"settle"``)."""

_NONE: tuple[Stat, ...] = ()


def _count(key: str) -> tuple[Stat, ...]:
    return ((Kind.COUNTER, key, 1),)


_SCHEDULED = _count("requestProxy.retry.scheduled")
_REROUTE = _count("requestProxy.retry.reroute")
_FAILOVER = _count("requestProxy.failover")
_SUCCEEDED = _count("requestProxy.retry.succeeded")
_FAILED = _count("requestProxy.retry.failed")
_ABORTED = _count("requestProxy.retry.aborted")
_CHECKSUMS = _count("requestProxy.checksumsDiffer")
_RECV = _count("requestProxy.recv")
_BACKPRESSURE = _count("requestProxy.backpressure")


class RequestProxied(Event, frozen=True):
    """A request was forwarded to its owner (one attempt, node style or go style)."""

    keys: tuple[str, ...]
    destination: str
    endpoint: str
    ok: bool
    seconds: float
    style: ForwardStyle = "go"

    def stats(self) -> tuple[Stat, ...]:
        if self.style != "node":
            return _NONE
        return (
            (
                Kind.COUNTER,
                "requestProxy.send.success" if self.ok else "requestProxy.send.error",
                1,
            ),
            (Kind.TIMING, "requestProxy.send", self.seconds * 1000.0),
        )


class RetryScheduled(Event, frozen=True):
    """A forwarded request failed and will be retried after ``delay`` seconds.

    ``settling``: a quick retry because the rings differed (a change is spreading),
    not one of the retry schedule's.
    """

    keys: tuple[str, ...]
    attempt: int
    delay: float
    error: str
    style: ForwardStyle = "go"
    settling: bool = False

    def stats(self) -> tuple[Stat, ...]:
        return _SCHEDULED if self.style == "node" and not self.settling else _NONE


class RetryAttempted(Event, frozen=True):
    """Retry number ``attempt`` (1-based) is being sent to ``destination``."""

    keys: tuple[str, ...]
    attempt: int
    destination: str
    style: ForwardStyle = "go"


class RetryRerouted(Event, frozen=True):
    """A retry goes to a new owner (``destination`` may be ourselves: handled locally)."""

    keys: tuple[str, ...]
    attempt: int
    previous: str
    destination: str
    style: ForwardStyle = "go"
    reason: RerouteReason = "lookup"

    def stats(self) -> tuple[Stat, ...]:
        if self.style != "node":
            return _NONE
        if self.reason == "lookup":
            return _REROUTE
        return _FAILOVER if self.reason == "failover" else _NONE


class RetrySucceeded(Event, frozen=True):
    """A retry succeeded."""

    keys: tuple[str, ...]
    attempt: int
    destination: str
    style: ForwardStyle = "go"

    def stats(self) -> tuple[Stat, ...]:
        return _SUCCEEDED if self.style == "node" else _NONE


class RetryFailed(Event, frozen=True):
    """Every retry failed; the request fails."""

    keys: tuple[str, ...]
    attempts: int
    error: str
    style: ForwardStyle = "go"

    def stats(self) -> tuple[Stat, ...]:
        return _FAILED if self.style == "node" else _NONE


class RetryAborted(Event, frozen=True):
    """Retries stopped early (e.g. the keys now belong to different owners)."""

    keys: tuple[str, ...]
    attempt: int
    reason: str
    style: ForwardStyle = "go"

    def stats(self) -> tuple[Stat, ...]:
        return _ABORTED if self.style == "node" else _NONE


class ChecksumsDiffer(Event, frozen=True):
    """A forwarded request arrived with a ring checksum different from ours."""

    expected: int
    actual: int
    source: str

    def stats(self) -> tuple[Stat, ...]:
        return _CHECKSUMS


class ProxyServed(Event, frozen=True):
    """A request forwarded to us over ``/proxy/req`` was served by the HTTP handler
    (``status`` is what the handler answered; 500 when it raised)."""

    source: str
    status: int

    def stats(self) -> tuple[Stat, ...]:
        return _RECV


class ProxyOverloaded(Event, frozen=True):
    """A forwarded request was refused with 429 (backpressure: too many requests in
    flight, or the event loop too late)."""

    source: str
    inflight: int
    lag: float

    def stats(self) -> tuple[Stat, ...]:
        return _BACKPRESSURE
