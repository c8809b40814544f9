"""The ring's typed events: what applications and the stats hear of ring changes.

Emitted on the node's :class:`~ringpop.eventbus.EventEmitter` by the facade
(:class:`~ringpop.Ringpop`) when the ring changes; re-exported by
:mod:`ringpop.events`, the one place applications import events from. Events that
count say so in :meth:`~ringpop.eventbus.Event.stats` (ringpop-node's keys).
"""

from __future__ import annotations

from ringpop.eventbus import Event, Kind, Stat
from ringpop.ring.ownership import RangeChange

__all__ = ["LookupTiming", "OwnershipChanged", "RingChanged", "ServerAdded", "ServerRemoved"]


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


class LookupTiming(Event, frozen=True):
    """How long a lookup took (only emitted while someone listens for it)."""

    key: str | bytes
    seconds: float
