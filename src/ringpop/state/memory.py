"""An in-memory :class:`~ringpop.state.store.Store` (tests, caches, examples).

Records are kept **in ring order**, sorted by ``(hash, key)``, in a list of blocks
(:class:`~ringpop.state.blocks.Blocks`; each a :class:`~ringpop.state.segments.Run`
of six parallel columns, at most ``segment`` records, 8192 by default). A block is
found by bisecting the blocks' last positions, a record by bisecting its block's
hashes: ``O(log n)``.

* A new key is inserted into its block, a ``memmove`` of at most ``segment``
  records, whatever the store's size (one flat list would move half the store:
  0.6-0.9 ms a new key at a million keys, 2.7-3.5 ms at three million).
* A page of new keys that falls between two neighbours of the order (what a
  handoff brings) becomes a block of its own: one copy of each column, no step per
  record, no ``memmove`` of the keys around it.
* A handoff page in format ``/3`` (:meth:`MemoryStore.put_blob_page`) becomes
  blocks that keep the page's two blobs of keys and values (copied into an
  :class:`~ringpop.state.arena.Arena`: memory backed by huge pages where the kernel
  has them): no object per record until a write into the block turns its keys and
  values into lists (reads build only the record read).
* A scan slices the blocks; ``get`` and ``scan`` build
  :class:`~ringpop.state.store.Record` s for the per-key API.

Deletes leave blocks smaller; empty blocks are dropped and small neighbours merged.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Sequence

from ringpop.hashing import fingerprint32, fingerprint32_many
from ringpop.ring.ownership import Range
from ringpop.state.arena import Arena, shared_arena
from ringpop.state.blob import Blob
from ringpop.state.blobpage import RECORD_BYTES, BlobPage
from ringpop.state.blocks import Blocks
from ringpop.state.hlc import Version
from ringpop.state.packed import Packed, typed_array, writers_of
from ringpop.state.segments import Positions, Row, Run, strictly_ordered
from ringpop.state.store import (
    DIGEST_MOD,
    Columns,
    Cursor,
    Digest,
    Page,
    Record,
    record_digests,
)

__all__ = ["BLOB_BLOCK", "MemoryStore"]

BLOB_BLOCK = 1024
"""Records at most in a block kept as a handoff page's blob: the first write into it
builds its key and value lists at once (~0.3-0.4 ms for 1024 records)."""


class MemoryStore(Blocks):
    """Records in ring order, in blocks of at most ``segment`` records (module docstring).

    Handoff pages' blobs are kept in ``arena`` (default: the process's
    :func:`~ringpop.state.arena.shared_arena`). Every method runs synchronously
    (nothing blocks).
    """

    def __init__(self, *, segment: int = 8192, arena: Arena | None = None) -> None:
        super().__init__(segment=segment)
        self._writers: dict[str, str] = {}  # one string object per writer id
        self._tombstones: dict[str, int] = {}  # key -> wall of its delete marker
        self._meta: dict[str, bytes] = {}
        self._arena = arena if arena is not None else shared_arena()

    # -- the Store protocol ----------------------------------------------------------------

    async def get(self, key: str) -> Record | None:
        """The record of ``key``, ``None`` if never written."""
        b, at, found = self._seek(fingerprint32(key), key)
        if not found:
            return None
        block = self._blocks[b]
        version = Version(block.walls[at], block.logicals[at], block.nodes[at])
        return Record(key, block.value(at), version)

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

        New keys go in by runs: the records that fall between the same two neighbours
        of the order (a handoff page: all of them) are inserted at once, a long run as
        a block of its own. A :class:`~ringpop.state.packed.Packed` page checked by
        :func:`~ringpop.state.transfer.check_packed` (``ordered``) is taken as it is:
        no step per record at all when its keys are new.
        """
        keys = columns.keys
        if hashes is None:
            hashes = fingerprint32_many(keys if isinstance(keys, list) else list(keys))
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
        rows = Run(
            typed_array("I", hashes),
            keys if isinstance(keys, list) else list(keys),
            columns.values if isinstance(columns.values, list) else list(columns.values),
            typed_array("q", columns.walls),
            typed_array("q", columns.logicals),
            nodes,
        )
        if not ordered and not strictly_ordered(rows.hashes, rows.keys):
            if len(set(rows.keys)) != len(rows.keys):  # the same key twice: in order
                return sum(self._put_one(row) for row in rows.each())
            rows = rows.sorted()
        applied, i, count = 0, 0, len(rows)
        while i < count:
            b, at, found = self._seek(rows.hashes[i], rows.keys[i])
            if found:
                applied += self._replace(b, at, rows.row(i))
                i += 1
                continue
            j = count
            if self._blocks and at < len(self._blocks[b]):  # a record follows: the run ends there
                bound = self._blocks[b].position(at)
                if rows.position(count - 1) >= bound:
                    j = bisect_left(Positions(rows), bound, i + 1, count)
            run = rows.part(i, j)  # a copy: the store never shares the caller's lists
            self._insert(b, at, run)
            if markers is not False and None in run.values:
                self._track(run.keys, run.values, run.walls)
            applied += j - i
            i = j
        return applied

    async def put_blob_page(self, page: BlobPage) -> int:
        """Put each record of a checked blob page if newer; how many applied.

        A page of new keys without delete markers that falls between two neighbours
        of the order (a handoff page) becomes blocks as it is: its keys and values
        stay in the page's blob until a write touches their block. Any other page
        is applied as :meth:`put_many_if_newer` applies a packed one.
        """
        if not len(page):
            return 0
        blob = page.blob
        if page.ordered and not blob.markers:
            b, at, found = self._seek(page.hashes[0], blob.key(0))
            following = self._normal(b, at)
            if not found and (
                following[0] == len(self._blocks)
                or self._blocks[following[0]].position(following[1])
                > (page.hashes[-1], blob.key(-1))
            ):
                # copies of the columns (the store never shares a caller's arrays)
                keep = self._arena.keep
                kept = Blob(
                    keep(blob.keys),
                    blob.key_ends[:],
                    keep(blob.values),
                    blob.value_ends[:],
                    blob.markers,
                    blob.key_start,
                    blob.value_start,
                )
                run = Run.of_blob(
                    page.hashes[:], kept, page.walls[:], page.logicals[:], page.nodes[:]
                )
                # blocks of their own (merged into a block, the page would unpack), small
                # ones: the first write into a block builds its lists (~0.3 µs a record)
                self._insert(b, at, run, adopt=True, size=BLOB_BLOCK)
                return len(page)
        packed = page.packed()
        return await self.put_many_if_newer(packed, packed.hashes)

    def _replace(self, b: int, at: int, row: Row) -> bool:
        """Put ``row`` over the record at ``(b, at)`` (the same key) if newer."""
        block = self._blocks[b]
        _, key, value, wall, logical, node = row
        if (wall, logical, node) <= (block.walls[at], block.logicals[at], block.nodes[at]):
            return False
        block.replace(at, value, wall, logical, node)
        self._track((key,), (value,), (wall,))
        return True

    def _put_one(self, row: Row) -> bool:
        """Put one record if newer; whether it did."""
        b, at, found = self._seek(row[0], row[1])
        if found:
            return self._replace(b, at, row)
        self._insert(b, at, Run.of_row(row))
        self._track((row[1],), (row[2],), (row[3],))
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
        run, more = self._gather(*self._bounds(range, cursor), limit)
        if max_bytes > 0 and (end := run.fitting(max_bytes)) < len(run):
            run, more = run.part(0, end), True
        return run.columns(run.cursor(len(run) - 1) if more else None)

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
        run, more = self._gather(*self._bounds(range, cursor), limit)
        last = run.cursor(len(run) - 1) if more else None
        return Packed(
            run.hashes,
            run.keys,
            run.values,
            run.walls,
            run.logicals,
            run.nodes,
            writers_of(run.nodes),
            last,
        )

    async def scan_blob_page(
        self, range: Range, cursor: Cursor | None = None, limit: int = 500, max_bytes: int = 0
    ) -> BlobPage:
        """:meth:`scan` as a :class:`~ringpop.state.blobpage.BlobPage` (what a
        ``ringpop-state-page/3`` page carries): a block kept as a handoff page's blob
        gives its part of the bytes, with no key or value object built; a block of
        lists has its part joined. Blocks are taken until ``limit`` records or about
        ``max_bytes`` (0: no cut); :func:`~ringpop.state.blobpage.encode_blob_page`
        cuts the page exactly."""
        if limit <= 0:
            raise ValueError("limit must be positive")
        parts: list[Blob] = []
        hashes, walls, logicals = array("I"), array("q"), array("q")
        nodes: list[str] = []
        count = size = 0
        more = False
        step = min(BLOB_BLOCK, self._segment)  # lists are joined this many records at a time
        pieces = self._pieces(*self._bounds(range, cursor), step)
        for block, start, end in pieces:
            if count == limit or 0 < max_bytes <= size:
                more = True
                break
            stop = min(end, start + limit - count)
            blob = block.blob
            if blob is None:
                part = Blob.of(block.keys[start:stop], block.values[start:stop])
            else:
                part = blob.part(start, stop)
            parts.append(part)
            hashes += block.hashes[start:stop]
            walls += block.walls[start:stop]
            logicals += block.logicals[start:stop]
            nodes += block.nodes[start:stop]
            count += stop - start
            size += part.size(len(part)) + RECORD_BYTES * (stop - start)
            if stop < end:
                more = True
                break
        last = Cursor(hashes[-1], parts[-1].key(-1)) if more else None
        return BlobPage(hashes, parts, walls, logicals, nodes, writers_of(nodes), last)

    async def scan(self, range: Range, cursor: Cursor | None = None, limit: int = 500) -> Page:
        """Up to ``limit`` records with hash in ``range``, after ``cursor``."""
        page = await self.scan_columns(range, cursor, limit)
        return Page(page.records(), page.cursor)

    async def delete_range(self, range: Range) -> int:
        """Drop every record with hash in ``range``; how many."""
        deleted = 0
        for block, first, end in list(self._spans(*self._bounds(range, None))):
            for key in block.marker_keys(first, end):
                self._tombstones.pop(key, None)
            block.delete(first, end)
            deleted += end - first
        if deleted:
            self._tidy()
        return deleted

    async def digest(self, range: Range) -> Digest:
        """Count and digest sum of the records with hash in ``range``."""
        count = total = 0
        for block, first, end in self._spans(*self._bounds(range, None)):
            for start in _steps(first, end):
                total += sum(record_digests(block.part(start, min(end, start + 8192))))
            count += end - first
        return Digest(count, total % DIGEST_MOD)

    # -- delete markers and metadata ----------------------------------------------------

    async def collect_tombstones(self, before_wall: int, limit: int = 10_000) -> int:
        """Forget up to ``limit`` delete markers whose version's wall is below ``before_wall``."""
        old = [k for k, wall in self._tombstones.items() if wall < before_wall][:limit]
        collected = 0
        for key in old:
            del self._tombstones[key]
            # a block's recorded last position may name a record just removed: it
            # still bounds the block from above, so the search stays right until _tidy
            b, at, found = self._seek(fingerprint32(key), key)
            if found:
                self._blocks[b].delete(at, at + 1)
                collected += 1
        if collected:
            self._tidy()
        return collected

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


def _steps(low: int, high: int, step: int = 8192) -> range:
    """Start offsets of ``[low, high)`` cut every ``step`` (``range`` is a parameter name)."""
    return range(low, high, step)
