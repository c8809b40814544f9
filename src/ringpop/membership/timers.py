"""State-transition timers as plain data (§9): suspect -> faulty -> tombstone -> evicted.

One timer per member. Scheduling the state a member's timer already has is
ignored (the timer is not restarted); scheduling a different state replaces it.
Nothing here sleeps: the asyncio driver asks :meth:`TransitionTimers.next_due` when
to wake up and then calls :meth:`TransitionTimers.expire` (or :meth:`due`).
Times are seconds on the injected monotonic clock.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Final, NamedTuple

from ringpop.membership.member import Member
from ringpop.membership.memberlist import Applied, MemberList
from ringpop.membership.status import Status

__all__ = ["Expired", "Timer", "TransitionTimers"]

_TIMED: Final = frozenset({Status.SUSPECT, Status.FAULTY, Status.TOMBSTONE})


class Timer(NamedTuple):
    """A pending transition: ``state`` expires at ``due_at``."""

    state: Status
    incarnation: int
    due_at: float


class Expired(NamedTuple):
    """A timer that ran out: ``address`` was ``state`` at ``incarnation``."""

    address: str
    state: Status
    incarnation: int


class TransitionTimers:
    """The one-timer-per-member schedule of §9 (no local member, no asyncio)."""

    __slots__ = ("_enabled", "_heap", "_local", "_periods", "_seq", "_timers")

    def __init__(
        self,
        *,
        suspect_period: float = 5.0,
        faulty_period: float = 86_400.0,
        tombstone_period: float = 60.0,
        local_address: str = "",
    ) -> None:
        """Periods in seconds (spec defaults). Timers for ``local_address`` are never set."""
        for name, period in (
            ("suspect_period", suspect_period),
            ("faulty_period", faulty_period),
            ("tombstone_period", tombstone_period),
        ):
            if not period > 0:
                raise ValueError(f"{name} must be > 0 seconds, not {period}")
        self._periods = {
            Status.SUSPECT: suspect_period,
            Status.FAULTY: faulty_period,
            Status.TOMBSTONE: tombstone_period,
        }
        self._local = local_address
        self._enabled = True
        self._timers: dict[str, tuple[Timer, int]] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = 0

    # -- state -----------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        """Whether new timers are accepted."""
        return self._enabled

    def enable(self) -> None:
        """Accept timers again (e.g. on rejoin)."""
        self._enabled = True

    def disable(self) -> None:
        """Cancel every timer and ignore new ones (node stopped, or left)."""
        self._enabled = False
        self.clear()

    def __len__(self) -> int:
        return len(self._timers)

    def __contains__(self, address: object) -> bool:
        return address in self._timers

    def get(self, address: str) -> Timer | None:
        """The pending timer of ``address``, if any."""
        entry = self._timers.get(address)
        return None if entry is None else entry[0]

    def next_due(self) -> float | None:
        """When the earliest timer expires, or ``None`` when none is pending."""
        heap = self._heap
        while heap and self._is_stale(heap[0]):
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    # -- scheduling ------------------------------------------------------------------

    def schedule(self, address: str, state: Status, incarnation: int, due_at: float) -> bool:
        """Start a ``state`` timer for ``address``; return whether anything changed.

        If the member already has a timer for the same ``state`` it keeps its due
        time (the timer is not restarted); a higher ``incarnation`` replaces the
        recorded one so the expiry does not declare a superseded incarnation. A
        timer for another state is replaced.
        """
        if not self._enabled or address == self._local:
            return False
        if state not in _TIMED:
            raise ValueError(f"no timer for status {state!s}")
        current = self._timers.get(address)
        if current is not None and current[0].state == state:
            timer, seq = current
            if incarnation <= timer.incarnation:
                return False
            self._timers[address] = (timer._replace(incarnation=incarnation), seq)
            return True
        self._seq += 1
        self._timers[address] = (Timer(state, incarnation, due_at), self._seq)
        heapq.heappush(self._heap, (due_at, self._seq, address))
        self._compact()
        return True

    def reschedule(self, address: str, due_at: float) -> bool:
        """Move the pending timer of ``address`` to ``due_at`` (same state and
        incarnation); return whether it had one. Used by Lifeguard's dynamic
        suspicion timeouts; the §9 schedule itself never moves a timer."""
        current = self._timers.get(address)
        if current is None:
            return False
        timer = current[0]
        if timer.due_at == due_at:
            return True
        self._seq += 1
        self._timers[address] = (timer._replace(due_at=due_at), self._seq)
        heapq.heappush(self._heap, (due_at, self._seq, address))
        self._compact()
        return True

    def cancel(self, address: str) -> bool:
        """Cancel the timer of ``address``; return whether there was one."""
        return self._timers.pop(address, None) is not None

    def clear(self) -> None:
        """Cancel every timer."""
        self._timers.clear()
        self._heap.clear()

    def on_applied(self, applied: Iterable[Applied], now: float) -> None:
        """Start or cancel timers for a batch of applied changes (§6.2 step 5).

        suspect, faulty, tombstone -> schedule that state's timer (due after its
        period); alive, leave -> cancel. Changes about the local member are ignored.
        """
        for item in applied:
            if item.local:
                continue
            member = item.new
            if member.status in _TIMED:
                due_at = now + self._periods[member.status]
                self.schedule(member.address, member.status, member.incarnation, due_at)
            else:
                self.cancel(member.address)

    # -- expiry ------------------------------------------------------------------------

    def due(self, now: float) -> list[Expired]:
        """Remove and return the timers due at ``now`` (earliest first)."""
        expired: list[Expired] = []
        heap = self._heap
        timers = self._timers
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            if self._is_stale(entry):
                continue
            address = entry[2]
            timer = timers.pop(address)[0]
            expired.append(Expired(address, timer.state, timer.incarnation))
        return expired

    def expire(self, now: float, members: MemberList) -> tuple[list[Applied], list[Member]]:
        """Run the transitions due at ``now`` against ``members``.

        suspect -> declare faulty, faulty -> declare tombstone (at the recorded
        incarnation, §6.4), tombstone -> evict. Follow-up timers are scheduled here;
        the caller disseminates the returned changes, updates the ring and
        recomputes what depends on the evicted members.
        """
        applied: list[Applied] = []
        evicted: list[Member] = []
        for item in self.due(now):
            if item.state == Status.SUSPECT:
                applied += members.make_faulty(item.address, item.incarnation)
            elif item.state == Status.FAULTY:
                applied += members.make_tombstone(item.address, item.incarnation)
            else:
                member = members.get(item.address)
                if member is not None and member.status == Status.TOMBSTONE:
                    removed = members.evict(item.address)
                    if removed is not None:
                        evicted.append(removed)
        self.on_applied(applied, now)
        return applied, evicted

    # -- internals ---------------------------------------------------------------------

    def _is_stale(self, entry: tuple[float, int, str]) -> bool:
        current = self._timers.get(entry[2])
        return current is None or current[1] != entry[1]

    def _compact(self) -> None:
        # Cancelled timers stay in the heap until popped; rebuild when they dominate.
        if len(self._heap) > 2 * len(self._timers) + 64:
            self._heap = [
                (timer.due_at, seq, address) for address, (timer, seq) in self._timers.items()
            ]
            heapq.heapify(self._heap)
