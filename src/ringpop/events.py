"""Typed events of a ringpop node, delivered to callbacks or async iterators.

::

    rp.events.on(RingChanged, lambda e: print("ring now", e.checksum))

    async for event in rp.events.subscribe(ServerAdded, ServerRemoved):
        ...

The forwarding events (``RequestProxied``, ``Retry*``, ``ChecksumsDiffer``,
``ProxyServed``, ``ProxyOverloaded``) live in :mod:`ringpop.forward.events` and are
re-exported here under the same names.

Every event is a frozen, slotted ``msgspec.Struct`` (cheap to define and to create).
Callbacks run synchronously where the event happens (keep them short); each async
subscriber gets its own bounded queue, and a subscriber that falls behind loses its
oldest events (counted in ``dropped``) rather than slowing the node down.
"""

from __future__ import annotations

import msgspec

from ringpop.eventbus import Event, EventEmitter, Kind, Stat, Subscription
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
from ringpop.ring.ownership import RangeChange

__all__ = [
    "BootstrapStalled",
    "ChecksumComputed",
    "ChecksumsDiffer",
    "Event",
    "EventEmitter",
    "IslandAvoided",
    "LookupTiming",
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


class MemberUpdate(msgspec.Struct, frozen=True):
    """One accepted membership change."""

    address: str
    status: str
    incarnation: int
    previous_status: str | None
    local: bool


class MembershipChanged(Event, frozen=True):
    """A batch of membership changes was applied."""

    updates: tuple[MemberUpdate, ...]
    checksum: int


class ChecksumComputed(Event, frozen=True):
    """The membership checksum changed."""

    checksum: int
    previous: int


class RingChanged(Event, frozen=True):
    """Servers entered or left the hash ring (``servers``: how many it holds now)."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    checksum: int
    servers: int

    def stats(self) -> tuple[Stat, ...]:
        return (
            (Kind.COUNTER, "ring.changed", 1),
            (Kind.COUNTER, "ring.checksum-computed", 1),
            (Kind.GAUGE, "ring.checksum", self.checksum),
            (Kind.GAUGE, "ring.servers", self.servers),
        )


class OwnershipChanged(Event, frozen=True):
    """The ring changed the key ranges of this node (``address``) as one of ``n`` replicas.

    ``gained``/``lost``: ranges whose ``n``-preference list now holds / no longer holds
    us; ``primary_gained``/``primary_lost``: ranges we became / stopped being the owner
    of. Each is a :class:`~ringpop.ring.ownership.RangeChange` with the old and new
    preference lists (owner first). ``changes``: every range that changed, ours or not.
    The first one comes at the end of bootstrap and tells what joining gave us (the
    ring without us -> the ring with us); then one per ring change. Only computed
    while someone listens for it.
    """

    address: str
    n: int
    gained: tuple[RangeChange, ...]
    lost: tuple[RangeChange, ...]
    primary_gained: tuple[RangeChange, ...]
    primary_lost: tuple[RangeChange, ...]
    changes: tuple[RangeChange, ...]
    checksum: int


class ServerAdded(Event, frozen=True):
    """A server entered the ring."""

    address: str

    def stats(self) -> tuple[Stat, ...]:
        return ((Kind.COUNTER, "ring.server-added", 1),)


class ServerRemoved(Event, frozen=True):
    """A server left the ring."""

    address: str

    def stats(self) -> tuple[Stat, ...]:
        return ((Kind.COUNTER, "ring.server-removed", 1),)


class MembersEvicted(Event, frozen=True):
    """Tombstoned members were removed from the member list after the tombstone period."""

    addresses: tuple[str, ...]
    checksum: int


class LookupTiming(Event, frozen=True):
    """How long a lookup took (only emitted while someone listens for it)."""

    key: str | bytes
    seconds: float
