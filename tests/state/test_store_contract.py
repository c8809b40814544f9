"""One contract for every Store: MemoryStore and SQLiteStore run the same tests."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringpop.hashing import fingerprint32
from ringpop.ring.ownership import HASH_SPACE, Range
from ringpop.state.hlc import Version
from ringpop.state.memory import MemoryStore
from ringpop.state.sqlite import SQLiteStore
from ringpop.state.store import Columns, Cursor, Record, Store, record_digest

Factory = Callable[[Path], Store]
T = TypeVar("T")

FACTORIES: dict[str, Factory] = {
    "memory": lambda _: MemoryStore(),
    "memory-tiny-blocks": lambda _: MemoryStore(segment=3),  # splits, cuts and merges
    "sqlite": lambda directory: SQLiteStore(directory / "node.db"),
}

EVERYTHING = Range(0, HASH_SPACE)


@pytest.fixture(params=sorted(FACTORIES))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    made = FACTORIES[request.param](tmp_path)
    yield made
    await made.close()


def rec(key: str, value: bytes | None, wall: int, node: str = "a", logical: int = 0) -> Record:
    return Record(key, value, Version(wall, logical, node))


async def test_put_applies_only_newer_versions(store: Store) -> None:
    assert await store.get("k") is None
    assert await store.put(rec("k", b"1", 10))
    assert not await store.put(rec("k", b"old", 9))
    assert not await store.put(rec("k", b"1", 10))  # the same write again
    assert await store.put(rec("k", b"2", 10, "b"))  # same time, larger writer id
    assert await store.get("k") == rec("k", b"2", 10, "b")
    assert await store.put(rec("k", None, 11))  # delete: a tombstone
    got = await store.get("k")
    assert got is not None
    assert got.deleted
    assert not await store.put(rec("k", b"late", 10, "z"))


async def test_scan_is_bounded_ordered_and_resumable(store: Store) -> None:
    keys = [f"key-{i}" for i in range(57)]
    for key in keys:
        await store.put(rec(key, key.encode(), 1))
    half = Range(0, HASH_SPACE // 2)
    expected = sorted((fingerprint32(k), k) for k in keys if fingerprint32(k) in half)
    seen: list[tuple[int, str]] = []
    cursor: Cursor | None = None
    for _ in range(100):
        page = await store.scan(half, cursor, limit=5)
        assert len(page.records) <= 5
        seen += [(r.hash, r.key) for r in page.records]
        cursor = page.cursor
        if cursor is None:
            break
    assert seen == expected
    whole = await store.scan(EVERYTHING, limit=1000)
    assert whole.cursor is None
    assert len(whole.records) == 57


async def test_delete_range_and_digest(store: Store) -> None:
    for i in range(40):
        await store.put(rec(f"k{i}", b"v", 1))
    low, high = Range(0, HASH_SPACE // 3), Range(HASH_SPACE // 3, HASH_SPACE)
    before = await store.digest(EVERYTHING)
    assert before.count == 40
    in_low = (await store.digest(low)).count
    assert await store.delete_range(low) == in_low
    assert (await store.digest(low)).count == 0
    assert await store.digest(EVERYTHING) == await store.digest(high)
    assert (await store.scan(low)).records == []


async def test_digest_sees_versions_and_values(store: Store) -> None:
    await store.put(rec("a", b"1", 1))
    first = await store.digest(EVERYTHING)
    await store.put(rec("a", b"1", 2))
    second = await store.digest(EVERYTHING)
    assert first.count == second.count == 1
    assert first != second


writes = st.lists(
    st.builds(
        rec,
        st.sampled_from(["a", "b", "c", "d"]),
        st.one_of(st.none(), st.binary(max_size=3)),
        st.integers(0, 5),
        st.sampled_from(["n1", "n2"]),
        st.integers(0, 2),
    ),
    max_size=12,
)


async def _apply(factory: Factory, directory: Path, batch: list[Record]) -> list[Record]:
    store = factory(directory)
    try:
        for record in batch:
            await store.put(record)
        return (await store.scan(EVERYTHING, limit=100)).records
    finally:
        await store.close()


def _run(coroutine: Awaitable[T]) -> T:
    async def main() -> T:
        return await coroutine

    return asyncio.run(main())


@pytest.mark.parametrize("kind", sorted(FACTORIES))
@settings(max_examples=40, deadline=None)
@given(writes, st.randoms(use_true_random=False))
def test_put_if_newer_converges_in_any_order(kind: str, batch: list[Record], rng: object) -> None:
    """Commutative and idempotent: any order, with repeats, ends in the same state."""
    unique = {(r.key, r.version): r for r in reversed(batch)}  # a version names one write
    batch = [r for r in batch if unique[r.key, r.version] is r]
    shuffled = list(batch) * 2
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
        a = _run(_apply(FACTORIES[kind], Path(one), batch))
        b = _run(_apply(FACTORIES[kind], Path(two), shuffled))
    assert a == b
    newest: dict[str, Record] = {}
    for record in batch:
        if record.key not in newest or record.version > newest[record.key].version:
            newest[record.key] = record
    assert {r.key: r for r in a} == newest


def test_both_stores_agree() -> None:
    batch = [
        rec(k, bytes([i]), i % 3, n) for i, (k, n) in enumerate(itertools.product("xyz", "ab"))
    ]
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
        a = _run(_apply(FACTORIES["memory"], Path(one), batch))
        b = _run(_apply(FACTORIES["sqlite"], Path(two), batch))
    assert a == b


async def test_put_many_if_newer_applies_a_page_like_puts(store: Store) -> None:
    """The bulk apply of a page of columns is put-if-newer record by record."""
    await store.put(rec("a", b"held", 5))
    await store.put(rec("b", b"held", 5))
    page = Columns.of([rec("a", b"old", 4), rec("b", None, 6), rec("c", b"new", 1)])
    bulk = getattr(store, "put_many_if_newer")  # noqa: B009 - not in the protocol
    assert await bulk(page) == 2
    assert await bulk(page) == 0  # the same page again: idempotent
    assert await store.get("a") == rec("a", b"held", 5)
    assert await store.get("b") == rec("b", None, 6)
    assert await store.get("c") == rec("c", b"new", 1)
    assert [r.key for r in (await store.scan(EVERYTHING)).records] == sorted(
        "abc", key=lambda k: (fingerprint32(k), k)
    )
    with pytest.raises(ValueError, match="hashes"):
        await bulk(page, [1])


async def test_scan_columns_is_the_scan_cut_by_bytes(store: Store) -> None:
    for i in range(40):
        await store.put(rec(f"key-{i}", b"x" * 100, 1, logical=i))
    scan_columns = getattr(store, "scan_columns")  # noqa: B009 - not in the protocol
    whole = await store.scan(EVERYTHING, limit=1000)
    assert (await scan_columns(EVERYTHING, None, 1000)).records() == whole.records
    seen: list[Record] = []
    cursor: Cursor | None = None
    for _ in range(40):
        page = await scan_columns(EVERYTHING, cursor, 1000, 500)  # ~4 records of ~118 B
        assert 1 <= len(page) <= 5
        seen.extend(page.records())
        cursor = page.cursor
        if cursor is None:
            break
    assert seen == whole.records
    one = await scan_columns(EVERYTHING, None, 1000, 1)  # at least one record
    assert len(one) == 1


many_writes = st.lists(
    st.builds(
        rec,
        st.sampled_from([f"k{i}" for i in range(30)]),
        st.one_of(st.none(), st.binary(max_size=3)),
        st.integers(0, 5),
        st.sampled_from(["n1", "n2"]),
        st.integers(0, 2),
    ),
    max_size=60,
)


@pytest.mark.parametrize("kind", sorted(FACTORIES))
@settings(max_examples=60, deadline=None)
@given(many_writes, st.integers(1, 25))
def test_bulk_apply_ends_like_puts(kind: str, batch: list[Record], size: int) -> None:
    """Pages of ``put_many_if_newer`` end in the state of one put at a time."""
    unique = {(r.key, r.version): r for r in reversed(batch)}
    batch = [r for r in batch if unique[r.key, r.version] is r]

    async def bulk(directory: Path) -> list[Record]:
        store = FACTORIES[kind](directory)
        try:
            for start in range(0, len(batch), size):
                await getattr(store, "put_many_if_newer")(Columns.of(batch[start : start + size]))  # noqa: B009
            return (await store.scan(EVERYTHING, limit=100)).records
        finally:
            await store.close()

    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
        assert _run(bulk(Path(one))) == _run(_apply(FACTORIES[kind], Path(two), batch))


async def test_old_delete_markers_are_collected(store: Store) -> None:
    await store.put(rec("gone", None, 100))
    await store.put(rec("recent", None, 300))
    await store.put(rec("live", b"v", 50))
    await store.put(rec("revived", None, 100))
    await store.put(rec("revived", b"back", 101))  # a later write replaced the marker
    collect = getattr(store, "collect_tombstones")  # noqa: B009 - not in the protocol
    assert await collect(200) == 1
    assert await store.get("gone") is None
    assert await store.get("recent") == rec("recent", None, 300)
    assert await store.get("live") == rec("live", b"v", 50)
    assert await store.get("revived") == rec("revived", b"back", 101)
    assert (await store.digest(EVERYTHING)).count == 3
    assert await collect(200) == 0
    assert await collect(400) == 1
    assert [r.key for r in (await store.scan(EVERYTHING)).records] == sorted(
        ["live", "revived"], key=lambda k: (fingerprint32(k), k)
    )


async def test_many_delete_markers_are_collected_in_one_pass(store: Store) -> None:
    for i in range(150):
        await store.put(rec(f"k{i}", None if i % 3 else b"v", 10))
    collect = getattr(store, "collect_tombstones")  # noqa: B009 - not in the protocol
    assert await collect(11, 60) == 60  # bounded per call
    assert await collect(11) == 40
    held = (await store.scan(EVERYTHING, limit=1000)).records
    assert sorted(r.key for r in held) == sorted(f"k{i}" for i in range(0, 150, 3))


async def test_metadata_blobs(store: Store) -> None:
    get_meta, put_meta = getattr(store, "get_meta"), getattr(store, "put_meta")  # noqa: B009
    assert await get_meta("a") is None
    await put_meta("a", b"1")
    await put_meta("a", b"2")
    assert await get_meta("a") == b"2"
    await put_meta("a", None)
    assert await get_meta("a") is None


async def test_sqlite_metadata_survives_reopening(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "node.db")
    await store.put_meta("handoff", b"cursor")
    await store.put(rec("k", b"v", 1))
    await store.close()
    again = SQLiteStore(tmp_path / "node.db")
    try:
        assert await again.get_meta("handoff") == b"cursor"
        assert await again.get("k") == rec("k", b"v", 1)
    finally:
        await again.close()


async def test_sqlite_close_keeps_what_was_asked_before_and_may_be_repeated(
    tmp_path: Path,
) -> None:
    """A second close() raised "cannot schedule new futures after shutdown", and so did
    every call after close, naming neither the store nor the file."""
    store = SQLiteStore(tmp_path / "node.db")
    puts = [asyncio.ensure_future(store.put(rec(f"k{i}", b"v", 1))) for i in range(50)]
    await asyncio.sleep(0)
    await asyncio.gather(store.close(), store.close())
    await store.close()
    assert all(await asyncio.gather(*puts))  # asked before close: done, kept
    with pytest.raises(RuntimeError, match=r"SQLiteStore '.*node\.db' is closed"):
        await store.get("k1")
    again = SQLiteStore(tmp_path / "node.db")
    try:
        assert await again.get("k49") == rec("k49", b"v", 1)
    finally:
        await again.close()


async def test_sqlite_files_of_the_first_layout_are_migrated(tmp_path: Path) -> None:
    """A file written with the first layout (rowid table + two indexes) opens with its data."""
    import sqlite3

    db = sqlite3.connect(tmp_path / "node.db")
    db.executescript(
        """
        CREATE TABLE records (key TEXT NOT NULL UNIQUE, hash INTEGER NOT NULL,
            wall INTEGER NOT NULL, logical INTEGER NOT NULL, node TEXT NOT NULL,
            value BLOB, digest INTEGER NOT NULL);
        CREATE INDEX records_by_hash ON records (hash, key);
        """
    )
    written = [rec(f"k{i}", None if i == 3 else b"v%d" % i, i) for i in range(10)]
    reference = MemoryStore()
    for r in written:
        await reference.put(r)
        db.execute(
            "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?)",
            (r.key, r.hash, r.version.wall, 0, "a", r.value, record_digest(r)),
        )
    db.commit()
    db.close()
    store = SQLiteStore(tmp_path / "node.db")
    try:
        assert (await store.scan(EVERYTHING)).records == (await reference.scan(EVERYTHING)).records
        assert await store.digest(EVERYTHING) == await reference.digest(EVERYTHING)
        assert await store.get("k3") == rec("k3", None, 3)
    finally:
        await store.close()


def test_a_negative_sqlite_cache_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cache_mib"):
        SQLiteStore(tmp_path / "node.db", cache_mib=-1)
    assert not (tmp_path / "node.db").exists()  # refused before anything is opened


def test_a_file_sqlite_cannot_open_is_its_error_naming_the_file(tmp_path: Path) -> None:
    """'file is not a database' alone did not say which file; the worker thread was left."""
    import sqlite3
    import threading

    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"\x01" * 8192)
    threads = threading.active_count()
    with pytest.raises(sqlite3.DatabaseError, match=r"SQLiteStore '.*corrupt\.db': file is not"):
        SQLiteStore(corrupt)
    with pytest.raises(sqlite3.OperationalError, match=r"nope.*unable to open"):
        SQLiteStore(tmp_path / "nope" / "x.db")
    for _ in range(100):  # the executors' threads end
        if threading.active_count() <= threads:
            break
        time.sleep(0.01)
    assert threading.active_count() <= threads
