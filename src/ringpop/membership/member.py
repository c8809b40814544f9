"""A member of the cluster and the wire form of changes about it (§2.1, §2.3).

Inside the member list a tombstone is the status ``tombstone``. On the wire it is
``status="faulty", tombstone=True`` (the literal status ``tombstone`` is accepted
too). :func:`change_from_wire` and :func:`change_to_wire` convert between the two.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

import msgspec

from ringpop.membership.labels import identity_of
from ringpop.membership.status import PINGABLE, Status, parse_status
from ringpop.messages import Change

__all__ = [
    "Member",
    "change_from_wire",
    "change_to_wire",
    "interned_member",
    "is_valid_address",
    "member_change",
]

_ADDRESS: Final = re.compile(r"[^:\s]+:[0-9]{1,5}")


class Member(msgspec.Struct, frozen=True, gc=False):
    """What we know about one member. Immutable: the member list replaces it.

    ``labels`` is shared with the change that produced it; treat it as read-only.
    """

    address: str
    status: Status
    incarnation: int
    labels: dict[str, str] = msgspec.field(default_factory=dict)

    @property
    def identity(self) -> str:
        """Ring identity: the ``__identity`` label, else the address (§16)."""
        return identity_of(self.labels, self.address)

    @property
    def is_reachable(self) -> bool:
        """``alive`` or ``suspect``: in the hash ring (the local member included)."""
        return self.status in PINGABLE


_NO_LABELS: Final[dict[str, str]] = {}
"""The labels of every interned member: shared, read-only like every member's labels."""
_INTERN_LIMIT: Final = 1 << 17
"""Member states (and valid addresses) kept shared: the least recently used go first."""


def interned_member(
    address: str, status: Status, incarnation: int, labels: dict[str, str]
) -> Member:
    """``Member(address, status, incarnation, labels)``, shared when it has no labels.

    Every member list of the process that holds the same state holds the same
    object (and address string): a simulated cluster of ``n`` nodes holds ``n``
    records per state instead of ``n^2`` (docs/scale.md). Members are immutable and
    their labels read-only, so sharing changes nothing else. At most ``2^17`` states
    are kept (a bound for long-lived processes).
    """
    if labels:
        return Member(address, status, incarnation, labels)
    return _unlabelled(address, status, incarnation)


@lru_cache(maxsize=_INTERN_LIMIT)
def _unlabelled(address: str, status: Status, incarnation: int) -> Member:
    return Member(address, status, incarnation, _NO_LABELS)


@lru_cache(maxsize=_INTERN_LIMIT)
def is_valid_address(address: str) -> bool:
    """Whether ``address`` is ``host:port`` (one ``:``, a numeric port), like node checks."""
    return _ADDRESS.fullmatch(address) is not None


def change_from_wire(change: Change) -> Change | None:
    """The internal form of a received change, or ``None`` if it must be dropped.

    ``faulty`` + ``tombstone: true`` becomes status ``tombstone``; the flag is
    cleared in the internal form. Unknown statuses are dropped (§2.2).
    """
    if change.tombstone:
        if change.status == Status.FAULTY or change.status == Status.TOMBSTONE:
            return msgspec.structs.replace(change, status=Status.TOMBSTONE.value, tombstone=False)
        change = msgspec.structs.replace(change, tombstone=False)
    if parse_status(change.status) is None:
        return None
    return change


def change_to_wire(change: Change) -> Change:
    """The form to send: a tombstone becomes ``status="faulty", tombstone=True``."""
    if change.status == Status.TOMBSTONE:
        return msgspec.structs.replace(change, status=Status.FAULTY.value, tombstone=True)
    return change


def member_change(
    member: Member,
    *,
    source: str = "",
    source_incarnation: int = 0,
    timestamp: int | None = None,
    change_id: str = "",
) -> Change:
    """A change (internal form) stating ``member``'s current state."""
    return Change(
        id=change_id,
        source=source,
        source_incarnation_number=source_incarnation,
        address=member.address,
        status=member.status.value,
        incarnation_number=member.incarnation,
        labels=member.labels,
        timestamp=timestamp,
    )
