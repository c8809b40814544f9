"""SWIM membership: a pure core and the asyncio drivers around it.

**Pure** (no asyncio, no sockets, no sleeps, no global random; time is the ``now`` the
caller passes, randomness an injected :class:`random.Random`; checked by
``tests/membership/test_core.py``), bottom up:

* :mod:`~ringpop.membership.status` - statuses and precedence (§2.2);
* :mod:`~ringpop.membership.member` - :class:`Member` and the tombstone wire form (§2.3);
* :mod:`~ringpop.membership.labels` - labels checksum, limits, identity (§12.3, §16);
* :mod:`~ringpop.membership.rules` - the update rule, refutation, declarations (§6);
* :mod:`~ringpop.membership.checksum` - the membership checksum, go/node flavours (§12);
* :mod:`~ringpop.membership.memberlist` - :class:`MemberList`: batches of changes,
  local member, full membership as changes, eviction, gossip order (§6, §7.4, §8.2);
* :mod:`~ringpop.membership.dissemination` - :class:`Disseminator`: piggyback
  counters, maxP, sender filter, full sync (§7);
* :mod:`~ringpop.membership.timers` - :class:`TransitionTimers`: the §9 schedule;
* :mod:`~ringpop.membership.lifeguard`, :mod:`~ringpop.membership.limits`,
  :mod:`~ringpop.membership.rate`, :mod:`~ringpop.membership.damping` - Lifeguard,
  input limits, the protocol period, flap scores;
* :mod:`~ringpop.membership.events` - membership's typed events (its stats);
* :mod:`~ringpop.membership.core` - :class:`~ringpop.membership.core.MembershipCore`:
  all of the above kept consistent; ``apply_changes(changes, now)``, ``expire(now)``
  and friends return a ``Step`` with the next deadline.

**Drivers** (asyncio, one per role): :mod:`~ringpop.membership.runtime`,
:mod:`~ringpop.membership.deadlines`, :mod:`~ringpop.membership.gossip`,
:mod:`~ringpop.membership.ping`, :mod:`~ringpop.membership.pingreq`,
:mod:`~ringpop.membership.joinsender`, :mod:`~ringpop.membership.fullsync`,
:mod:`~ringpop.membership.evict`, :mod:`~ringpop.membership.join`,
:mod:`~ringpop.membership.heal`, :mod:`~ringpop.membership.fastheal`,
:mod:`~ringpop.membership.damper`, :mod:`~ringpop.membership.protocol`; and
:class:`~ringpop.membership.node.SwimNode`, their composition around one core.

Driving the core by hand (what the drivers do for one received batch)::

    step = core.apply_changes(request.changes, now, peer=request.source)
    arm_timer(step.deadline)  # then, at that time: step = core.expire(now) ...
    changes, full_sync = core.disseminator.issue_as_receiver(
        request.source, request.source_incarnation_number, request.checksum)
"""

from __future__ import annotations

from ringpop.membership.checksum import (
    ChecksumFlavour,
    ChecksumTracker,
    OtherFlavour,
    checksum_string,
    member_string,
    membership_checksum,
)
from ringpop.membership.dissemination import Disseminator, max_piggyback
from ringpop.membership.labels import (
    IDENTITY_LABEL,
    LabelError,
    check_identity,
    check_labels,
    identity_of,
    labels_checksum,
    remove_labels,
    set_label,
)
from ringpop.membership.member import (
    Member,
    change_from_wire,
    change_to_wire,
    is_valid_address,
    member_change,
)
from ringpop.membership.memberlist import Applied, MemberList, ring_updates
from ringpop.membership.rules import accepts, declaration, refutation_incarnation, self_change
from ringpop.membership.status import (
    PRECEDENCE,
    Status,
    is_pingable_status,
    is_reachable,
    parse_status,
    precedence,
)
from ringpop.membership.timers import Expired, Timer, TransitionTimers

__all__ = [
    "IDENTITY_LABEL",
    "PRECEDENCE",
    "Applied",
    "ChecksumFlavour",
    "ChecksumTracker",
    "Disseminator",
    "Expired",
    "LabelError",
    "Member",
    "MemberList",
    "OtherFlavour",
    "Status",
    "Timer",
    "TransitionTimers",
    "accepts",
    "change_from_wire",
    "change_to_wire",
    "check_identity",
    "check_labels",
    "checksum_string",
    "declaration",
    "identity_of",
    "is_pingable_status",
    "is_reachable",
    "is_valid_address",
    "labels_checksum",
    "max_piggyback",
    "member_change",
    "member_string",
    "membership_checksum",
    "parse_status",
    "precedence",
    "refutation_incarnation",
    "remove_labels",
    "ring_updates",
    "self_change",
    "set_label",
]
