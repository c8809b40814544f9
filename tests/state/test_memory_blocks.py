"""MemoryStore's blocks against a dict: any mix of writes, pages and deletes, any block size.

The store keeps its records in blocks of at most ``segment`` records; these tests run
random operations with tiny blocks (every insert splits, cuts or merges something)
and compare every read with a plain dict that applies the same last-writer-wins rule.
"""

from __future__ import annotations

import asyncio
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringpop.hashing import fingerprint32, fingerprint32_blob
from ringpop.ring.ownership import HASH_SPACE, Range
from ringpop.state.blobpage import decode_blob_page, encode_blob_page
from ringpop.state.hlc import Version
from ringpop.state.memory import MemoryStore
from ringpop.state.packed import Packed
from ringpop.state.store import DIGEST_MOD, Columns, Cursor, Digest, Record, record_digests

EVERYTHING = Range(0, HASH_SPACE)
Model = dict[str, tuple[bytes | None, Version]]

keys = st.sampled_from([f"k{i}" for i in range(40)])
versions = st.builds(Version, st.integers(1, 6), st.integers(0, 2), st.sampled_from("ab"))
values = st.one_of(st.none(), st.binary(max_size=6))
records = st.builds(Record, keys, values, versions)
ranges = st.tuples(st.integers(0, HASH_SPACE), st.integers(0, HASH_SPACE)).map(
    lambda ab: Range(min(ab), max(ab)) if ab[0] != ab[1] else Range(0, HASH_SPACE)
)
operations = st.one_of(
    st.tuples(st.just("put"), records),
    st.tuples(st.just("many"), st.lists(records, max_size=12)),
    st.tuples(st.just("page"), st.lists(records, max_size=12)),
    st.tuples(st.just("blob"), st.lists(records, max_size=12)),
    st.tuples(st.just("delete"), ranges),
    st.tuples(st.just("collect"), st.integers(0, 7)),
)


def _apply_model(model: Model, record: Record) -> None:
    held = model.get(record.key)
    if held is None or record.version > held[1]:
        model[record.key] = (record.value, record.version)


def _in_order(model: Model, within: Range = EVERYTHING) -> list[Record]:
    chosen = [k for k in model if fingerprint32(k) in within]
    chosen.sort(key=lambda k: (fingerprint32(k), k))
    return [Record(k, *model[k]) for k in chosen]


def _packed(batch: list[Record]) -> Packed:
    """``batch`` (last write of each key) as a checked, ordered packed page."""
    newest: dict[str, Record] = {}
    for record in batch:
        newest[record.key] = record
    ordered = sorted(newest.values(), key=lambda r: (fingerprint32(r.key), r.key))
    page = Packed.of(
        [r.key for r in ordered],
        [r.value for r in ordered],
        [r.version.wall for r in ordered],
        [r.version.logical for r in ordered],
        [r.version.node for r in ordered],
    )
    page.ordered = True
    return page


async def _operate(store: MemoryStore, model: Model, operation: tuple[str, object]) -> None:
    kind, argument = operation
    if kind == "put":
        assert isinstance(argument, Record)
        held = model.get(argument.key)
        applied = await store.put(argument)
        assert applied == (held is None or argument.version > held[1])
        _apply_model(model, argument)
    elif kind == "many":
        assert isinstance(argument, list)
        await store.put_many_if_newer(Columns.of(argument))
        for record in argument:
            _apply_model(model, record)
    elif kind == "page":
        assert isinstance(argument, list)
        page = _packed(argument)
        await store.put_many_if_newer(page, page.hashes)
        for record in page.records():
            _apply_model(model, record)
    elif kind == "blob":  # a checked /3 page: new keys in one gap stay a blob
        assert isinstance(argument, list)
        packed = _packed(argument)
        blob_page = decode_blob_page(encode_blob_page(packed)[0])
        blob_page.ordered = True
        await store.put_blob_page(blob_page)
        for record in packed.records():
            _apply_model(model, record)
    elif kind == "delete":
        assert isinstance(argument, Range)
        gone = [k for k in model if fingerprint32(k) in argument]
        assert await store.delete_range(argument) == len(gone)
        for key in gone:
            del model[key]
    else:
        assert isinstance(argument, int)
        old = [k for k, (v, version) in model.items() if v is None and version.wall < argument]
        assert await store.collect_tombstones(argument) == len(old)
        for key in old:
            del model[key]


async def _check(store: MemoryStore, model: Model, limit: int, within: Range) -> None:
    assert len(store) == len(model)
    for block in store._blocks:  # every column of a block holds one entry per record
        blob = block.blob
        sizes = {len(block.hashes), len(block.walls), len(block.logicals), len(block.nodes)}
        if blob is None:
            sizes |= {len(block.keys), len(block.values)}
        else:
            sizes |= {len(blob.key_ends), len(blob.value_ends), len(blob.markers) or len(block)}
        assert sizes == {len(block)}
    for key in [f"k{i}" for i in range(40)]:
        held = model.get(key)
        assert await store.get(key) == (None if held is None else Record(key, *held))
    expected = _in_order(model, within)
    for shape in ("scan", "packed", "columns", "blob"):
        seen: list[Record] = []
        cursor: Cursor | None = None
        for _ in range(len(expected) + 2):  # bounded: one page per record at worst
            if shape == "scan":
                page = await store.scan(within, cursor, limit)
                got, cursor = page.records, page.cursor
            elif shape == "packed":
                packed = await store.scan_packed(within, cursor, limit)
                assert packed.hashes == array("I", map(fingerprint32, packed.keys))
                got, cursor = packed.records(), packed.cursor
            elif shape == "columns":
                columns = await store.scan_columns(within, cursor, limit, max_bytes=10)
                got, cursor = columns.records(), columns.cursor
            else:  # blocks' blobs (or joined lists) through the wire, cut by bytes
                served = await store.scan_blob_page(within, cursor, limit, max_bytes=60)
                assert served.hashes == fingerprint32_blob(served.blob.keys, served.blob.key_ends)
                assert len(served) <= limit
                received = decode_blob_page(encode_blob_page(served, 240)[0])
                got, cursor = received.packed().records(), received.cursor
            assert len(got) <= limit
            seen += got
            if cursor is None:
                break
        assert seen == expected
    total = sum(record_digests(Columns.of(expected))) % DIGEST_MOD
    assert await store.digest(within) == Digest(len(expected), total)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(2, 5),
    st.lists(operations, max_size=25),
    st.integers(1, 7),
    ranges,
)
def test_blocks_read_like_a_dict(
    segment: int, script: list[tuple[str, object]], limit: int, within: Range
) -> None:
    async def main() -> None:
        store, model = MemoryStore(segment=segment), Model()
        for operation in script:
            await _operate(store, model, operation)
            await _check(store, model, limit, EVERYTHING)
        await _check(store, model, limit, within)
        assert all(len(block) <= segment for block in store._blocks)
        assert all(store._blocks)  # no empty block left behind

    asyncio.run(main())


async def test_a_new_key_moves_one_block_not_the_store() -> None:
    """A put into a large store touches one block: the others stay the same objects."""
    store = MemoryStore(segment=64)
    keys = [f"key-{i}" for i in range(2000)]
    await store.put_many_if_newer(
        Columns(keys, [b"v"] * len(keys), [1] * len(keys), [0] * len(keys), ["a"] * len(keys))
    )
    before = list(store._blocks)
    assert len(before) >= 2000 // 64
    assert await store.put(Record("a-new-key", b"v", Version(2, 0, "a")))
    after = store._blocks
    changed = [b for b in after if not any(b is old for old in before)]
    assert len(changed) <= 1  # the block it went into (split in two: one new object)
    assert len(after) - len(before) <= 1


async def test_a_handoff_page_of_new_keys_becomes_a_block() -> None:
    store = MemoryStore(segment=16)
    await store.put(Record("k0", b"v", Version(1, 0, "a")))
    page = _packed([Record(f"p{i}", b"x", Version(1, 0, "b")) for i in range(12)])
    assert await store.put_many_if_newer(page, page.hashes) == 12
    assert len(store) == 13
    assert all(block is not None and len(block) <= 16 for block in store._blocks)
    page.keys[0] = "changed after"  # the store copied the page: no shared lists
    assert await store.get("changed after") is None
    assert len((await store.scan(EVERYTHING, limit=100)).records) == 13


async def test_a_blob_page_of_new_keys_stays_a_blob_until_written() -> None:
    """A /3 page into a gap becomes blocks holding its blob; gets, scans and digests
    keep the blob; a write into one block turns that block (only) into lists."""
    store = MemoryStore(segment=8)
    records = [Record(f"p{i}", b"x%d" % i, Version(2, 0, "b")) for i in range(20)]
    packed = _packed(records)
    page = decode_blob_page(encode_blob_page(packed)[0])
    page.ordered = True
    assert await store.put_blob_page(page) == 20
    blocks = list(store._blocks)
    assert [len(block) for block in blocks] == [8, 8, 4]
    assert all(block.blob is not None for block in blocks)
    for record in records:
        assert await store.get(record.key) == record
    model = {r.key: (r.value, r.version) for r in records}
    await _check(store, model, 7, EVERYTHING)
    assert all(block.blob is not None for block in blocks)  # reads unpacked nothing
    page.hashes[0] = 0  # the store copied the page's arrays
    assert store._blocks[0].hashes[0] != 0
    target = packed.keys[10]
    assert await store.put(Record(target, b"new", Version(3, 0, "c")))
    assert await store.get(target) == Record(target, b"new", Version(3, 0, "c"))
    assert [block.blob is None for block in blocks] == [False, True, False]
    model[target] = (b"new", Version(3, 0, "c"))
    # a run of new keys inside the first blob block cuts it: its head keeps the blob
    low, high = blocks[0].hashes[2], blocks[0].hashes[3]
    inside = [k for k in (f"q{i}" for i in range(5000)) if low < fingerprint32(k) < high][:3]
    assert len(inside) == 3
    await store.put_many_if_newer(Columns(inside, [b"i"] * 3, [4] * 3, [0] * 3, ["d"] * 3))
    model.update({k: (b"i", Version(4, 0, "d")) for k in inside})
    assert blocks[0].blob is not None
    assert len(blocks[0]) == 3
    await _check(store, model, 5, EVERYTHING)


def test_a_block_size_below_two_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        MemoryStore(segment=1)
