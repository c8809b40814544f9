"""Pure planning for handoff and anti-entropy: range arithmetic, throttling, drop rules.

No I/O and no clock of its own (times are passed in), so every rule here is tested
without a cluster. :class:`~ringpop.ring.ownership.Range` s are half-open
``[start, end)`` and never wrap.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ringpop.ring.ownership import HASH_SPACE, Range

__all__ = [
    "PendingDrop",
    "TokenBucket",
    "clip",
    "covers",
    "covers_merged",
    "intersect",
    "merge",
    "overlapping",
    "split",
    "subtract",
    "valid_range",
]


def valid_range(start: object, end: object) -> bool:
    """Whether ``[start, end)`` is a non-empty, non-wrapping range of the hash space."""
    return (
        isinstance(start, int)
        and isinstance(end, int)
        and not isinstance(start, bool)
        and not isinstance(end, bool)
        and 0 <= start < end <= HASH_SPACE
    )


def merge(ranges: Iterable[Range]) -> list[Range]:
    """Sorted ranges with overlapping or adjacent ones joined."""
    out: list[Range] = []
    for r in sorted(ranges):
        if out and r.start <= out[-1].end:
            if r.end > out[-1].end:
                out[-1] = Range(out[-1].start, r.end)
        else:
            out.append(r)
    return out


def intersect(a: Range, others: Iterable[Range]) -> list[Range]:
    """The parts of ``a`` inside any of ``others`` (sorted, merged)."""
    parts = (Range(max(a.start, o.start), min(a.end, o.end)) for o in others)
    return merge(p for p in parts if p.start < p.end)


def subtract(a: Range, others: Iterable[Range]) -> list[Range]:
    """The parts of ``a`` outside every one of ``others`` (sorted)."""
    out: list[Range] = []
    position = a.start
    for o in intersect(a, others):
        if o.start > position:
            out.append(Range(position, o.start))
        position = max(position, o.end)
    if position < a.end:
        out.append(Range(position, a.end))
    return out


def covers(ranges: Iterable[Range], a: Range) -> bool:
    """Whether the union of ``ranges`` contains all of ``a``."""
    return not subtract(a, ranges)


def covers_merged(merged: Sequence[Range], a: Range) -> bool:
    """:func:`covers` for ``merged`` sorted with no two overlapping or adjacent (what
    :func:`merge` and ``owned_ranges`` return): one bisection, ``O(log n)``."""
    at = bisect.bisect_right(merged, a.start, key=_start) - 1
    return at >= 0 and merged[at].end >= a.end


def _start(r: Range) -> int:
    return r.start


def clip(ranges: Sequence[Range], a: Range) -> list[Range]:
    """The ranges of ``ranges`` (sorted, none overlapping) that overlap ``a``, found by
    bisection: what :func:`subtract` or :func:`intersect` of ``a`` needs of a long list."""
    at = max(0, bisect.bisect_right(ranges, a.start, key=_start) - 1)
    out: list[Range] = []
    for r in itertools.islice(ranges, at, None):
        if r.start >= a.end:
            break
        if r.end > a.start:
            out.append(r)
    return out


def split(a: Range, parts: int) -> list[Range]:
    """``a`` cut into at most ``parts`` contiguous sub-ranges of (nearly) equal size."""
    if parts < 1:
        raise ValueError("parts must be >= 1")
    count = min(parts, a.size)
    bounds = [a.start + a.size * i // count for i in range(count + 1)]
    return [Range(s, e) for s, e in itertools.pairwise(bounds) if s < e]


class TokenBucket:
    """A byte-rate limiter: ``rate`` bytes per second, bursts up to ``burst`` bytes.

    :meth:`take` books ``amount`` bytes at time ``now`` and says how long to wait
    before sending more (the debt is paid back at ``rate``). ``rate=None``: unlimited.
    """

    def __init__(self, rate: float | None, burst: float | None = None, now: float = 0.0) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive (or None: unlimited)")
        self.rate = rate
        self.burst = burst if burst is not None else (rate or 0.0)
        self._tokens = self.burst
        self._at = now

    def take(self, amount: float, now: float) -> float:
        """Book ``amount`` bytes sent at ``now``; seconds to wait before the next send."""
        if self.rate is None:
            return 0.0
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        self._tokens -= amount
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


@dataclass
class PendingDrop:
    """A range this node stopped replicating, kept until its current holders confirmed it.

    ``holders``: the nodes that replicated it before and after this node lost it (they
    had it all along and need not confirm); ``acks``: per node, the ranges it confirmed
    having pulled (``/state/handoff-done``); ``since``: when it was lost. Who must
    confirm is decided against the **current** ring (:meth:`missing`), so a gainer that
    died before confirming stops counting once it leaves the ring, and whoever replaces
    it must confirm instead.
    """

    range: Range
    holders: frozenset[str]
    since: float
    acks: dict[str, list[Range]] = field(default_factory=dict)

    def ack(self, node: str, acked: Range) -> None:
        """Record that ``node`` confirmed ``acked`` (ignored if it does not overlap)."""
        if acked.start < self.range.end and self.range.start < acked.end:
            self.acks.setdefault(node, []).append(acked)

    def missing(
        self, me: str, preference: Sequence[tuple[Range, tuple[str, ...]]]
    ) -> list[tuple[str, Range]]:
        """``(node, piece)`` still to be confirmed, given the current preference lists.

        ``preference``: the ring's ``(range, owners)`` map, sorted (only the part
        overlapping this range is read).
        """
        out: list[tuple[str, Range]] = []
        for piece, owners in overlapping(preference, self.range):
            for node in owners:
                if (
                    node != me
                    and node not in self.holders
                    and not covers(self.acks.get(node, ()), piece)
                ):
                    out.append((node, piece))
        return out


def overlapping(
    preference: Sequence[tuple[Range, tuple[str, ...]]], a: Range
) -> list[tuple[Range, tuple[str, ...]]]:
    """The entries of a sorted, non-overlapping ``(range, owners)`` map within ``a``, cut to it."""
    at = max(0, bisect.bisect_right(preference, a.start, key=lambda e: e[0].start) - 1)
    out: list[tuple[Range, tuple[str, ...]]] = []
    for r, owners in itertools.islice(preference, at, None):
        if r.start >= a.end:
            break
        start, end = max(r.start, a.start), min(r.end, a.end)
        if start < end:
            out.append((Range(start, end), owners))
    return out
