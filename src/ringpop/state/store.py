"""The store protocol: what the application implements to keep versioned values.

A store holds :class:`Record` s - a key, its value (``None`` for a delete: a
tombstone) and its :class:`~ringpop.state.hlc.Version` - indexed by the key's ring
hash, so that everything in a hash :class:`~ringpop.ring.ownership.Range` can be
scanned, digested or dropped when ownership moves. Writes are **put-if-newer**
(last writer wins): applying the same set of records in any order, any number of
times, leaves the same state.

Ready implementations: :class:`~ringpop.state.memory.MemoryStore` and
:class:`~ringpop.state.sqlite.SQLiteStore`.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Annotated, Protocol

import msgspec

from ringpop.hashing import fingerprint32
from ringpop.ring.ownership import Range
from ringpop.state.hlc import Version

__all__ = [
    "PAGE_FORMAT",
    "Columns",
    "Cursor",
    "Digest",
    "Page",
    "PageColumns",
    "Record",
    "Store",
    "cut_page",
    "page_columns",
    "record_digest",
    "record_digests",
]


class Record(msgspec.Struct, frozen=True):
    """One key's value at one version (``value is None``: deleted)."""

    key: str
    value: bytes | None
    version: Version

    @property
    def hash(self) -> int:
        """The key's ring hash (FarmHash Fingerprint32, as :meth:`HashRing.lookup`)."""
        return fingerprint32(self.key)

    @property
    def deleted(self) -> bool:
        """Whether this record is a tombstone."""
        return self.value is None


class Cursor(msgspec.Struct, frozen=True, array_like=True):
    """Where a range scan stopped: resume strictly after ``(hash, key)``."""

    hash: int
    key: str


class Page(msgspec.Struct, frozen=True):
    """One chunk of a range scan; ``cursor`` is ``None`` when the range is exhausted."""

    records: list[Record]
    cursor: Cursor | None


PAGE_FORMAT = "ringpop-state-page/1"

# SQLite integers are signed 64-bit: versions outside are refused at decode time.
_Int64 = Annotated[int, msgspec.Meta(ge=0, le=(1 << 63) - 1)]


class Columns(msgspec.Struct, frozen=True, array_like=True, tag=PAGE_FORMAT):
    """A page of records as parallel arrays (the binary ``/state/scan`` page, msgpack).

    Record ``i`` is ``(keys[i], values[i], Version(walls[i], logicals[i], nodes[i]))``;
    encoded as an array whose first element is :data:`PAGE_FORMAT`, so a page of
    another format or version does not decode. No per-record object is built to
    send, validate or apply it; :meth:`records` builds them when wanted.
    """

    keys: list[str]
    values: list[bytes | None]
    walls: list[_Int64]
    logicals: list[_Int64]
    nodes: list[str]
    cursor: Cursor | None = None

    def __len__(self) -> int:
        return len(self.keys)

    def records(self) -> list[Record]:
        """The page as :class:`Record` s."""
        return [
            Record(key, value, Version(wall, logical, node))
            for key, value, wall, logical, node in zip(
                self.keys, self.values, self.walls, self.logicals, self.nodes, strict=True
            )
        ]

    @classmethod
    def of_arrays(
        cls,
        keys: list[str],
        values: list[bytes | None],
        walls: array[int],
        logicals: array[int],
        nodes: list[str],
        cursor: Cursor | None = None,
    ) -> Columns:
        """Columns whose versions are held as ``array('q')`` s (a store's or a packed page's)."""
        return cls(keys, values, walls.tolist(), logicals.tolist(), nodes, cursor)

    @classmethod
    def of(cls, records: Sequence[Record], cursor: Cursor | None = None) -> Columns:
        """Records as columns."""
        return cls(
            [r.key for r in records],
            [r.value for r in records],
            [r.version.wall for r in records],
            [r.version.logical for r in records],
            [r.version.node for r in records],
            cursor,
        )


def cut_page(page: Page, max_bytes: int = 0) -> Page:
    """``page`` cut after about ``max_bytes`` (0: no cut; one record at least).

    A record counts its key, value and writer id plus 12 bytes; the cursor moves to
    the last record kept.
    """
    if max_bytes > 0:
        total = 0
        for i, record in enumerate(page.records):
            total += len(record.key) + len(record.value or b"") + len(record.version.node) + 12
            if total > max_bytes and i > 0:
                last = page.records[i - 1]
                return Page(page.records[:i], Cursor(last.hash, last.key))
    return page


def page_columns(page: Page, max_bytes: int = 0) -> Columns:
    """``page`` as :class:`Columns`, cut after about ``max_bytes`` (:func:`cut_page`)."""
    page = cut_page(page, max_bytes)
    return Columns.of(page.records, page.cursor)


class Digest(msgspec.Struct, frozen=True, array_like=True):
    """Order-independent summary of a range: record count and sum of record digests.

    Two stores holding the same records in a range have equal digests; a different
    digest means the range differs (up to 64-bit collisions of the sum).
    """

    count: int
    total: int


_encoder = msgspec.msgpack.Encoder()


def record_digest(record: Record) -> int:
    """32-bit digest of one record (key, version and value), summed into :class:`Digest`."""
    version = record.version
    return fingerprint32(
        _encoder.encode((record.key, version.wall, version.logical, version.node, record.value))
    )


class PageColumns(Protocol):
    """A page as parallel columns: :class:`Columns` or a packed page (what bulk applies read)."""

    @property
    def keys(self) -> Sequence[str]: ...
    @property
    def values(self) -> Sequence[bytes | None]: ...
    @property
    def walls(self) -> Sequence[int]: ...
    @property
    def logicals(self) -> Sequence[int]: ...
    @property
    def nodes(self) -> Sequence[str]: ...


def record_digests(columns: PageColumns) -> list[int]:
    """:func:`record_digest` of every record of ``columns``, in order."""
    encode = _encoder.encode
    return [
        fingerprint32(encode(row))
        for row in zip(
            columns.keys,
            columns.walls,
            columns.logicals,
            columns.nodes,
            columns.values,
            strict=True,
        )
    ]


DIGEST_MOD = 1 << 64


class Store(Protocol):
    """Versioned key-value storage of one node. All methods are coroutines.

    Range scans go in ``(hash, key)`` order, ``limit`` records at most per call,
    resumable with the returned cursor; they see every record present for the whole
    scan (records written during a scan may or may not be seen).
    """

    async def get(self, key: str) -> Record | None:
        """The record of ``key`` (tombstones included), ``None`` if never written."""
        ...

    async def put(self, record: Record) -> bool:
        """Store ``record`` if its version is newer than the one held; whether it did."""
        ...

    async def scan(self, range: Range, cursor: Cursor | None = None, limit: int = 500) -> Page:
        """Up to ``limit`` records with hash in ``range``, after ``cursor``."""
        ...

    async def delete_range(self, range: Range) -> int:
        """Drop every record with hash in ``range`` (not versioned); how many."""
        ...

    async def digest(self, range: Range) -> Digest:
        """The :class:`Digest` of the records with hash in ``range``."""
        ...

    async def close(self) -> None:
        """Release resources."""
        ...
