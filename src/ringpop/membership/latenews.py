"""Late news: which membership verdicts a node doubts, and the verdicts log.

A SWIM verdict ("C is faulty") was true for its sender when sent; after a partition
heals, the sides exchange verdicts decided across the split about members the
receiver reaches. With ``cautious_rumours`` a ``faulty``/``tombstone`` change about
another member we hold alive or suspect is taken as ``suspect`` at the same
incarnation (our own suspect timer then decides) when :func:`doubt_late_news` finds
a reason (docs/membership.md#late-news). Pure functions over the member list.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING

import msgspec.structs

from ringpop.membership.status import GONE, PINGABLE, Status
from ringpop.messages import Change

if TYPE_CHECKING:
    from ringpop.membership.memberlist import Applied, MemberList

__all__ = ["doubt_late_news", "log_verdicts", "verdicts"]

verdicts = logging.getLogger("ringpop.membership.verdicts")
"""Every change of another member's status, with who told us (INFO; off by default):
``--log-level=WARNING,ringpop.membership.verdicts=INFO`` traces why a member was
declared suspect or faulty, and by whom."""

_DOUBTED = frozenset((Status.SUSPECT, Status.FAULTY, Status.TOMBSTONE))


def doubt_late_news(
    changes: Sequence[Change],
    peer: str,
    members: MemberList,
    local: str,
    *,
    heard_since: float,
    heard: Mapping[str, float],
    doubts: MutableMapping[str, int],
) -> Sequence[Change]:
    """``changes`` from ``peer`` with the verdicts we doubt taken as ``suspect``.

    A ``faulty``/``tombstone`` change about another member we hold alive or
    suspect is doubted when:

    * we hold that member **alive**: we have not seen it suspected, so the verdict
      is news decided elsewhere (after a heal, often across the partition: its
      sender's view from before). Gossip never takes a member from alive straight
      to faulty; our own suspect timer decides;
    * its sender, or the change's source, is a peer we hold suspect, faulty or
      tombstone, or do not know at all (one we evicted, or never heard of): for us
      it is on the other side of a partition that may just have ended, and what it
      decided was decided over there; so is a source that made it at an
      incarnation it has since left (it refuted a suspicion after making it);
    * the member itself spoke to us since ``heard_since`` (``heard``: when each
      member last did): our own evidence is fresher than the rumour;
    * we already doubted a verdict about it at this incarnation (``doubts``, updated
      here: repeats of a rumour arrive from many peers; the first doubt stands until
      the member refutes or our own timer declares it faulty).

    A member that declares itself gone (a self-eviction) is believed.
    """
    sender = members.get(peer)
    doubted_sender = sender is None or sender.status in _DOUBTED
    cautious: list[Change] | None = None
    for index, change in enumerate(changes):
        if not (change.tombstone or change.status in GONE) or change.address == local:
            continue
        address = change.address
        member = members.get(address)
        if member is None or member.status not in PINGABLE:
            continue
        if change.source == address or peer == address:
            continue  # the member says so itself (a self-eviction)
        incarnation = change.incarnation_number
        if not (
            member.status is Status.ALIVE
            or doubted_sender
            or doubts.get(address, -1) >= incarnation
            or heard.get(address, -math.inf) >= heard_since
            or _doubted_source(change, members, local)
        ):
            continue
        doubts[address] = max(incarnation, doubts.get(address, -1))
        if cautious is None:
            cautious = list(changes)
        cautious[index] = msgspec.structs.replace(
            change, status=Status.SUSPECT.value, tombstone=False
        )
    return changes if cautious is None else cautious


def _doubted_source(change: Change, members: MemberList, local: str) -> bool:
    """The change's source is a peer we hold unreachable or do not know, or made it
    at an incarnation it has since refuted (a verdict from before it was suspected:
    after a heal, from across the split). An empty source or source incarnation, as
    some peers send, is not doubted."""
    source = change.source
    if not source or source == local:
        return False
    member = members.get(source)
    if member is None or member.status in _DOUBTED:
        return True
    return 0 < change.source_incarnation_number < member.incarnation


def log_verdicts(local: str, applied: Sequence[Applied], how: str) -> None:
    """Log each status change of another member in ``applied`` (``how``: who told us)."""
    for item in applied:
        new, old = item.new, item.old
        if item.local or (old is not None and old.status is new.status):
            continue
        verdicts.info(
            "%s: %s %s -> %s (incarnation %d) %s, source %s",
            local,
            new.address,
            old.status.value if old is not None else "unknown",
            new.status.value,
            new.incarnation,
            how,
            item.change.source or "unknown",
        )
