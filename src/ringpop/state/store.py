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

from typing import Protocol

import msgspec

from ringpop.hashing import fingerprint32
from ringpop.ring.ownership import Range
from ringpop.state.hlc import Version

__all__ = ["Cursor", "Digest", "Page", "Record", "Store", "record_digest"]


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
