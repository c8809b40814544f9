"""The membership checksum (§12): Fingerprint32 of the members' states.

Per member: ``address + status + incarnation``, and in the go flavour
``"#labels" + signed labels checksum`` when that checksum is non-zero. Tombstones
are left out; every other status and the local member are included.

* go (default): the per-member strings sorted (byte order), each followed by ``;``.
* node (ringpop-node with ``isCrossPlatform``): members sorted by address, strings
  without labels joined by ``;`` with no trailing ``;``.

:class:`ChecksumTracker` keeps the sorted entries up to date one member at a time,
so a batch of changes costs a few ``bisect`` insertions plus one hash; a large batch
(a join response) is appended and sorted once.

Scale (docs/scale.md): the go per-member strings are memoised process-wide (a
simulated cluster's nodes share one string per member state), and the member list
drives its tracker with :meth:`ChecksumTracker.replace` (it knows the old state), so
the go flavour keeps no address -> string dict per list.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable
from functools import lru_cache
from typing import Final

from ringpop.hashing import fingerprint32
from ringpop.membership.labels import labels_checksum
from ringpop.membership.member import Member
from ringpop.membership.status import Status
from ringpop.options import ChecksumFlavour

__all__ = [
    "ChecksumFlavour",
    "ChecksumTracker",
    "OtherFlavour",
    "checksum_string",
    "member_string",
    "membership_checksum",
]

_FLAVOURS: Final = ("go", "node")
_SORT_AFTER: Final = 32
"""Pending insertions beyond this are merged by one sort instead of one by one."""


def _check_flavour(flavour: str) -> None:
    if flavour not in _FLAVOURS:
        raise ValueError(f"checksum flavour must be 'go' or 'node', not {flavour!r}")


@lru_cache(maxsize=1 << 17)
def _unlabelled_go_string(address: str, status: Status, incarnation: int) -> str:
    """An unlabelled member's go string, shared by every tracker of the process."""
    return f"{address}{status.value}{incarnation}"


def member_string(member: Member, flavour: ChecksumFlavour = "go") -> str:
    """The per-member checksum string (§12.1), e.g. ``127.0.0.1:3000alive1414142122274``."""
    if flavour == "go" and not member.labels:
        return _unlabelled_go_string(member.address, member.status, member.incarnation)
    text = f"{member.address}{member.status.value}{member.incarnation}"
    if flavour == "go" and member.labels:
        labels = labels_checksum(member.labels)
        if labels:
            text = f"{text}#labels{labels}"
    return text


def checksum_string(members: Iterable[Member], flavour: ChecksumFlavour = "go") -> str:
    """The whole-list string that is hashed (§12.2); tombstones excluded."""
    _check_flavour(flavour)
    counted = [m for m in members if m.status != Status.TOMBSTONE]
    if flavour == "go":
        return "".join(f"{s};" for s in sorted(member_string(m, "go") for m in counted))
    counted.sort(key=lambda m: m.address)
    return ";".join(member_string(m, "node") for m in counted)


def membership_checksum(members: Iterable[Member], flavour: ChecksumFlavour = "go") -> int:
    """The membership checksum of ``members`` computed from scratch."""
    return fingerprint32(checksum_string(members, flavour))


class ChecksumTracker:
    """The membership checksum maintained incrementally.

    Call :meth:`update` for every member whose state changed and :meth:`discard`
    for every evicted one; :attr:`value` hashes once and caches until the next
    change. A caller that knows each member's previous state (the member list)
    calls :meth:`replace` and :meth:`remove` instead, and must not mix the two
    pairs on one tracker: in the go flavour they keep no per-address strings.
    """

    __slots__ = ("_by_go_string", "_flavour", "_pending", "_sorted", "_strings", "_value")

    def __init__(self, flavour: ChecksumFlavour = "go") -> None:
        _check_flavour(flavour)
        self._flavour: ChecksumFlavour = flavour
        self._by_go_string = flavour == "go"
        self._strings: dict[str, str] = {}
        # go: the sorted per-member strings; node: the sorted addresses.
        self._sorted: list[str] = []
        self._pending: list[str] = []
        """Insertions not yet merged into ``_sorted`` (merged before any other use)."""
        self._value: int | None = None

    @property
    def flavour(self) -> ChecksumFlavour:
        """``"go"`` or ``"node"``."""
        return self._flavour

    def update(self, member: Member) -> None:
        """Record ``member``'s current state (a tombstone removes its entry)."""
        if member.status == Status.TOMBSTONE:
            self.discard(member.address)
            return
        text = member_string(member, self._flavour)
        old = self._strings.get(member.address)
        if old == text:
            return
        self._strings[member.address] = text
        self._value = None
        if self._by_go_string:
            if old is not None:
                self._remove_sorted(old)
            self._pending.append(text)
        elif old is None:
            self._pending.append(member.address)

    def replace(self, old: Member | None, new: Member) -> None:
        """Record that ``old`` (``None``: a new member) became ``new``."""
        if not self._by_go_string:
            self.update(new)
            return
        counted = new.status != Status.TOMBSTONE
        text = member_string(new) if counted else None
        previous = None
        if old is not None and old.status != Status.TOMBSTONE:
            previous = member_string(old)
        if previous == text:
            return
        self._value = None
        if previous is not None:
            self._remove_sorted(previous)
        if text is not None:
            self._pending.append(text)

    def remove(self, member: Member) -> None:
        """Record that ``member`` (its last state) was evicted."""
        if not self._by_go_string:
            self.discard(member.address)
        elif member.status != Status.TOMBSTONE:
            self._value = None
            self._remove_sorted(member_string(member))

    def _merge(self) -> None:
        pending = self._pending
        if len(pending) > _SORT_AFTER:
            self._sorted.extend(pending)
            self._sorted.sort()
        else:
            for entry in pending:
                insort(self._sorted, entry)
        pending.clear()

    def discard(self, address: str) -> None:
        """Forget ``address`` (evicted or tombstoned)."""
        old = self._strings.pop(address, None)
        if old is None:
            return
        self._value = None
        self._remove_sorted(old if self._by_go_string else address)

    def _remove_sorted(self, entry: str) -> None:
        if self._pending:
            self._merge()
        index = bisect_left(self._sorted, entry)
        del self._sorted[index]

    @property
    def value(self) -> int:
        """The current checksum (hashed at most once per change of state)."""
        if self._value is None:
            self._value = fingerprint32(self.text())
        return self._value

    def text(self) -> str:
        """The string that is hashed (for debugging and tests)."""
        if self._pending:
            self._merge()
        if self._by_go_string:
            return ";".join(self._sorted) + ";" if self._sorted else ""
        strings = self._strings
        return ";".join([strings[address] for address in self._sorted])


class OtherFlavour:
    """Recognises a peer's checksum as our membership's in the flavour we do not use.

    Two nodes of different flavours never agree on a checksum, so every ping between
    them is answered with a full sync (§7.3); a ringpop-node cluster checksums in the
    node flavour, ringpop-go and our default in the go one. When a peer's checksum
    differs from ours, :meth:`matches` says whether it is what the other flavour
    gives for our members (the same list, counted another way): then the flavour is
    misconfigured, not the membership out of step. It hashes the other flavour at
    most once per checksum of ours.
    """

    __slots__ = ("_last", "flavour")

    def __init__(self, ours: ChecksumFlavour) -> None:
        _check_flavour(ours)
        self.flavour: ChecksumFlavour = "node" if ours == "go" else "go"
        self._last: tuple[int, int] | None = None  # (our checksum, the other flavour's)

    def matches(self, checksum: int, ours: int, members: Iterable[Member]) -> bool:
        """Whether ``checksum`` (a peer's, not ``ours``) is ``members``' in the other
        flavour; ``ours`` is their checksum in our flavour (the cache's key)."""
        if checksum == ours:
            return False
        if self._last is None or self._last[0] != ours:
            self._last = (ours, membership_checksum(members, self.flavour))
        return checksum == self._last[1]
