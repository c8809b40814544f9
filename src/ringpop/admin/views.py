"""Partitions of a cluster as its nodes' ``/admin/stats`` show them: the member lists
behind the membership checksums (``ringpop admin partitions`` and ``checksums``, the
dashboard, tick-cluster).

Two nodes that hold the same members (addresses, statuses, incarnations, labels) are
one partition even when they report different checksums: a node computes its
checksum in the go flavour (ringpop-go, ours by default) or the node one
(ringpop-node), spec §12.2, so a mixed cluster in one piece shows two checksums.
:func:`view_of` is what is compared; :func:`flavour_of` tells which flavour gives the
checksum a node reports, from the member list it reports beside it;
:func:`group_by_view` makes the partitions.
"""

from __future__ import annotations

from collections.abc import Mapping

from ringpop.admin.client import NodeStats
from ringpop.membership.checksum import ChecksumFlavour, membership_checksum
from ringpop.membership.member import Member
from ringpop.membership.status import Status

__all__ = ["View", "flavour_of", "group_by_view", "view_of"]

_FLAVOURS: tuple[ChecksumFlavour, ...] = ("go", "node")

View = tuple[tuple[str, str, int, tuple[tuple[str, str], ...]], ...]
"""A node's counted members, ``(address, status, incarnation, labels)`` in order."""


def view_of(stats: NodeStats) -> View:
    """The members ``stats``' checksum counts (tombstones excluded), in address order."""
    return tuple(
        sorted(
            (m.address, m.status, m.incarnation, tuple(sorted(m.labels.items())))
            for m in stats.members
            if m.status != Status.TOMBSTONE.value
        )
    )


def flavour_of(stats: NodeStats) -> ChecksumFlavour | None:
    """``"go"`` or ``"node"``: the flavour in which the node's listed members hash to the
    checksum it reports; ``None`` when neither does (a list in flux between the two
    reads, or statuses we do not know)."""
    try:
        members = [
            Member(m.address, Status(m.status), m.incarnation, m.labels) for m in stats.members
        ]
    except ValueError:
        return None
    for flavour in _FLAVOURS:
        if membership_checksum(members, flavour) == stats.membership_checksum:
            return flavour
    return None


def group_by_view(nodes: Mapping[str, NodeStats]) -> list[list[str]]:
    """The addresses of ``nodes`` grouped by :func:`view_of` (one group: one partition),
    each group sorted, the biggest group first (on a tie, the lowest address first)."""
    groups: dict[View, list[str]] = {}
    for address, stats in nodes.items():
        groups.setdefault(view_of(stats), []).append(address)
    return sorted((sorted(group) for group in groups.values()), key=lambda g: (-len(g), g[0]))
