"""Typed events of a ringpop node, delivered to callbacks or async iterators.

::

    rp.events.on(RingChanged, lambda e: print("ring now", e.checksum))

    async for event in rp.events.subscribe(ServerAdded, ServerRemoved):
        ...

This is the one place applications import events from. Each event is defined by
the layer that knows about it and re-exported here under the same name: the ring's
(``RingChanged``, ``ServerAdded``, ``ServerRemoved``, ``OwnershipChanged``,
``LookupTiming``) in :mod:`ringpop.ring.events`, membership's (``MembershipChanged``,
``MemberUpdate``, ``ChecksumComputed``, ``MembersEvicted``) in
:mod:`ringpop.membership.events`, forwarding's (``RequestProxied``, ``Retry*``,
``ChecksumsDiffer``, ``ProxyServed``, ``ProxyOverloaded``) in
:mod:`ringpop.forward.events`; the node's own lifecycle events (``Ready``,
``BootstrapStalled``, ``IslandAvoided``) are defined here.

Every event is a frozen, slotted ``msgspec.Struct`` (cheap to define and to create).
Callbacks run synchronously where the event happens (keep them short); each async
subscriber gets its own bounded queue, and a subscriber that falls behind loses its
oldest events (counted in ``dropped``) rather than slowing the node down.
"""

from __future__ import annotations

from ringpop.eventbus import Event, EventEmitter, Subscription
from ringpop.forward.events import (
    ChecksumsDiffer,
    ProxyOverloaded,
    ProxyServed,
    RequestProxied,
    RetryAborted,
    RetryAttempted,
    RetryFailed,
    RetryRerouted,
    RetryScheduled,
    RetrySucceeded,
)
from ringpop.membership.events import (
    ChecksumComputed,
    MembersEvicted,
    MembershipChanged,
    MemberUpdate,
)
from ringpop.ring.events import (
    LookupTiming,
    OwnershipChanged,
    RingChanged,
    ServerAdded,
    ServerRemoved,
)

__all__ = [
    "BootstrapStalled",
    "ChecksumComputed",
    "ChecksumsDiffer",
    "Event",
    "EventEmitter",
    "IslandAvoided",
    "LookupTiming",
    "MemberUpdate",
    "MembersEvicted",
    "MembershipChanged",
    "OwnershipChanged",
    "ProxyOverloaded",
    "ProxyServed",
    "Ready",
    "RequestProxied",
    "RetryAborted",
    "RetryAttempted",
    "RetryFailed",
    "RetryRerouted",
    "RetryScheduled",
    "RetrySucceeded",
    "RingChanged",
    "ServerAdded",
    "ServerRemoved",
    "Subscription",
]


class Ready(Event, frozen=True):
    """Bootstrap finished: the node serves pings and gossips."""

    address: str
    members: int


class BootstrapStalled(Event, frozen=True):
    """No member has answered a join yet (``join_forever``: still trying)."""

    elapsed: float
    joined: int


class IslandAvoided(Event, frozen=True):
    """The bootstrap list named only us, discovery names others: joining them."""

    discovered: tuple[str, ...]
