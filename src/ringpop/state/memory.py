"""An in-memory :class:`~ringpop.state.store.Store` (tests, caches, examples).

Records are kept **as columns in ring order**, sorted by ``(hash, key)``: hashes
(``array('I')``), walls and logicals (``array('q')``), and lists of keys, values and
writer ids. A page of a range is then a slice of each column, and a page of new keys
(what a handoff brings) is one slice insert into each: the work per record is done
by C ``memcpy``/``memmove``, not by Python steps, and no per-record object (no dict
entry, no row tuple, no :class:`~ringpop.state.store.Record`) is created or touched.
A key is found by bisecting the hashes (``O(log n)``). ``get`` and ``scan`` build
:class:`Record` s for the per-key API.

(About 440 lines, over the usual 400: the six columns and every method that keeps
them in step - bulk and single puts, scans in three shapes, range and marker
deletes - read best together.)
"""

from __future__ import annotations

import operator
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate, compress, repeat
from operator import itemgetter
from typing import Protocol, TypeVar

from ringpop.hashing import fingerprint32
from ringpop.ring.ownership import Range
from ringpop.state.hlc import Version
from ringpop.state.packed import Packed, typed_array, writers_of
from ringpop.state.store import (
    DIGEST_MOD,
    Columns,
    Cursor,
    Digest,
    Page,
    Record,
    record_digests,
)

__all__ = ["MemoryStore"]

T = TypeVar("T")


class MemoryStore:
    """Records as parallel lists sorted by ``(hash, key)`` (module docstring).

    Every method runs synchronously (nothing blocks). Inserting a page of new keys
    costs one ``O(keys)`` slice insert per list and per gap of the order it fills (a
    page of a range fills one); a single new key costs the same memmove, so the store
    suits up to a few million keys.
    """

    def __init__(self) -> None:
        self._hashes: array[int] = array("I")
        self._keys: list[str] = []
        self._values: list[bytes | None] = []
        self._walls: array[int] = array("q")  # signed 64-bit, as SQLite's integers
        self._logicals: array[int] = array("q")
        self._nodes: list[str] = []
        self._writers: dict[str, str] = {}  # one string object per writer id
        self._tombstones: dict[str, int] = {}  # key -> wall of its delete marker
        self._meta: dict[str, bytes] = {}

    def __len__(self) -> int:
        return len(self._keys)

    # -- finding ------------------------------------------------------------------------

    def _find(self, hash: int, key: str) -> tuple[int, bool]:
        """Where ``(hash, key)`` is or would go in the order, and whether it is there."""
        at = bisect_left(self._hashes, hash)
        hashes, keys = self._hashes, self._keys
        while at < len(hashes) and hashes[at] == hash:
            if keys[at] >= key:
                return at, keys[at] == key
            at += 1
        return at, False

    def _after(self, cursor: Cursor) -> int:
        """The position just after ``cursor`` in the order."""
        at, found = self._find(cursor.hash, cursor.key)
        return at + 1 if found else at

    def _bounds(self, range: Range, cursor: Cursor | None) -> tuple[int, int]:
        low = bisect_left(self._hashes, range.start)
        if cursor is not None:
            low = max(low, self._after(cursor))
        high = bisect_left(self._hashes, range.end)
        return low, max(low, high)

    def _slice(self, low: int, high: int, cursor: Cursor | None = None) -> Columns:
        return Columns(
            self._keys[low:high],
            self._values[low:high],
            self._walls[low:high].tolist(),
            self._logicals[low:high].tolist(),
            self._nodes[low:high],
            cursor,
        )

    # -- the Store protocol ----------------------------------------------------------------

    async def get(self, key: str) -> Record | None:
        """The record of ``key``, ``None`` if never written."""
        at, found = self._find(fingerprint32(key), key)
        if not found:
            return None
        version = Version(self._walls[at], self._logicals[at], self._nodes[at])
        return Record(key, self._values[at], version)

    async def put(self, record: Record) -> bool:
        """Store ``record`` if newer than the one held; whether it did."""
        v = record.version
        page = Columns([record.key], [record.value], [v.wall], [v.logical], [v.node])
        return bool(await self.put_many_if_newer(page))

    async def put_many(self, records: Sequence[Record]) -> list[bool]:
        """:meth:`put` of several records; which were applied."""
        return [await self.put(record) for record in records]

    async def put_many_if_newer(
        self, columns: Columns | Packed, hashes: Sequence[int] | None = None
    ) -> int:
        """Put each record of ``columns`` if newer; how many applied (``hashes``: the keys').

        A page of new keys in ``(hash, key)`` order that falls between two neighbours
        of the order (a handoff page) is inserted with one slice insert per column;
        anything else goes record by record. A :class:`~ringpop.state.packed.Packed`
        page checked by :func:`~ringpop.state.transfer.check_packed` (``ordered``) is
        taken as it is: no step per record at all.
        """
        keys = columns.keys
        if hashes is None:
            hashes = array("I", map(fingerprint32, keys))
        if len(hashes) != len(keys):
            raise ValueError(f"{len(hashes)} hashes for {len(keys)} records")
        if not keys:
            return 0
        markers: bool | None = None  # whether the page holds delete markers, if known
        if isinstance(columns, Packed):  # writer ids already shared within the page
            nodes = columns.nodes
            ordered = columns.ordered and hashes is columns.hashes
            markers = columns.markers
        else:
            nodes = list(map(self._writers.setdefault, columns.nodes, columns.nodes))
            ordered = False
        rows = _Rows(
            typed_array("I", hashes),
            keys,
            columns.values,
            typed_array("q", columns.walls),
            typed_array("q", columns.logicals),
            nodes,
        )
        if not ordered and not _strictly_ordered(rows.hashes, keys):
            if len(set(keys)) != len(keys):  # the same key twice: one by one, in order
                return sum(self._put_one(*row) for row in rows.each())
            rows = rows.sorted()
        applied = 0
        runs: list[tuple[int, int, int]] = []  # (position, first, end) of new keys
        i, count = 0, len(keys)
        while i < count:
            at, found = self._find(rows.hashes[i], rows.keys[i])
            if found:
                applied += self._put_one(*rows.row(i), at=at)
                i += 1
                continue
            j = i + 1
            if at == len(self._hashes):
                j = count
            elif (rows.hashes[-1], rows.keys[-1]) < (bound := self._position(at)):
                j = count  # the rest fits in this gap (a handoff page: one)
            else:
                while j < count and (rows.hashes[j], rows.keys[j]) < bound:
                    j += 1
            runs.append((at, i, j))
            i = j
        for at, i, j in reversed(runs):  # from the end: earlier positions stay valid
            run = rows if (i, j) == (0, count) else rows.part(i, j)  # a whole page: no copy
            self._hashes[at:at] = run.hashes
            self._keys[at:at] = run.keys
            self._values[at:at] = run.values
            self._walls[at:at] = run.walls
            self._logicals[at:at] = run.logicals
            self._nodes[at:at] = run.nodes
            applied += j - i
            if markers is not False and None in run.values:
                self._track(run.keys, run.values, run.walls)
        return applied

    def _position(self, at: int) -> tuple[int, str]:
        return self._hashes[at], self._keys[at]

    def _put_one(
        self,
        hash: int,
        key: str,
        value: bytes | None,
        wall: int,
        logical: int,
        node: str,
        at: int | None = None,
    ) -> bool:
        """Put one record if newer (``at``: its position, known held); whether it did."""
        found = at is not None
        if at is None:
            at, found = self._find(hash, key)
        if found:
            if (wall, logical, node) <= (self._walls[at], self._logicals[at], self._nodes[at]):
                return False
            self._values[at], self._walls[at] = value, wall
            self._logicals[at], self._nodes[at] = logical, node
            self._track((key,), (value,), (wall,))
            return True
        self._track((key,), (value,), (wall,))
        self._hashes.insert(at, hash)
        self._keys.insert(at, key)
        self._values.insert(at, value)
        self._walls.insert(at, wall)
        self._logicals.insert(at, logical)
        self._nodes.insert(at, node)
        return True

    def _track(
        self, keys: Sequence[str], values: Sequence[bytes | None], walls: Sequence[int]
    ) -> None:
        """Keep the delete-marker set in step with records just stored."""
        tombstones = self._tombstones
        for key, value, wall in zip(keys, values, walls, strict=True):
            if value is None:
                tombstones[key] = wall
            else:
                tombstones.pop(key, None)

    async def scan_columns(
        self, range: Range, cursor: Cursor | None = None, limit: int = 500, max_bytes: int = 0
    ) -> Columns:
        """:meth:`scan` as :class:`Columns`, cut after about ``max_bytes`` (0: no cut).

        A record counts its key, value and writer id plus 12 bytes; a page holds one
        record at least.
        """
        if limit <= 0:
            raise ValueError("limit must be positive")
        low, high = self._bounds(range, cursor)
        end = min(high, low + limit)
        if max_bytes > 0 and end > low:
            values = self._values[low:end]
            lengths = (
                map(len, values)  # type: ignore[arg-type]
                if None not in values
                else [0 if v is None else len(v) for v in values]
            )
            sizes = map(
                operator.add,
                map(operator.add, map(len, self._keys[low:end]), map(len, self._nodes[low:end])),
                map(operator.add, lengths, repeat(12)),
            )
            end = low + max(1, bisect_right(list(accumulate(sizes)), max_bytes))
        last = Cursor(self._hashes[end - 1], self._keys[end - 1]) if end < high else None
        return self._slice(low, end, last)

    async def scan_packed(
        self, range: Range, cursor: Cursor | None = None, limit: int = 500, max_bytes: int = 0
    ) -> Packed:
        """:meth:`scan` as a :class:`~ringpop.state.packed.Packed` page: slices of the
        columns, no step per record. ``max_bytes`` is left to
        :func:`~ringpop.state.packed.encode_packed`, which cuts the page by its
        encoded size (slicing records past the cut costs less than measuring them)."""
        del max_bytes
        if limit <= 0:
            raise ValueError("limit must be positive")
        low, high = self._bounds(range, cursor)
        end = min(high, low + limit)
        last = Cursor(self._hashes[end - 1], self._keys[end - 1]) if end < high else None
        nodes = self._nodes[low:end]
        return Packed(
            self._hashes[low:end],
            self._keys[low:end],
            self._values[low:end],
            self._walls[low:end],
            self._logicals[low:end],
            nodes,
            writers_of(nodes),
            last,
        )

    async def scan(self, range: Range, cursor: Cursor | None = None, limit: int = 500) -> Page:
        """Up to ``limit`` records with hash in ``range``, after ``cursor``."""
        page = await self.scan_columns(range, cursor, limit)
        return Page(page.records(), page.cursor)

    async def delete_range(self, range: Range) -> int:
        """Drop every record with hash in ``range``; how many."""
        low, high = self._bounds(range, None)
        for key in self._keys[low:high]:
            self._tombstones.pop(key, None)
        for column in self._columns():
            del column[low:high]
        return high - low

    def _columns(self) -> tuple[_Column, ...]:
        return (
            self._hashes,
            self._keys,
            self._values,
            self._walls,
            self._logicals,
            self._nodes,
        )

    async def digest(self, range: Range) -> Digest:
        """Count and digest sum of the records with hash in ``range``."""
        low, high = self._bounds(range, None)
        total = 0
        for start in _steps(low, high, 8192):
            total += sum(record_digests(self._slice(start, min(high, start + 8192))))
        return Digest(high - low, total % DIGEST_MOD)

    # -- delete markers and metadata ----------------------------------------------------

    async def collect_tombstones(self, before_wall: int, limit: int = 10_000) -> int:
        """Forget up to ``limit`` delete markers whose version's wall is below ``before_wall``."""
        old = [k for k, wall in self._tombstones.items() if wall < before_wall][:limit]
        if not old:
            return 0
        positions = []
        for key in old:
            del self._tombstones[key]
            at, found = self._find(fingerprint32(key), key)
            if found:
                positions.append(at)
        if len(positions) < 64:  # a few: one memmove each, from the end
            for at in sorted(positions, reverse=True):
                for column in self._columns():
                    del column[at]
        else:  # many: one pass per list
            mask = [True] * len(self._keys)
            for at in positions:
                mask[at] = False
            self._hashes = array("I", compress(self._hashes, mask))
            _keep(self._keys, mask)
            _keep(self._values, mask)
            self._walls = array("q", compress(self._walls, mask))
            self._logicals = array("q", compress(self._logicals, mask))
            _keep(self._nodes, mask)
        return len(positions)

    async def get_meta(self, name: str) -> bytes | None:
        """The metadata blob ``name`` (handoff cursors, ...), ``None`` if unset."""
        return self._meta.get(name)

    async def put_meta(self, name: str, value: bytes | None) -> None:
        """Set (``None``: remove) the metadata blob ``name``."""
        if value is None:
            self._meta.pop(name, None)
        else:
            self._meta[name] = value

    async def close(self) -> None:
        """Nothing to release."""


@dataclass
class _Rows:
    """An incoming page as columns (hashes included), for :meth:`put_many_if_newer`."""

    hashes: array[int]
    keys: Sequence[str]
    values: Sequence[bytes | None]
    walls: array[int]
    logicals: array[int]
    nodes: Sequence[str]

    def row(self, i: int) -> tuple[int, str, bytes | None, int, int, str]:
        return (
            self.hashes[i],
            self.keys[i],
            self.values[i],
            self.walls[i],
            self.logicals[i],
            self.nodes[i],
        )

    def part(self, i: int, j: int) -> _Rows:
        """Rows ``i`` to ``j`` (excluded)."""
        return _Rows(
            self.hashes[i:j],
            self.keys[i:j],
            self.values[i:j],
            self.walls[i:j],
            self.logicals[i:j],
            self.nodes[i:j],
        )

    def each(self) -> list[tuple[int, str, bytes | None, int, int, str]]:
        return [self.row(i) for i in range(len(self.keys))]

    def sorted(self) -> _Rows:
        """The rows in ``(hash, key)`` order (keys distinct)."""
        order = sorted(range(len(self.keys)), key=lambda i: (self.hashes[i], self.keys[i]))
        take = [itemgetter(*order)] if len(order) > 1 else []

        def pick(column: Sequence[T]) -> list[T]:
            return list(take[0](column)) if take else list(column)

        return _Rows(
            array("I", pick(self.hashes)),
            pick(self.keys),
            pick(self.values),
            array("q", pick(self.walls)),
            array("q", pick(self.logicals)),
            pick(self.nodes),
        )


def _strictly_ordered(hashes: Sequence[int], keys: Sequence[str]) -> bool:
    """Whether ``zip(hashes, keys)`` is strictly increasing (compared in C)."""
    if all(map(operator.lt, hashes, hashes[1:])):
        return True
    pairs = list(zip(hashes, keys, strict=True))
    return all(map(operator.lt, pairs, pairs[1:]))


class _Column(Protocol):
    """A column of the store (list or array): what deleting a slice or an item needs."""

    def __delitem__(self, at: int | slice, /) -> None: ...


def _keep(column: list[T], mask: list[bool]) -> None:
    """Keep the items of ``column`` whose ``mask`` entry is true."""
    column[:] = compress(column, mask)


def _steps(low: int, high: int, step: int) -> range:
    """Start offsets of ``[low, high)`` cut every ``step``."""
    return range(low, high, step)
