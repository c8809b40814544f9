"""``/admin/lifeguard``: a node's local health and the suspicions it has seen.

Beyond the spec (``/admin/stats`` must stay schema-exact, so this is its own
endpoint; ringpop-node and ringpop-go do not have it). It answers with Lifeguard on
and off alike::

    {"enabled": true, "localHealth": 1, "maxLocalHealth": 8,
     "suspicions": [{"address": "127.0.0.1:3003", "incarnationNumber": 1414142122274,
                     "confirmations": 2, "needed": 3, "timeoutMs": 1253.7,
                     "remainingMs": 812.0}],
     "counts": {"127.0.0.1:3003": {"suspect": 12, "faulty": 1,
                                   "declaredSuspect": 2, "declaredFaulty": 0}}}

* ``localHealth`` is the local health multiplier (0 healthy, always 0 with Lifeguard
  off); timeouts are stretched by ``localHealth + 1``;
* ``suspicions`` are the pending Lifeguard suspicions with their dynamic timeouts
  (empty with Lifeguard off);
* ``counts`` are, per member, how many times since this node started it accepted
  that member as ``suspect`` or ``faulty`` (from gossip or its own declarations and
  timers), and how many of those it declared itself (``declared*``: its own failed
  probe, its own suspect timer); members are dropped from it when they are evicted.
  Summed over a cluster's nodes they count false suspicions when nothing was really
  down (``declared*``: independent declarations, the rest is them spreading).
"""

from __future__ import annotations

import msgspec

from ringpop.membership.events import MembershipEvicted, MembershipUpdated
from ringpop.membership.node import SwimNode
from ringpop.membership.status import Status

__all__ = ["LifeguardResponse", "SuspicionCounts", "lifeguard_response"]

_COUNTED = (Status.SUSPECT, Status.FAULTY)


class StatusCounts(msgspec.Struct, rename="camel"):
    """How often one member was accepted as suspect and as faulty (and declared so)."""

    suspect: int = 0
    faulty: int = 0
    declared_suspect: int = 0
    declared_faulty: int = 0


class PendingSuspicion(msgspec.Struct, rename="camel"):
    """One pending Lifeguard suspicion."""

    address: str
    incarnation_number: int
    confirmations: int
    needed: int
    timeout_ms: float
    remaining_ms: float


class LifeguardResponse(msgspec.Struct, rename="camel"):
    """The ``/admin/lifeguard`` body."""

    enabled: bool
    local_health: int
    max_local_health: int
    suspicions: list[PendingSuspicion]
    counts: dict[str, StatusCounts]


class SuspicionCounts:
    """Counts, per member, the accepted ``suspect`` and ``faulty`` updates of a node."""

    __slots__ = ("_address", "_counts")

    def __init__(self, node: SwimNode) -> None:
        self._address = node.address
        self._counts: dict[str, StatusCounts] = {}
        node.events.on(MembershipUpdated, self._on_applied)
        node.events.on(MembershipEvicted, self._on_evicted)

    def _on_applied(self, event: MembershipUpdated) -> None:
        for item in event.applied:
            status = item.new.status
            if item.local or status not in _COUNTED:
                continue
            counts = self._counts.get(item.new.address)
            if counts is None:
                counts = self._counts[item.new.address] = StatusCounts()
            declared = item.change.source == self._address
            if status == Status.SUSPECT:
                counts.suspect += 1
                counts.declared_suspect += declared
            else:
                counts.faulty += 1
                counts.declared_faulty += declared

    def _on_evicted(self, event: MembershipEvicted) -> None:
        for member in event.evicted:
            self._counts.pop(member.address, None)

    def snapshot(self) -> dict[str, StatusCounts]:
        """A copy of the counts, by address."""
        return {
            address: StatusCounts(c.suspect, c.faulty, c.declared_suspect, c.declared_faulty)
            for address, c in sorted(self._counts.items())
        }


def lifeguard_response(node: SwimNode, counts: SuspicionCounts) -> LifeguardResponse:
    """The ``/admin/lifeguard`` body of ``node``."""
    now = node.clock.monotonic()
    pending = []
    for address, suspicion in node.suspicions.items():
        pending.append(
            PendingSuspicion(
                address=address,
                incarnation_number=suspicion.incarnation,
                confirmations=suspicion.confirmations,
                needed=suspicion.needed,
                timeout_ms=round(suspicion.timeout * 1000, 1),
                remaining_ms=round(max(0.0, suspicion.due_at - now) * 1000, 1),
            )
        )
    return LifeguardResponse(
        enabled=node.lifeguard,
        local_health=node.health.score,
        max_local_health=node.health.max_multiplier,
        suspicions=pending,
        counts=counts.snapshot(),
    )
