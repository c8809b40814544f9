"""Member statuses, their precedence and what each status means (spec §2.2).

:class:`Status` is a ``StrEnum``: its members compare and hash equal to the wire
strings, so ``PRECEDENCE["alive"]`` and ``Status.ALIVE == "alive"`` both work.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = [
    "GONE",
    "PINGABLE",
    "PRECEDENCE",
    "REACHABLE",
    "Status",
    "is_pingable_status",
    "is_reachable",
    "parse_status",
    "precedence",
]


class Status(StrEnum):
    """The five statuses, in order of precedence."""

    ALIVE = "alive"
    SUSPECT = "suspect"
    FAULTY = "faulty"
    LEAVE = "leave"
    TOMBSTONE = "tombstone"


PRECEDENCE: Final[dict[str, int]] = {
    Status.ALIVE: 0,
    Status.SUSPECT: 1,
    Status.FAULTY: 2,
    Status.LEAVE: 3,
    Status.TOMBSTONE: 4,
}
"""At equal incarnation the status with the higher precedence wins (§6.1)."""

PINGABLE: Final = frozenset({Status.ALIVE, Status.SUSPECT})
"""Statuses probed by the gossip loop (the local member never is)."""

REACHABLE: Final = PINGABLE
"""Statuses that count as reachable (go) and put a member in the hash ring."""

GONE: Final = frozenset({Status.FAULTY, Status.TOMBSTONE})
"""Statuses of a member declared dead: faulty, or its tombstone awaiting the reaper."""

_BY_NAME: Final[dict[str, Status]] = {status.value: status for status in Status}


def parse_status(name: str) -> Status | None:
    """The :class:`Status` named ``name``, or ``None`` for an unknown string."""
    return _BY_NAME.get(name)


def precedence(status: str) -> int:
    """Precedence of a status; ``-1`` for an unknown string (§2.2)."""
    return PRECEDENCE.get(status, -1)


def is_pingable_status(status: str) -> bool:
    """Whether members with this status are probed (``alive`` or ``suspect``)."""
    return status in PINGABLE


def is_reachable(status: str) -> bool:
    """Whether members with this status are in the ring (``alive`` or ``suspect``)."""
    return status in REACHABLE
