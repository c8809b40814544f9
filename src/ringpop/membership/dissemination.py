"""Dissemination of changes by piggybacking on pings and their responses (§7).

The :class:`Disseminator` keeps at most one pending change per address with the
number of times it has been piggybacked. A change is dropped once it has been sent
``max_p`` times, ``max_p = 15 * ceil(ln(x + 1) / ln(10))`` with ``x`` the number of
pingable members (go, §7.1).

Wiring, per protocol event::

    applied = members.apply(request.changes)
    disseminator.record_applied(applied)          # records and recomputes max_p

    # outgoing ping / ping-req
    sent = disseminator.issue_as_sender()
    ... on success: disseminator.commit(sent)     # counts only after success

    # ping / ping-req handler
    changes, full_sync = disseminator.issue_as_receiver(
        request.source, request.source_incarnation_number, request.checksum)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final

from ringpop.membership.member import change_to_wire
from ringpop.membership.memberlist import Applied, MemberList
from ringpop.messages import Change

__all__ = ["DEFAULT_PIGGYBACK_FACTOR", "Disseminator", "max_piggyback"]

DEFAULT_PIGGYBACK_FACTOR: Final = 15
_LN_10: Final = math.log(10)


def max_piggyback(members: int, factor: int = DEFAULT_PIGGYBACK_FACTOR) -> int:
    """``factor * ceil(ln(members + 1) / ln(10))``, in floating point as go does it.

    ``members`` is the number of pingable members excluding self (go) or of ring
    servers including self (node). 0 -> 0, 1..9 -> 15, 10..99 -> 30, 100..999 -> 45.
    """
    if members < 0:
        raise ValueError(f"member count must be >= 0, not {members}")
    return factor * math.ceil(math.log(members + 1) / _LN_10)


class _Entry:
    __slots__ = ("change", "count")

    def __init__(self, change: Change) -> None:
        self.change = change
        self.count = 0


class Disseminator:
    """Pending changes and their piggyback counters (§7.1-§7.4, §7.6)."""

    __slots__ = ("_entries", "_factor", "_max_p", "_members", "agreement_shortcut")

    def __init__(
        self,
        members: MemberList,
        *,
        piggyback_factor: int = DEFAULT_PIGGYBACK_FACTOR,
        agreement_shortcut: bool = False,
    ):
        """Start empty with ``max_p = piggyback_factor`` (go's value before the first batch).

        ``agreement_shortcut``: see :meth:`issue_as_receiver`.
        """
        if piggyback_factor < 1:
            raise ValueError(f"piggyback factor must be >= 1, not {piggyback_factor}")
        self.agreement_shortcut = agreement_shortcut
        self._members = members
        self._factor = piggyback_factor
        self._max_p = piggyback_factor
        self._entries: dict[str, _Entry] = {}

    @property
    def max_p(self) -> int:
        """How many times a change is piggybacked before it is dropped."""
        return self._max_p

    def adjust_max_p(self, members: int | None = None) -> int:
        """Recompute ``max_p`` from ``members`` (default: the pingable count); return it."""
        if members is None:
            members = self._members.pingable_count
        self._max_p = max_piggyback(members, self._factor)
        return self._max_p

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, address: object) -> bool:
        return address in self._entries

    def pending(self) -> dict[str, tuple[Change, int]]:
        """A snapshot: address -> (change in wire form, piggyback count)."""
        return {address: (e.change, e.count) for address, e in self._entries.items()}

    def record(self, change: Change) -> None:
        """Record ``change`` (internal form) for its address, resetting the count to 0."""
        self._entries[change.address] = _Entry(change_to_wire(change))

    def record_applied(self, applied: Iterable[Applied]) -> None:
        """Record every applied change, then recompute ``max_p`` once (§6.2 steps 3-4)."""
        any_applied = False
        for item in applied:
            self.record(item.change)
            any_applied = True
        if any_applied:
            self.adjust_max_p()

    def issue_as_sender(self) -> list[Change]:
        """The changes to piggyback on an outgoing ping or ping-req (§7.2).

        Counts are not touched: pass the returned list to :meth:`commit` once the
        call has succeeded.
        """
        return [e.change for e in self._entries.values()]

    def commit(self, sent: Iterable[Change]) -> None:
        """Count one piggyback for each sent change still pending; drop at ``max_p``."""
        entries = self._entries
        max_p = self._max_p
        for change in sent:
            entry = entries.get(change.address)
            if entry is not None and entry.change is change:
                entry.count += 1
                if entry.count >= max_p:
                    del entries[change.address]

    def issue_as_receiver(
        self, source: str | None, source_incarnation: int, checksum: int | None
    ) -> tuple[list[Change], bool]:
        """The changes for a ping/ping-req response and whether it is a full sync (§7.3).

        Changes that came from the requester itself (same ``source`` and
        ``sourceIncarnationNumber``) are filtered out; the rest are counted right
        away (there is no ack). If nothing remains and the requester's ``checksum``
        differs from ours (or is ``None``: the requester sent none), the response is
        the whole membership (§7.4) and the flag is true (a ping handler then starts a
        reverse full sync, §7.5).

        With ``agreement_shortcut`` (opt-in), a requester whose ``checksum`` equals
        ours already holds every member as we do, so no pending change is news to it:
        they are counted as sent and the response carries none (wire-neutral; see
        docs/scale.md).

        ``source=None``: the requester is unknown (its ``source`` was unusable, §1.1):
        nothing is filtered out and the response is never a full sync.
        """
        if source is None:
            changes = [e.change for e in self._entries.values()]
        else:
            changes = [
                e.change
                for e in self._entries.values()
                if e.change.source != source
                or e.change.source_incarnation_number != source_incarnation
            ]
        self.commit(changes)
        agrees = checksum == self._members.checksum
        if agrees and self.agreement_shortcut and source is not None:
            return [], False
        if changes or source is None or agrees:
            return changes, False
        return self._members.as_changes(), True

    def forget(self, address: str) -> None:
        """Stop piggybacking the pending change about ``address`` (if any)."""
        self._entries.pop(address, None)

    def clear_non_local(self) -> None:
        """Forget every change not about the local member (after bootstrap joins, §7.6)."""
        local = self._members.local_address
        self._entries = {a: e for a, e in self._entries.items() if a == local}

    def clear(self) -> None:
        """Forget every pending change."""
        self._entries.clear()
