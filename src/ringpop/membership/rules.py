"""The SWIM update rule (§6.1), refutation (§6.3) and local declarations (§6.4).

Pure functions over :class:`~ringpop.membership.member.Member` values; the member
list applies them.
"""

from __future__ import annotations

from collections.abc import Mapping

from ringpop.membership.labels import labels_checksum
from ringpop.membership.member import Member, member_change
from ringpop.membership.status import PRECEDENCE, Status
from ringpop.messages import Change

__all__ = ["accepts", "declaration", "refutation_incarnation", "self_change"]


def accepts(
    member: Member | None,
    status: str,
    incarnation: int,
    labels: Mapping[str, str],
    *,
    label_tiebreak: bool = True,
) -> bool:
    """Whether a change (already in internal form) overrides ``member`` (§6.1).

    1. a tombstone about an unknown member is rejected;
    2. any other change about an unknown member is accepted;
    3./4. a higher incarnation wins, a lower one loses;
    5. at equal incarnation the higher status precedence wins;
    6. at equal incarnation and status, go (``label_tiebreak``) accepts when the
       change's signed labels checksum is greater; node rejects.

    ``status`` must be a known status (see :func:`~ringpop.membership.status.parse_status`).
    """
    if member is None:
        return status != Status.TOMBSTONE
    if incarnation != member.incarnation:
        return incarnation > member.incarnation
    incoming = PRECEDENCE[status]
    known = PRECEDENCE[member.status]
    if incoming != known:
        return incoming > known
    if not label_tiebreak or labels == member.labels:
        return False
    return labels_checksum(labels) > labels_checksum(member.labels)


def refutation_incarnation(now_ms: int, current: int, refuted: int) -> int:
    """The new local incarnation when refuting a rumour at ``refuted`` (§6.3).

    ``max(now_ms, current + 1, refuted + 1)``: go and node use plain ``now``, which
    loses against gossip dated in the future.
    """
    return max(now_ms, current + 1, refuted + 1)


def self_change(local: Member, *, timestamp: int | None = None) -> Change:
    """The self-sourced change announcing the local member's state (§6.3, §14).

    ``source`` is the local address and ``sourceIncarnationNumber`` equals the
    local incarnation, as the conformance suite checks.
    """
    return member_change(
        local, source=local.address, source_incarnation=local.incarnation, timestamp=timestamp
    )


def declaration(
    local: Member,
    subject: Member | None,
    address: str,
    status: Status,
    incarnation: int,
    *,
    timestamp: int | None = None,
    change_id: str = "",
) -> Change:
    """A local declaration about ``address`` (e.g. "suspect at incarnation n", §6.4).

    ``source`` is the local member; the subject's labels are copied so applying the
    declaration does not wipe them (go). Apply it through the normal rule, so a
    declaration about a superseded incarnation is dropped.
    """
    return Change(
        id=change_id,
        source=local.address,
        source_incarnation_number=local.incarnation,
        address=address,
        status=status.value,
        incarnation_number=incarnation,
        labels=subject.labels if subject is not None else {},
        timestamp=timestamp,
    )
