"""An in-memory :class:`~ringpop.state.store.Store` (tests, caches, examples)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Sequence

from ringpop.hashing import fingerprint32
from ringpop.ring.ownership import Range
from ringpop.state.hlc import Version, newer
from ringpop.state.store import (
    DIGEST_MOD,
    Columns,
    Cursor,
    Digest,
    Page,
    Record,
    page_columns,
    record_digest,
)

__all__ = ["MemoryStore"]


class MemoryStore:
    """Records in a dict, plus a sorted ``(hash, key)`` index for range scans.

    Every method runs synchronously (nothing blocks): inserting a new key costs
    ``O(keys)`` for the index list, fine up to a few hundred thousand keys.
    """

    def __init__(self) -> None:
        self._records: dict[str, Record] = {}
        self._index: list[tuple[int, str]] = []

    def __len__(self) -> int:
        return len(self._records)

    async def get(self, key: str) -> Record | None:
        """The record of ``key``, ``None`` if never written."""
        return self._records.get(key)

    async def put(self, record: Record) -> bool:
        """Store ``record`` if newer than the one held; whether it did."""
        current = self._records.get(record.key)
        if not newer(record.version, None if current is None else current.version):
            return False
        if current is None:
            insort(self._index, (fingerprint32(record.key), record.key))
        self._records[record.key] = record
        return True

    async def put_many(self, records: Sequence[Record]) -> list[bool]:
        """:meth:`put` of several records; which were applied."""
        return [await self.put(record) for record in records]

    async def put_many_if_newer(self, columns: Columns, hashes: Sequence[int] | None = None) -> int:
        """Put each record of ``columns`` if newer; how many applied (``hashes``: the keys')."""
        if hashes is None:
            hashes = [fingerprint32(key) for key in columns.keys]
        if len(hashes) != len(columns.keys):
            raise ValueError(f"{len(hashes)} hashes for {len(columns.keys)} records")
        held = self._records
        fresh: list[tuple[int, str]] = []
        applied = 0
        for key, hash, value, wall, logical, node in zip(
            columns.keys,
            hashes,
            columns.values,
            columns.walls,
            columns.logicals,
            columns.nodes,
            strict=True,
        ):
            version = Version(wall, logical, node)
            current = held.get(key)
            if current is None:
                fresh.append((hash, key))
            elif not version > current.version:
                continue
            held[key] = Record(key, value, version)
            applied += 1
        self._insert(fresh)
        return applied

    def _insert(self, fresh: list[tuple[int, str]]) -> None:
        """Add new ``(hash, key)`` entries to the index: one slice insert per gap they fill.

        A page of a range lands in one gap of the index: one ``O(keys)`` memmove instead of
        one per record.
        """
        fresh.sort()
        index = self._index
        i = 0
        while i < len(fresh):
            at = bisect_left(index, fresh[i])
            j = bisect_left(fresh, index[at], i + 1) if at < len(index) else len(fresh)
            index[at:at] = fresh[i:j]
            i = j

    async def scan_columns(
        self, range: Range, cursor: Cursor | None = None, limit: int = 500, max_bytes: int = 0
    ) -> Columns:
        """:meth:`scan` as :class:`Columns`, cut after about ``max_bytes`` (0: no cut)."""
        return page_columns(await self.scan(range, cursor, limit), max_bytes)

    def _bounds(self, range: Range, cursor: Cursor | None) -> tuple[int, int]:
        low = bisect_left(self._index, (range.start, ""))
        if cursor is not None:
            low = max(low, bisect_right(self._index, (cursor.hash, cursor.key)))
        high = bisect_left(self._index, (range.end, ""))
        return low, high

    async def scan(self, range: Range, cursor: Cursor | None = None, limit: int = 500) -> Page:
        """Up to ``limit`` records with hash in ``range``, after ``cursor``."""
        if limit <= 0:
            raise ValueError("limit must be positive")
        low, high = self._bounds(range, cursor)
        entries = self._index[low : min(high, low + limit)]
        records = [self._records[key] for _, key in entries]
        more = low + limit < high
        return Page(records, Cursor(*entries[-1]) if more and entries else None)

    async def delete_range(self, range: Range) -> int:
        """Drop every record with hash in ``range``; how many."""
        low, high = self._bounds(range, None)
        for _, key in self._index[low:high]:
            del self._records[key]
        del self._index[low:high]
        return high - low

    async def digest(self, range: Range) -> Digest:
        """Count and digest sum of the records with hash in ``range``."""
        low, high = self._bounds(range, None)
        total = sum(record_digest(self._records[key]) for _, key in self._index[low:high])
        return Digest(high - low, total % DIGEST_MOD)

    async def close(self) -> None:
        """Nothing to release."""
