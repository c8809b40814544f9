"""The member list: every member we know, the update rule applied in batches (§6).

:class:`MemberList` is pure state. It reads time only through the injected
:class:`~ringpop.clock.Clock` (for new local incarnations) and randomness only
through the injected :class:`random.Random` (insert positions, shuffles, helper
choice). It does not disseminate, schedule timers or touch the ring itself:
:meth:`MemberList.apply` returns what it applied (:class:`Applied`) and the caller
feeds that to the :class:`~ringpop.membership.dissemination.Disseminator`, the
:class:`~ringpop.membership.timers.TransitionTimers` and the hash ring (see
:func:`ring_updates`).

Size: ~460 lines, over the ~400 guideline on purpose: one class whose methods all
keep the same private indexes consistent (gossip order and cursor, pingable set,
incremental checksum, cached full membership); split, those invariants would span
modules.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import NamedTuple

from ringpop.clock import Clock
from ringpop.membership.checksum import ChecksumTracker
from ringpop.membership.member import (
    Member,
    change_from_wire,
    change_to_wire,
    interned_member,
    is_valid_address,
    member_change,
)
from ringpop.membership.rules import accepts, declaration, refutation_incarnation, self_change
from ringpop.membership.status import PINGABLE, PRECEDENCE, Status, parse_status
from ringpop.messages import Change, StatsMember
from ringpop.options import ChecksumFlavour

__all__ = ["Applied", "MemberList", "ring_updates"]

_LOCAL_STATUSES = frozenset({Status.ALIVE, Status.LEAVE, Status.FAULTY})
_ONE_BY_ONE = 16  # new members per batch up to which each is inserted on its own


class Applied(NamedTuple):
    """One accepted change: what to disseminate and how the member changed.

    For a refutation (or any local status/label change) ``change`` is the new
    self-sourced change and ``old``/``new`` are the local member before/after.
    """

    change: Change
    """The change to record for dissemination (internal form, as received)."""
    old: Member | None
    """The member before, ``None`` if it was unknown."""
    new: Member
    """The member now."""
    local: bool
    """Whether this is about the local member (no timers for it)."""


class MemberList:
    """Every known member, the local one included, plus the gossip iteration order.

    >>> from ringpop.clock import ManualClock
    >>> members = MemberList("127.0.0.1:3000", clock=ManualClock(), rng=random.Random(1))
    >>> applied = members.apply(
    ...     [Change(address="127.0.0.1:3001", status="suspect", incarnation_number=7)]
    ... )
    >>> [(a.new.address, a.new.status.value, a.old) for a in applied]
    [('127.0.0.1:3001', 'suspect', None)]
    >>> members.next_ping_target().address
    '127.0.0.1:3001'
    """

    __slots__ = (
        "_as_changes_cache",
        "_checksum",
        "_clock",
        "_cursor",
        "_label_tiebreak",
        "_local",
        "_local_address",
        "_members",
        "_order",
        "_pingable",
        "_rng",
        "_version",
    )

    def __init__(
        self,
        local_address: str,
        *,
        clock: Clock,
        rng: random.Random,
        incarnation: int | None = None,
        labels: Mapping[str, str] | None = None,
        checksum_flavour: ChecksumFlavour = "go",
        label_tiebreak: bool = True,
    ) -> None:
        """Create the list holding only the local member, ``alive``.

        ``incarnation`` defaults to ``clock.now_ms()``. ``labels`` are the initial
        local labels (validate them with :func:`~ringpop.membership.labels.check_labels`).
        ``label_tiebreak`` enables go's step 6 of §6.1 (node: off).
        """
        if not is_valid_address(local_address):
            raise ValueError(f"local address must be host:port, not {local_address!r}")
        self._clock = clock
        self._rng = rng
        self._label_tiebreak = label_tiebreak
        self._local_address = local_address
        self._checksum = ChecksumTracker(checksum_flavour)
        self._members: dict[str, Member] = {}
        self._order: list[str] = []
        self._cursor = -1
        self._pingable = 0
        self._version = 0
        self._as_changes_cache: tuple[int, str, int, list[Change]] | None = None
        start = clock.now_ms() if incarnation is None else incarnation
        local = Member(local_address, Status.ALIVE, start, dict(labels or {}))
        self._local = local
        self._store(None, local)
        self._place((local_address,))

    # -- reading -----------------------------------------------------------------

    @property
    def local_address(self) -> str:
        """The local member's address."""
        return self._local_address

    @property
    def local(self) -> Member:
        """The local member."""
        return self._local

    @property
    def checksum(self) -> int:
        """The membership checksum (§12), hashed at most once per applied batch."""
        return self._checksum.value

    @property
    def checksum_flavour(self) -> ChecksumFlavour:
        """``"go"`` or ``"node"``."""
        return self._checksum.flavour

    def checksum_text(self) -> str:
        """The string the checksum hashes (for debugging)."""
        return self._checksum.text()

    def get(self, address: str) -> Member | None:
        """The member with this address, or ``None``."""
        return self._members.get(address)

    def __contains__(self, address: object) -> bool:
        return address in self._members

    def __len__(self) -> int:
        return len(self._members)

    def __iter__(self) -> Iterator[Member]:
        return iter(list(self._members.values()))

    def members(self) -> list[Member]:
        """All members (any status, the local one included)."""
        return list(self._members.values())

    def sorted_members(self) -> list[Member]:
        """All members sorted by address (the order of ``/admin/stats``)."""
        return sorted(self._members.values(), key=lambda m: m.address)

    def stats_members(self) -> list[StatsMember]:
        """The ``membership.members`` list of ``/admin/stats`` (§5.1): by address, real status."""
        return [
            StatsMember(
                address=m.address,
                status=m.status.value,
                incarnation_number=m.incarnation,
                labels=m.labels,
            )
            for m in self.sorted_members()
        ]

    def ring_servers(self) -> list[tuple[str, str | None]]:
        """Every reachable member (the local one included) as ``(address, identity or None)``.

        The servers of the hash ring (§13.3), e.g. to build it at start-up; after that
        :func:`ring_updates` gives the changes per batch.
        """
        servers: list[tuple[str, str | None]] = []
        for member in self._members.values():
            if member.status in PINGABLE:
                identity = member.identity
                servers.append((member.address, None if identity == member.address else identity))
        return servers

    def is_pingable(self, member: Member) -> bool:
        """``alive`` or ``suspect`` and not the local member."""
        return member.status in PINGABLE and member.address != self._local_address

    @property
    def pingable_count(self) -> int:
        """Number of pingable members (the basis of maxP, §7.1)."""
        return self._pingable

    def pingable_members(self) -> list[Member]:
        """Every pingable member."""
        return [m for m in self._members.values() if self.is_pingable(m)]

    def random_pingable(self, count: int, exclude: Iterable[str] = ()) -> list[Member]:
        """Up to ``count`` distinct random pingable members not in ``exclude``.

        For ping-req helpers (§8.4) and self-eviction pings (§15).
        """
        excluded = set(exclude)
        candidates = [m for m in self.pingable_members() if m.address not in excluded]
        if count >= len(candidates):
            self._rng.shuffle(candidates)
            return candidates
        return self._rng.sample(candidates, max(count, 0))

    # -- the update rule -----------------------------------------------------------

    def apply(self, changes: Iterable[Change]) -> list[Applied]:
        """Apply received changes as one batch (§6.1-§6.3); return what was applied.

        Changes are evaluated in order, each against the current state. Changes with
        an unknown status or (for a new member) a malformed address are dropped. A
        change about the local member that the rule accepts is not adopted: the
        local member reincarnates instead and the :class:`Applied` carries the new
        self-sourced change. The checksum is hashed once, on its next read.
        """
        applied: list[Applied] = []
        members = self._members
        local_address = self._local_address
        tiebreak = self._label_tiebreak
        joined: list[str] = []  # new members, placed in the gossip order at the end
        for change in changes:
            if change.tombstone or change.status not in PRECEDENCE:
                normal = change_from_wire(change)
                if normal is None:
                    continue
                change = normal
            address = change.address
            member = members.get(address)
            if member is None and not is_valid_address(address):
                continue
            incarnation = change.incarnation_number
            if not accepts(
                member, change.status, incarnation, change.labels, label_tiebreak=tiebreak
            ):
                continue
            if address == local_address:
                applied.append(self._reincarnate(refuted=incarnation))
                continue
            status = parse_status(change.status)
            assert status is not None  # checked above
            new = interned_member(address, status, incarnation, change.labels)
            self._store(member, new)
            if member is None:
                joined.append(address)
            applied.append(Applied(change, member, new, False))
        if joined:
            self._place(joined)
        return applied

    def declare(self, address: str, status: Status, incarnation: int) -> list[Applied]:
        """Apply a local declaration about ``address`` (§6.4); ``[]`` if superseded.

        The change is sourced from the local member and carries the subject's
        labels. A declaration about the local member is refuted like gossip.
        """
        change = declaration(self._local, self._members.get(address), address, status, incarnation)
        return self.apply([change])

    def make_alive(self, address: str, incarnation: int) -> list[Applied]:
        """Declare ``address`` alive at ``incarnation``."""
        return self.declare(address, Status.ALIVE, incarnation)

    def make_suspect(self, address: str, incarnation: int) -> list[Applied]:
        """Declare ``address`` suspect at ``incarnation`` (failed ping-req, §8.4)."""
        return self.declare(address, Status.SUSPECT, incarnation)

    def make_faulty(self, address: str, incarnation: int) -> list[Applied]:
        """Declare ``address`` faulty at ``incarnation`` (suspect timer, §9)."""
        return self.declare(address, Status.FAULTY, incarnation)

    def make_leave(self, address: str, incarnation: int) -> list[Applied]:
        """Declare ``address`` left at ``incarnation``."""
        return self.declare(address, Status.LEAVE, incarnation)

    def make_tombstone(self, address: str, incarnation: int) -> list[Applied]:
        """Declare ``address`` a tombstone at ``incarnation`` (faulty timer, §9)."""
        return self.declare(address, Status.TOMBSTONE, incarnation)

    def reap(self) -> list[Applied]:
        """Declare every faulty member a tombstone at its incarnation (``/admin/reap``)."""
        local = self._local
        changes = [
            declaration(local, m, m.address, Status.TOMBSTONE, m.incarnation)
            for m in self._members.values()
            if m.status == Status.FAULTY and m.address != self._local_address
        ]
        return self.apply(changes)

    # -- the local member ------------------------------------------------------------

    def local_change(self) -> Change:
        """The self-sourced change stating the local member's current state (§14.1)."""
        return self_change(self._local)

    def reincarnate(self) -> Applied:
        """Give the local member a new incarnation, ``max(now_ms, old + 1)``."""
        return self._reincarnate(refuted=0)

    def set_local_status(self, status: Status) -> Applied:
        """Change the local status (``alive``, ``leave`` or ``faulty``) and reincarnate.

        Admin leave/join and self-eviction (§5.4, §15).
        """
        if status not in _LOCAL_STATUSES:
            raise ValueError(f"the local member cannot declare itself {status!s}")
        return self._reincarnate(refuted=0, status=status)

    def set_local_labels(self, labels: Mapping[str, str]) -> Applied:
        """Replace the local labels and reincarnate (§16); validate them first."""
        return self._reincarnate(refuted=0, labels=dict(labels))

    def _reincarnate(
        self, *, refuted: int, status: Status | None = None, labels: dict[str, str] | None = None
    ) -> Applied:
        old = self._local
        new = Member(
            old.address,
            old.status if status is None else status,
            refutation_incarnation(self._clock.now_ms(), old.incarnation, refuted),
            old.labels if labels is None else labels,
        )
        self._store(old, new)
        return Applied(self_change(new), old, new, True)

    # -- full membership -------------------------------------------------------------

    def as_changes(
        self, source: str | None = None, source_incarnation: int | None = None
    ) -> list[Change]:
        """Every member as a change in wire form (§7.4): full syncs, join responses.

        ``source``/``source_incarnation`` default to the local member. Tombstones
        are flag-encoded; no ``id``. The list is cached until the state changes.
        """
        if source is None:
            source = self._local_address
        if source_incarnation is None:
            source_incarnation = self._local.incarnation
        cached = self._as_changes_cache
        if cached is not None and cached[:3] == (self._version, source, source_incarnation):
            return list(cached[3])
        changes = [
            change_to_wire(member_change(m, source=source, source_incarnation=source_incarnation))
            for m in self._members.values()
        ]
        self._as_changes_cache = (self._version, source, source_incarnation, changes)
        return list(changes)

    # -- eviction --------------------------------------------------------------------

    def evict(self, address: str) -> Member | None:
        """Remove a member (tombstone timer expired, §9); return it, or ``None``.

        The local member is never evicted.
        """
        if address == self._local_address:
            return None
        member = self._members.pop(address, None)
        if member is None:
            return None
        self._version += 1
        self._checksum.remove(member)
        if member.status in PINGABLE:
            self._pingable -= 1
        index = self._order.index(address)
        del self._order[index]
        if index <= self._cursor:
            self._cursor -= 1
        return member

    # -- gossip iteration (§8.2) -------------------------------------------------------

    def restart_round(self) -> None:
        """Shuffle the order and start a fresh round (call when gossip starts)."""
        self._rng.shuffle(self._order)
        self._cursor = -1

    def next_ping_target(self) -> Member | None:
        """The next member to ping, or ``None`` if no member is pingable.

        Shuffled round robin: walk the order; on passing its end, reshuffle and start
        over. Within a round every pingable member comes exactly once.
        """
        if self._pingable == 0:
            return None
        order = self._order
        members = self._members
        local_address = self._local_address
        # Terminates within two passes: a pingable member exists in every permutation.
        for _ in range(2 * len(order) + 1):
            self._cursor += 1
            if self._cursor >= len(order):
                self._cursor = 0
                self._rng.shuffle(order)
            member = members[order[self._cursor]]
            if member.status in PINGABLE and member.address != local_address:
                return member
        return None  # pragma: no cover - unreachable while _pingable is consistent

    # -- internals -----------------------------------------------------------------------

    def _store(self, old: Member | None, new: Member) -> None:
        """Record ``new`` (``old`` ``None``: a new member, placed in the gossip order
        by the caller, :meth:`_place`)."""
        address = new.address
        self._members[address] = new
        self._version += 1
        self._checksum.replace(old, new)
        if address == self._local_address:
            self._local = new
        else:
            was_pingable = old is not None and old.status in PINGABLE
            is_pingable = new.status in PINGABLE
            if is_pingable != was_pingable:
                self._pingable += 1 if is_pingable else -1

    def _place(self, joined: Sequence[str]) -> None:
        """Insert new members into the gossip order, each at a uniformly random index
        (§6.2); the cursor keeps pointing at the member it pointed at.

        A few are inserted one by one. Many at once (a join response, a full sync)
        take one pass instead of one ``O(n)`` insert each: ``k`` distinct slots of the
        ``m + k`` drawn at random, in random order, receive the new members, the old
        order fills the rest. That is the same distribution as ``k`` random inserts
        (every arrangement keeping the old relative order is equally likely).
        """
        order = self._order
        rng = self._rng
        if len(joined) <= _ONE_BY_ONE:
            for address in joined:
                index = rng.randint(0, len(order))
                order.insert(index, address)
                if index <= self._cursor:
                    self._cursor += 1
            return
        current = order[self._cursor] if self._cursor >= 0 else None
        merged: list[str | None] = [None] * (len(order) + len(joined))
        slots = rng.sample(range(len(merged)), len(joined))
        for slot, address in zip(slots, joined, strict=True):
            merged[slot] = address
        rest = iter(order)
        order[:] = [next(rest) if a is None else a for a in merged]
        if current is not None:
            self._cursor = order.index(current)


def ring_updates(
    applied: Iterable[Applied],
) -> tuple[list[tuple[str, str | None]], list[str]]:
    """Ring servers to add and remove after a batch, per go's rule (§6.2 step 6).

    A member enters the ring when it becomes reachable (``alive``/``suspect``),
    leaves it when it stops being reachable, and is removed and re-added when its
    identity label changes. The result fits ``HashRing.add_remove_servers(add,
    remove)``: additions are ``(address, identity or None)``.
    """
    first: dict[str, Member | None] = {}
    last: dict[str, Member] = {}
    for item in applied:
        address = item.new.address
        if address not in first:
            first[address] = item.old
        last[address] = item.new
    add: list[tuple[str, str | None]] = []
    remove: list[str] = []
    for address, new in last.items():
        old = first[address]
        was = old is not None and old.is_reachable
        if new.is_reachable:
            identity = new.identity
            if was and old is not None and old.identity != identity:
                remove.append(address)
                was = False
            if not was:
                add.append((address, None if identity == address else identity))
        elif was:
            remove.append(address)
    return add, remove
