"""Which keys a new owner should expect a handover for. Pure (time is passed in).

A node that becomes the owner of a range (``OwnershipChanged.primary_gained``) from
a previous owner that is still a member will receive the state of that node's
active actors of the range (``/actors/handover``). For a while after the change
(``window`` seconds), an activation of a key in such a range waits briefly for
that state before reading the store, so the actor continues from where the
previous owner left it rather than from its last save.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from ringpop.hashing import fingerprint32
from ringpop.ring.ownership import Range, RangeChange

__all__ = ["GainedRanges"]


class GainedRanges:
    """Ranges gained recently, with their previous owner (at most ``limit`` remembered)."""

    def __init__(self, window: float, *, limit: int = 100_000) -> None:
        self.window = window
        self._gains: deque[tuple[float, Range, str]] = deque(maxlen=limit)

    def add(self, changes: Iterable[RangeChange], me: str, now: float) -> None:
        """Remember ranges gained at ``now`` from another node."""
        for change in changes:
            previous = change.old_owner
            if previous is not None and previous != me:
                self._gains.append((now, change.range, previous))

    def previous_owner(self, key: str, now: float) -> str | None:
        """The node ``key`` was gained from within the window (the latest such gain)."""
        while self._gains and now - self._gains[0][0] > self.window:
            self._gains.popleft()
        h = fingerprint32(key)
        for _, gained, previous in reversed(self._gains):
            if h in gained:
                return previous
        return None

    def expects(self, key: str, now: float, members: Iterable[str]) -> bool:
        """Whether a handover of ``key`` may come: gained recently from a live member."""
        previous = self.previous_owner(key, now)
        return previous is not None and previous in set(members)
