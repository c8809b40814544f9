"""The ordered blocks :class:`~ringpop.state.memory.MemoryStore` keeps its records in.

:class:`Blocks` holds records sorted by ``(hash, key)`` in a list of
:class:`~ringpop.state.segments.Run` s of at most ``segment`` records, with each
block's last position for bisecting: finding a position, the spans of a range,
gathering a page, inserting a run of new keys (into its block, or as blocks of its
own), and tidying after deletes. The :class:`~ringpop.state.store.Store` protocol
is :class:`~ringpop.state.memory.MemoryStore`'s, on top.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from ringpop.ring.ownership import Range
from ringpop.state.segments import Run
from ringpop.state.store import Cursor

__all__ = ["Blocks", "Position"]

Position = tuple[int, int]
"""``(block, index in the block)``; ``(len(blocks), 0)`` is the end of the store."""


class Blocks:
    """Records in ring order, in blocks of at most ``segment`` records."""

    def __init__(self, *, segment: int = 8192) -> None:
        if segment < 2:
            raise ValueError("segment must be at least 2 records")
        self._segment = segment
        self._adopt = max(2, segment // 4)  # runs of new keys this long become blocks
        self._blocks: list[Run] = []
        self._lasts: list[tuple[int, str]] = []  # (hash, key) of each block's last record

    def __len__(self) -> int:
        return sum(map(len, self._blocks))

    def _seek(self, hash: int, key: str) -> tuple[int, int, bool]:
        """The block and index where ``(hash, key)`` is or would go, and whether it is
        there. Past the last record: the last block's end (an empty store: ``0, 0``)."""
        blocks = self._blocks
        if not blocks:
            return 0, 0, False
        b = bisect_left(self._lasts, (hash, key))
        if b == len(blocks):
            return b - 1, len(blocks[-1]), False
        block = blocks[b]
        hashes = block.hashes
        at = bisect_left(hashes, hash)
        while at < len(hashes) and hashes[at] == hash:
            held = block.key(at)
            if held >= key:
                return b, at, held == key
            at += 1
        return b, at, False

    def _normal(self, b: int, at: int) -> Position:
        """``(b, at)`` with an index past its block's end moved to the next block."""
        while b < len(self._blocks) and at >= len(self._blocks[b]):
            b, at = b + 1, 0
        return b, at

    def _first_from(self, hash: int) -> Position:
        """The position of the first record with a hash ``>= hash``."""
        b = bisect_left(self._lasts, (hash, ""))  # "" sorts before every key
        if b == len(self._blocks):
            return b, 0
        return b, bisect_left(self._blocks[b].hashes, hash)

    def _after(self, cursor: Cursor) -> Position:
        """The position just after ``cursor`` in the order."""
        b, at, found = self._seek(cursor.hash, cursor.key)
        return self._normal(b, at + 1 if found else at)

    def _bounds(self, range: Range, cursor: Cursor | None) -> tuple[Position, Position]:
        low = self._first_from(range.start)
        if cursor is not None:
            low = max(low, self._after(cursor))
        high = self._first_from(range.end)  # 2**32: past every block's last
        return low, max(low, high)

    def _spans(self, low: Position, high: Position) -> Iterator[tuple[Run, int, int]]:
        """``(block, first, end)`` of each block's part of ``[low, high)``, in order."""
        for b in range(low[0], min(high[0] + 1, len(self._blocks))):
            block = self._blocks[b]
            first = low[1] if b == low[0] else 0
            end = high[1] if b == high[0] else len(block)
            if end > first:
                yield block, first, end

    def _pieces(self, low: Position, high: Position, step: int) -> Iterator[tuple[Run, int, int]]:
        """:meth:`_spans` cut into pieces of at most ``step`` records."""
        for block, first, end in self._spans(low, high):
            for start in range(first, end, step):
                yield block, start, min(end, start + step)

    def _gather(self, low: Position, high: Position, limit: int) -> tuple[Run, bool]:
        """Up to ``limit`` records from ``low`` (before ``high``), and whether more follow."""
        run: Run | None = None
        count, more = 0, False
        for block, first, end in self._spans(low, high):
            if count == limit:
                more = True
                break
            take = min(end - first, limit - count)
            if run is None:
                run = block.part(first, first + take)
            else:
                run.extend_from(block, first, first + take)
            count += take
            if first + take < end:
                more = True
                break
        return (Run.empty(), False) if run is None else (run, more)

    # -- changing ----------------------------------------------------------------------

    def _insert(self, b: int, at: int, run: Run, *, adopt: bool = False, size: int = 0) -> None:
        """Insert ``run`` (new keys, in order, owned by the store) at ``(b, at)``; a long
        run (or any, with ``adopt``) becomes blocks of its own, of at most ``size``
        records (default ``segment``)."""
        blocks, lasts = self._blocks, self._lasts
        if adopt or len(run) >= self._adopt or not blocks:  # blocks of their own
            if blocks and 0 < at < len(blocks[b]):  # cut the block around them
                tail = blocks[b].part(at, len(blocks[b]))
                blocks[b].delete(at, len(blocks[b]))
                self._place(b + 1, [tail])
                lasts[b] = blocks[b].position(len(blocks[b]) - 1)
            where = b + 1 if blocks and at > 0 else b
            size = min(size or self._segment, self._segment)
            chunks = (
                [run]
                if len(run) <= size
                else [run.part(i, i + size) for i in range(0, len(run), size)]
            )
            self._place(where, chunks)
            return
        block = blocks[b]
        block.insert(at, run)
        lasts[b] = block.position(len(block) - 1)
        if len(block) > self._segment:
            tail = block.split()
            lasts[b] = block.position(len(block) - 1)
            self._place(b + 1, [tail])

    def _place(self, where: int, runs: list[Run]) -> None:
        """Insert ``runs`` as blocks before block ``where``."""
        self._blocks[where:where] = runs
        self._lasts[where:where] = [run.position(len(run) - 1) for run in runs]

    def _tidy(self) -> None:
        """Drop empty blocks, merge small neighbours, recompute the blocks' last positions."""
        kept: list[Run] = []
        for block in self._blocks:
            if not block:
                continue
            if kept and len(kept[-1]) + len(block) <= self._segment // 2:
                kept[-1].extend(block)
            else:
                kept.append(block)
        self._blocks = kept
        self._lasts = [block.position(len(block) - 1) for block in kept]
