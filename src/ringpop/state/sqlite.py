"""A :class:`~ringpop.state.store.Store` in one SQLite file per node (stdlib ``sqlite3``).

Records live in one table clustered on ``(hash, key)`` (``WITHOUT ROWID``), the ring
order, so a range scan, digest or range delete reads consecutive pages of one B-tree
and a key is found by its hash and itself. The database runs in WAL mode with
``synchronous=NORMAL`` (a committed write survives a process crash; the last
transactions may be lost on power failure). A file that cannot be opened as one is
the ``sqlite3`` error, naming the file.

**Blocking calls never run on the event loop:** every statement runs on one
dedicated worker thread (a single-thread executor owning the connection), so calls
are serialised in arrival order and the loop only awaits their futures.
"""

from __future__ import annotations

import asyncio
import sqlite3
from array import array
from bisect import bisect_right
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import accumulate
from os import PathLike
from typing import TypeVar

from ringpop.hashing import fingerprint32, fingerprint32_many
from ringpop.ring.ownership import Range
from ringpop.state.hlc import Version
from ringpop.state.packed import Packed, writers_of
from ringpop.state.store import (
    DIGEST_MOD,
    Columns,
    Cursor,
    Digest,
    Page,
    Record,
    record_digest,
    record_digests,
)

__all__ = ["SQLiteStore"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ring_records (
    hash INTEGER NOT NULL,
    key TEXT NOT NULL,
    wall INTEGER NOT NULL,
    logical INTEGER NOT NULL,
    node TEXT NOT NULL,
    value BLOB,
    digest INTEGER NOT NULL,
    PRIMARY KEY (hash, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ring_records_tombstones ON ring_records (wall) WHERE value IS NULL;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
"""
# (The module docstring says why one B-tree in ring order.) The first layout, a rowid
# table indexed on key and on (hash, key), kept three B-trees, and a scan looked each
# row up from the index. A partial index holds the delete markers, to collect by age.

# The layout before (files written by earlier versions are migrated on open).
_OLD_TABLE = "records"
_MIGRATE = """
INSERT OR IGNORE INTO ring_records (hash, key, wall, logical, node, value, digest)
SELECT hash, key, wall, logical, node, value, digest FROM records ORDER BY hash, key;
DROP TABLE records;
"""

# Applied only when the incoming version is greater (row values compare like tuples;
# TEXT compares bytewise, i.e. UTF-8 byte order = code point order, as Python does).
_PUT = """
INSERT INTO ring_records (key, hash, wall, logical, node, value, digest)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (hash, key) DO UPDATE SET
    wall = excluded.wall, logical = excluded.logical, node = excluded.node,
    value = excluded.value, digest = excluded.digest
WHERE (excluded.wall, excluded.logical, excluded.node)
    > (ring_records.wall, ring_records.logical, ring_records.node)
"""

_COLUMNS = "key, value, wall, logical, node"
_CHUNK = 256  # rows fetched at a time by a packed scan cut by size


def _record(row: tuple[str, bytes | None, int, int, str]) -> Record:
    key, value, wall, logical, node = row
    return Record(key, value, Version(wall, logical, node))


class SQLiteStore:
    """Versioned records in the SQLite database at ``path`` (created if missing).

    ``cache_mib`` bounds SQLite's page cache (its default is 2 MiB): a handoff
    inserts into the key index in random order, and a cache holding that index
    saves re-reading its pages from the OS on every insert.
    """

    def __init__(self, path: str | PathLike[str], *, cache_mib: int = 32) -> None:
        if cache_mib < 0:
            raise ValueError(f"cache_mib must be >= 0, not {cache_mib!r}")
        self.path = path
        self.cache_mib = cache_mib
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="ringpop-sqlite")
        self._db: sqlite3.Connection | None = None
        self._closed = False
        try:
            self._executor.submit(self._open).result()
        except sqlite3.Error as error:  # the same class, naming the file
            self._executor.shutdown(wait=False)
            raise type(error)(f"SQLiteStore {str(path)!r}: {error}") from error

    def _open(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(f"PRAGMA cache_size=-{int(self.cache_mib) * 1024}")
        db.executescript(_SCHEMA)
        old = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (_OLD_TABLE,)
        ).fetchone()
        if old is not None:
            db.executescript(f"BEGIN; {_MIGRATE} COMMIT;")
        self._db = db

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("SQLiteStore is closed")
        return self._db

    async def _run(self, fn: Callable[[], T]) -> T:
        if self._closed:
            raise RuntimeError(f"SQLiteStore {str(self.path)!r} is closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def get(self, key: str) -> Record | None:
        """The record of ``key``, ``None`` if never written."""

        def get() -> Record | None:
            row = (
                self._conn()
                .execute(
                    f"SELECT {_COLUMNS} FROM ring_records WHERE hash = ? AND key = ?",
                    (fingerprint32(key), key),
                )
                .fetchone()
            )
            return None if row is None else _record(row)

        return await self._run(get)

    async def put(self, record: Record) -> bool:
        """Store ``record`` if newer than the one held; whether it did."""
        v = record.version
        params = (
            record.key,
            fingerprint32(record.key),
            v.wall,
            v.logical,
            v.node,
            record.value,
            record_digest(record),
        )
        return await self._run(lambda: self._conn().execute(_PUT, params).rowcount > 0)

    async def put_many(self, records: Sequence[Record]) -> list[bool]:
        """:meth:`put` of several records in one transaction; which were applied."""
        rows = [
            (
                r.key,
                fingerprint32(r.key),
                r.version.wall,
                r.version.logical,
                r.version.node,
                r.value,
                record_digest(r),
            )
            for r in records
        ]

        def put_many() -> list[bool]:
            db = self._conn()
            db.execute("BEGIN")
            try:
                applied = [db.execute(_PUT, row).rowcount > 0 for row in rows]
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return applied

        return await self._run(put_many)

    async def put_many_if_newer(
        self, columns: Columns | Packed, hashes: Sequence[int] | None = None
    ) -> int:
        """Put each record of ``columns`` if newer, in one transaction; how many applied.

        ``hashes`` are the keys' ring hashes when the caller computed them already.
        One ``executemany`` of the put-if-newer upsert: no :class:`Record` is built.
        """
        if hashes is None:
            hashes = fingerprint32_many(list(columns.keys))
        if len(hashes) != len(columns.keys):
            raise ValueError(f"{len(hashes)} hashes for {len(columns.keys)} records")

        def put_many_if_newer() -> int:
            rows = zip(
                columns.keys,
                hashes,
                columns.walls,
                columns.logicals,
                columns.nodes,
                columns.values,
                record_digests(columns),
                strict=True,
            )
            db = self._conn()
            db.execute("BEGIN")
            try:
                applied = db.executemany(_PUT, rows).rowcount
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return applied

        return await self._run(put_many_if_newer)

    @staticmethod
    def _scan_sql(
        range: Range, cursor: Cursor | None, limit: int, extra: str = ""
    ) -> tuple[str, tuple[object, ...]]:
        if limit <= 0:
            raise ValueError("limit must be positive")
        # Row values lead the WHERE clause so SQLite seeks the index at the cursor
        # (hash >= ? AND (hash, key) > (?, ?) makes it walk from the range start).
        if cursor is None or cursor.hash < range.start:
            sql = (
                f"SELECT {_COLUMNS}, hash{extra} FROM ring_records WHERE hash >= ? AND hash < ? "
                "ORDER BY hash, key LIMIT ?"
            )
            return sql, (range.start, range.end, limit + 1)
        sql = (
            f"SELECT {_COLUMNS}, hash{extra} FROM ring_records WHERE (hash, key) > (?, ?) "
            "AND hash < ? ORDER BY hash, key LIMIT ?"
        )
        return sql, (cursor.hash, cursor.key, range.end, limit + 1)

    async def scan_columns(
        self, range: Range, cursor: Cursor | None = None, limit: int = 500, max_bytes: int = 0
    ) -> Columns:
        """:meth:`scan` as :class:`Columns`, also cut after about ``max_bytes`` (0: no cut).

        A record counts its key, value and writer id (characters for text); a page
        holds at least one record.
        """
        extra = ", length(key) + coalesce(length(value), 0) + length(node) + 12"
        sql, params = self._scan_sql(range, cursor, limit, extra)

        def scan() -> Columns:
            rows = self._conn().execute(sql, params).fetchall()
            keep = min(len(rows), limit)
            if max_bytes > 0 and rows:
                sizes = accumulate(row[6] for row in rows[:keep])
                keep = max(1, min(keep, bisect_right(list(sizes), max_bytes)))
            if not keep:
                return Columns([], [], [], [], [], None)
            keys, values, walls, logicals, nodes, hashes, _ = zip(*rows[:keep], strict=True)
            more = len(rows) > keep
            return Columns(
                list(keys),
                list(values),
                list(walls),
                list(logicals),
                list(nodes),
                Cursor(hashes[-1], keys[-1]) if more else None,
            )

        return await self._run(scan)

    async def scan_packed(
        self, range: Range, cursor: Cursor | None = None, limit: int = 500, max_bytes: int = 0
    ) -> Packed:
        """:meth:`scan` as a :class:`~ringpop.state.packed.Packed` page (the hashes
        read from the table, not recomputed).

        With ``max_bytes``, rows are fetched in chunks only until their keys and
        values (sizes computed by SQLite) exceed it: rows past a page's end are not
        read out of SQLite (:func:`~ringpop.state.packed.encode_packed` still cuts
        the page by its encoded size).
        """
        extra = ", length(CAST(key AS BLOB)) + coalesce(length(value), 0) + 22"
        sql, params = self._scan_sql(range, cursor, limit, extra)

        def scan() -> Packed:
            rows_cursor = self._conn().execute(sql, params)
            rows, total, exhausted = [], 0, max_bytes <= 0
            if exhausted:
                rows = rows_cursor.fetchall()
            while not exhausted and len(rows) <= limit and total <= max_bytes:
                chunk = rows_cursor.fetchmany(_CHUNK)  # at most limit + 1 rows in all
                exhausted = not chunk
                rows.extend(chunk)
                total += sum(row[6] for row in chunk)
            rows_cursor.close()
            keep = min(len(rows), limit)
            if not keep:
                return Packed(array("I"), [], [], array("q"), array("q"), [], [])
            keys, values, walls, logicals, nodes, hashes, _ = zip(*rows[:keep], strict=True)
            writers = list(nodes)
            more = len(rows) > keep or not exhausted  # stopped early: maybe more
            return Packed(
                array("I", hashes),
                list(keys),
                list(values),
                array("q", walls),
                array("q", logicals),
                writers,
                writers_of(writers),
                Cursor(hashes[-1], keys[-1]) if more else None,
            )

        return await self._run(scan)

    async def scan(self, range: Range, cursor: Cursor | None = None, limit: int = 500) -> Page:
        """Up to ``limit`` records with hash in ``range``, after ``cursor``."""
        sql, params = self._scan_sql(range, cursor, limit)

        def scan() -> Page:
            rows = self._conn().execute(sql, params).fetchall()
            page = rows[:limit]
            records = [_record(row[:5]) for row in page]
            more = len(rows) > limit
            return Page(records, Cursor(page[-1][5], page[-1][0]) if more else None)

        return await self._run(scan)

    async def delete_range(self, range: Range) -> int:
        """Drop every record with hash in ``range``; how many."""
        sql = "DELETE FROM ring_records WHERE hash >= ? AND hash < ?"
        return await self._run(lambda: self._conn().execute(sql, (range.start, range.end)).rowcount)

    async def digest(self, range: Range) -> Digest:
        """Count and digest sum of the records with hash in ``range``."""
        sql = (
            "SELECT count(*), coalesce(sum(digest), 0) FROM ring_records "
            "WHERE hash >= ? AND hash < ?"
        )

        def digest() -> Digest:
            count, total = self._conn().execute(sql, (range.start, range.end)).fetchone()
            return Digest(count, total % DIGEST_MOD)

        return await self._run(digest)

    async def collect_tombstones(self, before_wall: int, limit: int = 10_000) -> int:
        """Forget up to ``limit`` delete markers whose version's wall is below ``before_wall``.

        Found through a partial index of the markers only (no table scan).
        """
        sql = (
            "DELETE FROM ring_records WHERE (hash, key) IN (SELECT hash, key FROM ring_records "
            "WHERE value IS NULL AND wall < ? LIMIT ?)"
        )
        return await self._run(lambda: self._conn().execute(sql, (before_wall, limit)).rowcount)

    async def get_meta(self, name: str) -> bytes | None:
        """The metadata blob ``name`` (handoff cursors, ...), ``None`` if unset."""

        def get() -> bytes | None:
            row = self._conn().execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
            return None if row is None else bytes(row[0])

        return await self._run(get)

    async def put_meta(self, name: str, value: bytes | None) -> None:
        """Set (``None``: remove) the metadata blob ``name`` (one committed statement)."""

        def put() -> None:
            if value is None:
                self._conn().execute("DELETE FROM meta WHERE name = ?", (name,))
            else:
                self._conn().execute(
                    "INSERT INTO meta (name, value) VALUES (?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    (name, value),
                )

        await self._run(put)

    async def close(self) -> None:
        """Close the database once what was asked before is done (again: nothing)."""
        if not self._closed:
            self._closed = True
            await asyncio.get_running_loop().run_in_executor(self._executor, self._conn().close)
            self._db = None
            self._executor.shutdown(wait=False)
