"""Ownership as data: which hash ranges each server owns, and what a ring change moved.

(Over 400 lines: the diff and the full maps share the private ring view and range
merging; split, each half would import the other's internals.)

Pure (no I/O, no clock). Terms:

* A key with hash ``h`` belongs to the first point with hash ``>= h`` (wrapping); its
  **preference list** is ``ring.lookup_n(key, n)``: the first ``n`` distinct servers
  met walking clockwise from that point (a server met again is skipped, so rank ``r``
  is the ``r``-th *distinct* server, not the ``r``-th point).
* Keys whose hashes fall between two consecutive distinct point hashes ``(a, b]``
  share one preference list. A :class:`Range` is a half-open interval
  ``[start, end)`` of the 32-bit key-hash space with ``0 <= start < end <= 2**32``;
  the segment that wraps past ``2**32 - 1`` is always split into two ranges, one
  ending at ``2**32`` and one starting at ``0``, so no range ever wraps.

:func:`diff_rings` and :class:`OwnershipTracker` compute an :class:`OwnershipDiff`:
every range whose preference list changed, with the old and the new list. The cost
is proportional to the points that changed, not to the ring: for each changed point
``c`` only the keys whose clockwise walk reaches ``c`` can change, and those lie in
``(B, c]`` where ``B`` is the first point counter-clockwise from ``c`` at which the
walk back has met ``n`` distinct servers. With ``S`` servers and ``n`` much smaller
than ``S`` that walk is ``O(n)`` points on average, so a change of ``k`` points costs
``O(k * n)`` walks of ``O(n)`` points each (plus ``O(log)`` bucket searches).
When ``n >= S`` every key's list holds every server, any change affects every key,
and the diff degenerates to ``O(points * n)`` (the output itself is that large).

:func:`preference_ranges` is the full map (``O(points * n)``), and
:func:`diff_by_recomputation` the brute-force reference: two full maps compared.
"""

from __future__ import annotations

import heapq
import itertools
from bisect import bisect_left
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence

import msgspec

from ringpop.hashing import fingerprint32
from ringpop.ring.hashring import HashRing, RingChange

__all__ = [
    "HASH_SPACE",
    "OwnershipDiff",
    "OwnershipTracker",
    "Range",
    "RangeChange",
    "diff_by_recomputation",
    "diff_rings",
    "owned_ranges",
    "preference_ranges",
    "range_of",
]

HASH_SPACE = 1 << 32
_MASK = HASH_SPACE - 1

Point = tuple[int, str]


class Range(msgspec.Struct, frozen=True, order=True):
    """Key hashes ``start <= h < end`` (``0 <= start < end <= 2**32``; never wraps)."""

    start: int
    end: int

    def __contains__(self, h: object) -> bool:
        return isinstance(h, int) and self.start <= h < self.end

    @property
    def size(self) -> int:
        """How many hash values the range holds."""
        return self.end - self.start


class RangeChange(msgspec.Struct, frozen=True):
    """A range whose preference list changed from ``old`` to ``new`` (owner first)."""

    range: Range
    old: tuple[str, ...]
    new: tuple[str, ...]

    @property
    def old_owner(self) -> str | None:
        """The primary owner before the change (``None``: empty ring)."""
        return self.old[0] if self.old else None

    @property
    def new_owner(self) -> str | None:
        """The primary owner after the change (``None``: empty ring)."""
        return self.new[0] if self.new else None


class OwnershipDiff(msgspec.Struct, frozen=True):
    """Every range whose ``n``-preference list changed, sorted by start, adjacent
    ranges with equal lists merged (except across ``2**32``)."""

    n: int
    changes: tuple[RangeChange, ...]

    def gained(self, node: str, *, primary: bool = False) -> list[RangeChange]:
        """Ranges ``node`` now holds (as primary owner with ``primary``) and did not before."""
        if primary:
            return [c for c in self.changes if c.new_owner == node and c.old_owner != node]
        return [c for c in self.changes if node in c.new and node not in c.old]

    def lost(self, node: str, *, primary: bool = False) -> list[RangeChange]:
        """Ranges ``node`` held (as primary owner with ``primary``) and no longer does."""
        if primary:
            return [c for c in self.changes if c.old_owner == node and c.new_owner != node]
        return [c for c in self.changes if node in c.old and node not in c.new]


# -- walking a ring, optionally with some servers' points swapped --------------------------


class _View:
    """A ring's points with the points of ``hidden`` servers left out and ``extra`` added."""

    def __init__(
        self,
        ring: HashRing,
        hidden: Collection[str] = (),
        extra: Mapping[str, Sequence[int]] | None = None,
    ) -> None:
        self.ring = ring
        self.hidden = frozenset(hidden)
        self.extra = sorted((h, a) for a, hs in (extra or {}).items() for h in hs)
        gone = sum(1 for address in self.hidden if ring.has_server(address))
        self.count = ring.server_count - gone + len(extra or {})

    def _merge(self, base: Iterator[Point], h: int, backward: bool) -> Iterator[Point]:
        if self.hidden:
            hidden = self.hidden
            base = (p for p in base if p[1] not in hidden)
        if not self.extra:
            return base
        if backward:
            i = bisect_left(self.extra, (h, ""))
            mine = self.extra[:i][::-1] + self.extra[i:][::-1]
            origin = (h - 1) & _MASK
            return heapq.merge(base, mine, key=lambda p: ((origin - p[0]) & _MASK, p[1]))
        i = bisect_left(self.extra, (h, ""))
        mine = self.extra[i:] + self.extra[:i]
        return heapq.merge(base, mine, key=lambda p: ((p[0] - h) & _MASK, p[1]))

    def forward(self, h: int) -> Iterator[Point]:
        """Points clockwise from the first with hash >= ``h``, once around."""
        return self._merge(self.ring.clockwise(h), h, backward=False)

    def backward(self, h: int) -> Iterator[Point]:
        """Points counter-clockwise from the last with hash < ``h``, once around."""
        return self._merge(self.ring.counterclockwise(h), h, backward=True)

    def preference(self, h: int, n: int) -> tuple[str, ...]:
        """``lookup_n`` of a key hashing to ``h``."""
        want = min(n, self.count)
        found: list[str] = []
        if want:
            for _, address in self.forward(h):
                if address not in found:
                    found.append(address)
                    if len(found) == want:
                        break
        return tuple(found)

    def previous(self, h: int) -> int | None:
        """Hash of the last point before ``h`` counter-clockwise (``None``: empty)."""
        return next((p for p, _ in self.backward(h)), None)


def _distance_back(e: int, p: int) -> int:
    return (e - 1 - p) & _MASK


def _segment(previous: int, end: int) -> list[Range]:
    """Key hashes ``(previous, end]`` on the circle as non-wrapping ranges."""
    start, stop = (previous + 1) & _MASK, end + 1
    if start < stop:
        return [Range(start, stop)]
    return [r for r in (Range(start, HASH_SPACE), Range(0, stop)) if r.start < r.end]


def _canonical(changes: Iterable[RangeChange]) -> tuple[RangeChange, ...]:
    out: list[RangeChange] = []
    for change in sorted(changes, key=lambda c: c.range.start):
        last = out[-1] if out else None
        if (
            last is not None
            and last.range.end == change.range.start
            and (last.old, last.new) == (change.old, change.new)
        ):
            out[-1] = RangeChange(Range(last.range.start, change.range.end), last.old, last.new)
        else:
            out.append(change)
    return tuple(out)


def _affected_cuts(old: _View, new: _View, changed: Iterable[int], n: int) -> set[int] | None:
    """Point hashes ending the segments whose lists may have changed (``None``: all)."""
    cuts: set[int] = set()
    for c in set(changed):
        cuts.add(c)
        for view in (old, new):
            seen: set[str] = set()
            group: int | None = None
            for p, address in view.backward(c):
                if p != group:  # a new point hash: did the walk from the last one reach c?
                    if group is not None:
                        if len(seen) >= n:
                            break
                        cuts.add(group)
                    group = p
                seen.add(address)
            else:
                if group is not None and len(seen) < n:
                    return None
    return cuts


def _diff_views(old: _View, new: _View, changed: Iterable[int], n: int) -> OwnershipDiff:
    empty = not old.count or not new.count  # every key's list is () on one side
    cuts = None if empty else _affected_cuts(old, new, changed, n)
    if cuts is None:
        cuts = {p for view in (old, new) for p, _ in view.forward(0)}
    changes: list[RangeChange] = []
    for e in cuts:
        before, after = old.preference(e, n), new.preference(e, n)
        if before == after:
            continue
        candidates = [p for p in (old.previous(e), new.previous(e)) if p is not None]
        previous = min(candidates, key=lambda p: _distance_back(e, p))
        changes.extend(RangeChange(r, before, after) for r in _segment(previous, e))
    return OwnershipDiff(n, _canonical(changes))


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a whole number >= 1, not {n!r}")


def diff_rings(old: HashRing, new: HashRing, n: int = 1) -> OwnershipDiff:
    """Ranges whose ``n``-preference list differs between ``old`` and ``new``.

    Cost: ``O(servers)`` to find the servers that differ, then proportional to their
    points (see the module docstring). Both rings must use the same ``replica_points``.
    """
    _check_n(n)
    if old.replica_points != new.replica_points:
        raise ValueError("both rings must have the same replica_points")
    old_servers, new_servers = set(old.point_lists()), set(new.point_lists())
    moved = {a for a in old_servers & new_servers if old.identity_of(a) != new.identity_of(a)}
    hidden = (new_servers - old_servers) | moved
    extra = {a: old.points_of(a) for a in (old_servers - new_servers) | moved}
    changed = [h for a in hidden for h in new.points_of(a)]
    changed += [h for hs in extra.values() for h in hs]
    return _diff_views(_View(new, hidden, extra), _View(new), changed, n)


class OwnershipTracker:
    """Follows one ring and turns each :class:`RingChange` into an :class:`OwnershipDiff`.

    The ring is changed in place before its listeners run, so the tracker keeps a
    reference to every server's point list (``O(servers)`` references, no copy) to
    rebuild the old ring's view from the new ring and the batch.
    """

    def __init__(self, ring: HashRing, servers: Iterable[str] | None = None) -> None:
        self.ring = ring
        lists = ring.point_lists()
        known = lists if servers is None else {a: lists[a] for a in servers}
        self._points: dict[str, Sequence[int]] = dict(known)
        """The points of every server as of the last change seen (``servers``: start
        from a ring holding only those, e.g. ``()`` to report the ring's first change)."""

    def _advance(self, change: RingChange) -> dict[str, Sequence[int]]:
        removed = {a: self._points.pop(a) for a in change.removed if a in self._points}
        for address in change.added:
            self._points[address] = self.ring.points_of(address)
        return removed

    def skip(self, change: RingChange) -> None:
        """Follow a change without computing its diff (``O(changed servers)``)."""
        self._advance(change)

    def apply(self, change: RingChange, n: int = 1) -> OwnershipDiff:
        """The diff of one change of the tracked ring (call once per change, in order)."""
        _check_n(n)
        ring = self.ring
        removed = self._advance(change)
        changed = [h for a in change.added for h in ring.points_of(a)]
        changed += [h for hs in removed.values() for h in hs]
        old = _View(ring, change.added, removed)
        return _diff_views(old, _View(ring), changed, n)


# -- full maps -----------------------------------------------------------------------------


def preference_ranges(ring: HashRing, n: int = 1) -> list[tuple[Range, tuple[str, ...]]]:
    """The whole ring as ``(range, preference list)`` sorted by start (``O(points * n)``).

    Adjacent ranges with equal lists are merged (except across ``2**32``); the ranges
    cover ``[0, 2**32)`` exactly once. Empty ring: ``[]``.
    """
    _check_n(n)
    points = list(ring.clockwise(0))  # (hash, address) in ring order, ties included
    if not points:
        return []
    addresses = [a for _, a in points]
    count = len(addresses)
    want = min(n, ring.server_count)
    starts: dict[int, int] = {}
    for i, (h, _) in enumerate(points):
        starts.setdefault(h, i)
    hashes = list(starts)
    pieces: list[RangeChange] = []
    for j, h in enumerate(hashes):
        found: list[str] = []
        i = starts[h]
        while len(found) < want:
            address = addresses[i % count]
            if address not in found:
                found.append(address)
            i += 1
        pieces.extend(RangeChange(r, (), tuple(found)) for r in _segment(hashes[j - 1], h))
    return [(c.range, c.new) for c in _canonical(pieces)]


def owned_ranges(ring: HashRing, node: str, n: int = 1, *, rank: int | None = None) -> list[Range]:
    """Ranges whose ``n``-preference list holds ``node`` (at position ``rank`` if given).

    Sorted, adjacent ranges merged. Walks back from each of the node's points only
    (``O(node points * n)`` segments checked), unless ``n`` covers every server.
    """
    _check_n(n)
    if rank is not None and (
        isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < n
    ):
        raise ValueError(f"rank must be within 0..{n - 1} (n={n}), not {rank!r}")
    points = ring.points_of(node)
    if not points:
        return []
    if n >= ring.server_count:  # every list holds every server: the full map
        return _merge(
            r
            for r, owners in preference_ranges(ring, n)
            if rank is None or owners[rank:][:1] == (node,)
        )
    view = _View(ring)
    segments: set[tuple[int, int]] = set()
    for c in set(points):
        others: set[str] = set()
        groups = _groups(ring.counterclockwise((c + 1) & _MASK))
        current = next(groups)
        while True:
            g, addresses = current
            following = next(groups, None)
            owners = view.preference(g, n)
            if node in owners and (rank is None or owners.index(node) == rank):
                segments.add((c if following is None else following[0], g))
            if following is None or (g != c and node in addresses):
                break  # around the ring, or another point of ours covers the rest
            if g != c:
                others.update(a for a in addresses if a != node)
            if len(others) >= n:
                break  # walks from further back meet n others before reaching c
            current = following
    return _merge(r for previous, end in segments for r in _segment(previous, end))


def _groups(points: Iterator[Point]) -> Iterator[tuple[int, list[str]]]:
    """Consecutive points with equal hashes, as ``(hash, addresses)``."""
    group: tuple[int, list[str]] | None = None
    for h, address in points:
        if group is not None and group[0] == h:
            group[1].append(address)
            continue
        if group is not None:
            yield group
        group = (h, [address])
    if group is not None:
        yield group


def _merge(ranges: Iterable[Range]) -> list[Range]:
    out: list[Range] = []
    for r in sorted(ranges):
        if out and out[-1].end == r.start:
            out[-1] = Range(out[-1].start, r.end)
        else:
            out.append(r)
    return out


def range_of(ring: HashRing, key: str | bytes) -> Range | None:
    """The range of keys sharing ``key``'s owning point (``None`` on an empty ring)."""
    view = _View(ring)
    h = fingerprint32(key)
    owner = next(iter(view.forward(h)), None)
    if owner is None:
        return None
    previous = view.previous(owner[0])
    assert previous is not None
    return next(r for r in _segment(previous, owner[0]) if h in r)


def diff_by_recomputation(old: HashRing, new: HashRing, n: int = 1) -> OwnershipDiff:
    """Brute-force :func:`diff_rings`: both full maps compared (``O(points * n)``)."""
    before, after = preference_ranges(old, n), preference_ranges(new, n)
    bounds = sorted({0, HASH_SPACE} | {r.start for r, _ in before + after})
    changes: list[RangeChange] = []
    i = j = 0
    for start, end in itertools.pairwise(bounds):
        while before and before[i][0].end <= start:
            i += 1
        while after and after[j][0].end <= start:
            j += 1
        old_list = before[i][1] if before else ()
        new_list = after[j][1] if after else ()
        if old_list != new_list:
            changes.append(RangeChange(Range(start, end), old_list, new_list))
    return OwnershipDiff(n, _canonical(changes))
