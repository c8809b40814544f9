"""The blob page format ``ringpop-state-page/3``: codec, size cut, checks, apply, wire."""

from __future__ import annotations

import contextlib
import itertools
import struct
from array import array
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringpop.hashing import fingerprint32
from ringpop.ring.ownership import Range
from ringpop.state.arena import Arena
from ringpop.state.blob import Blob, ends_ok, shifted
from ringpop.state.blobpage import BLOB_FORMAT, BlobPage, decode_blob_page, encode_blob_page
from ringpop.state.handoff import RangeHandoff
from ringpop.state.hlc import HybridClock, Version
from ringpop.state.memory import MemoryStore
from ringpop.state.packed import (
    PACKED_FORMAT,
    Packed,
    bytes_of,
    encode_packed,
    writer_indexes,
    writers_of,
)
from ringpop.state.sqlite import SQLiteStore
from ringpop.state.store import Cursor, Record
from ringpop.state.transfer import RangeClient, TransferError, apply_blob_page, check_blob_page
from tests.speedups import BOTH, native_or_python
from tests.state.cluster import EVERYTHING, close_all, cluster, scan_peers
from tests.state.cluster import TWO as OPTIONS
from tests.state.test_packed import records

cursors = st.one_of(st.none(), st.builds(Cursor, st.integers(0, (1 << 32) - 1), st.text()))


def _page(records: list[Record], cursor: Cursor | None = None) -> BlobPage:
    """``records`` through the wire as a /3 page."""
    data, count = encode_blob_page(Packed.of_records(records, cursor))
    assert count == len(records)
    return decode_blob_page(data)


@BOTH
@settings(max_examples=100, deadline=None)
@given(page=records, cursor=cursors)
def test_a_page_decodes_to_what_was_encoded(
    native: bool, page: list[Record], cursor: Cursor | None
) -> None:
    with native_or_python(native):
        back = _page(page, cursor)
        assert back.packed().records() == page
        assert back.cursor == cursor
        assert list(back.hashes) == [r.hash for r in page]
        assert [back.blob.key(i) for i in range(len(page))] == [r.key for r in page]
        assert [back.blob.value(i) for i in range(len(page))] == [r.value for r in page]
        assert bool(back.blob.markers) == any(r.value is None for r in page)
        if page:
            assert back.greatest() >= max(r.version for r in page)


@BOTH
@settings(max_examples=100, deadline=None)
@given(page=records, max_bytes=st.integers(1, 2000))
def test_the_size_cut_keeps_a_prefix_within_max_bytes(
    native: bool, page: list[Record], max_bytes: int
) -> None:
    with native_or_python(native):
        data, count = encode_blob_page(Packed.of_records(page), max_bytes)
        back = decode_blob_page(data)
    assert len(back) == count
    assert back.packed().records() == page[:count]
    if count > 1:
        assert len(data) <= max_bytes
    if count < len(page):
        assert count >= 1
        last = page[count - 1]
        assert back.cursor == Cursor(last.hash, last.key)
    else:
        assert back.cursor is None


def _reference(page: Packed, count: int) -> bytes:
    """msgspec's encoding of ``page``'s first ``count`` records as the format's list."""
    keys, values, nodes = page.keys[:count], page.values[:count], page.nodes[:count]
    cursor = page.cursor if count == len(page) else Cursor(page.hashes[count - 1], keys[-1])
    blob = Blob.of(keys, values)
    writers = writers_of(nodes)
    body: list[object] = [BLOB_FORMAT, blob.keys, bytes_of(blob.key_ends), blob.values]
    body += [bytes_of(blob.value_ends), blob.markers, bytes_of(page.walls[:count])]
    body += [bytes_of(page.logicals[:count]), writers, writer_indexes(writers, nodes)]
    return msgspec.msgpack.encode([*body, bytes_of(page.hashes[:count]), cursor])


@BOTH
@settings(max_examples=150, deadline=None)
@given(
    page=records,
    cursor=cursors,
    cuts=st.lists(st.integers(0, 12), max_size=4),
    max_bytes=st.integers(0, 1500),
)
def test_the_encoding_is_msgspecs_whatever_the_parts(
    native: bool, page: list[Record], cursor: Cursor | None, cuts: list[int], max_bytes: int
) -> None:
    """A page served as several blobs (a store's blocks; empty ones too) is written as
    one message, byte for byte what msgspec writes for its list, within ``max_bytes``."""
    packed = Packed.of_records(page, cursor)
    with native_or_python(native):
        blob = Blob.of(packed.keys, packed.values)
        bounds = sorted([0, len(page), *(min(c, len(page)) for c in cuts)])
        parts = [blob.part(i, j) for i, j in itertools.pairwise(bounds)]
        served = BlobPage(
            packed.hashes,
            parts,
            packed.walls,
            packed.logicals,
            packed.nodes,
            packed.writers,
            cursor,
        )
        data, count = encode_blob_page(served, max_bytes)
        assert (data, count) == encode_blob_page(packed, max_bytes)
        assert data == _reference(packed, count)
    assert count == len(page) or 1 <= count < len(page)
    if max_bytes and count > 1:
        assert len(data) <= max_bytes
    if count < len(page):  # the bound's slack (headers, writers, cursor) wastes little
        assert len(_reference(packed, count + 1)) > max_bytes - 160


def test_a_cut_page_holds_about_as_many_records_as_fit() -> None:
    """The estimate does not waste the budget: 100 B values, a 10 kB budget."""
    page = [Record(f"key-{i:04d}", b"v" * 100, Version(1, 0, "w")) for i in range(500)]
    data, count = encode_blob_page(Packed.of_records(page), 10_000)
    assert len(data) <= 10_000
    assert count >= 10_000 // (8 + 100 + 30) - 3


def _wire(**fields: object) -> bytes:
    """A /3 page of keys "a", "b" with ``fields`` replaced (raw msgpack)."""
    keys = sorted(["a", "b"], key=lambda k: (fingerprint32(k), k))
    body: dict[str, object] = {
        "keys": "".join(keys).encode(),
        "key_ends": struct.pack("<2I", 1, 2),
        "values": b"1",
        "value_ends": struct.pack("<2I", 1, 1),
        "markers": b"\x00\x01",
        "walls": struct.pack("<2Q", 5, 6),
        "logicals": struct.pack("<2Q", 0, 1),
        "writers": ["x"],
        "writer_of": bytes(4),
        "hashes": struct.pack("<2I", *map(fingerprint32, keys)),
        "cursor": None,
    }
    body.update(fields)
    return msgspec.msgpack.encode([BLOB_FORMAT, *body.values()])


@BOTH
def test_a_malformed_page_does_not_decode(native: bool) -> None:
    bad = {
        "differ in length .3 keys": _wire(key_ends=struct.pack("<3I", 1, 2, 2)),
        "differ in length .2 keys; value_ends": _wire(value_ends=struct.pack("<I", 1)),
        "differ in length .2 keys; walls": _wire(walls=struct.pack("<3Q", 5, 6, 7)),
        "differ in length .2 keys; hashes": _wire(hashes=b"\x00" * 7),
        "differ in length .2 keys; markers": _wire(markers=b"\x00"),
        "end offsets": _wire(key_ends=struct.pack("<2I", 2, 1)),
        "end offsets ": _wire(key_ends=struct.pack("<2I", 1, 1)),  # a byte left over
        "end offsets  ": _wire(value_ends=struct.pack("<2I", 1, 5)),
        "not UTF-8": _wire(keys=b"\xc3\xa9", key_ends=struct.pack("<2I", 1, 2)),
        "other than 0 or 1": _wire(markers=b"\x00\x02"),
        "delete marker with a value": _wire(
            values=b"12", value_ends=struct.pack("<2I", 1, 2), markers=b"\x00\x01"
        ),
        "2\\*\\*63": _wire(walls=struct.pack("<2Q", 5, 1 << 63)),
        "2\\*\\*63 ": _wire(logicals=struct.pack("<2Q", 0, (1 << 64) - 1)),
        "writer index": _wire(writer_of=struct.pack("<2H", 0, 1)),
        "writer index ": _wire(writers=["x", "y"], writer_of=struct.pack("<2H", 0, 2)),
        "without writers": _wire(writers=[]),
        "Expected `bytes`": _wire(keys=["a", "b"]),
        "values are not a msgpack bin": _wire(values="1"),
        "values are not a msgpack bin ": _wire(values=[b"1"]),
        "values are not a msgpack bin  ": _wire(values=None),
        "at least length 11": encode_packed(Packed.of(["a"], [b"1"], [1], [0], ["x"]))[0],
        "Invalid value 'ringpop-state-page/2'": _wire()[:2] + PACKED_FORMAT.encode() + _wire()[22:],
        "truncated": _wire()[:-3],
    }
    with native_or_python(native):
        assert decode_blob_page(_wire()).packed().values == [b"1", None]
        for match, data in bad.items():
            with pytest.raises(ValueError, match=match.strip()):
                decode_blob_page(data)


@BOTH
def test_check_refuses_wrong_hashes_disorder_a_wrong_cursor_and_excess(native: bool) -> None:
    keys = sorted((f"k{i}" for i in range(5)), key=lambda k: (fingerprint32(k), k))
    good = [Record(k, b"v", Version(1, 0, "x")) for k in keys]
    last = Cursor(fingerprint32(keys[-1]), keys[-1])
    lying = Packed.of(keys, [b"v"] * 5, [1] * 5, [0] * 5, ["x"] * 5, hashes=[0, 0, 0, 0, 0])
    swapped = [good[1], good[0], *good[2:]]
    bad = {
        "is not its key's": (decode_blob_page(encode_blob_page(lying)[0]), None, 5),
        "out of order": (_page(swapped), None, 5),
        "out of order ": (_page(good), Cursor(fingerprint32(keys[2]), keys[2]), 5),
        "limit of 4": (_page(good), None, 4),
        "cursor is not": (_page(good, Cursor(0, "a")), None, 5),
        "outside": (_page(good), None, 5),
        "empty page with a cursor": (_page([], last), None, 5),
    }
    with native_or_python(native):
        page = _page(good)
        check_blob_page(page, EVERYTHING, None, 5)
        assert page.ordered
        for match, (blob_page, cursor, limit) in bad.items():
            r = Range(0, fingerprint32(keys[-1])) if match == "outside" else EVERYTHING
            with pytest.raises(ValueError, match=match.strip()):
                check_blob_page(blob_page, r, cursor, limit)
            assert not blob_page.ordered


@BOTH
@pytest.mark.parametrize("kept", [False, True], ids=["bytes", "arena"])
@settings(max_examples=50, deadline=None)
@given(keys=st.lists(st.text(max_size=10), max_size=20), flags=st.lists(st.booleans()))
def test_a_blob_reads_and_cuts_like_its_lists(
    native: bool, kept: bool, keys: list[str], flags: list[bool]
) -> None:
    values = [None if i < len(flags) and flags[i] else b"v%d" % i for i in range(len(keys))]
    with native_or_python(native):
        blob = Blob.of(keys, values)
        if kept:  # as a MemoryStore keeps it: views of an arena's chunks (small ones here)
            arena = Arena(chunk=96)
            blob = Blob(
                arena.keep(blob.keys), blob.key_ends, arena.keep(blob.values), blob.value_ends,
                blob.markers,
            )  # fmt: skip
        assert blob.key_list() == keys
        assert blob.value_list() == values
        assert all(type(value) is bytes for value in blob.value_list() if value is not None)
        assert all(type(blob.value(i)) in (bytes, type(None)) for i in range(len(keys)))
        assert ends_ok(blob.key_ends, len(blob.keys))
        for i in range(len(keys) + 1):
            for j in range(i, len(keys) + 1):
                part = blob.part(i, j)
                assert part.key_list() == keys[i:j]
                assert part.value_list() == values[i:j]
                assert [part.key(k) for k in range(j - i)] == keys[i:j]
                assert [part.value(k) for k in range(j - i)] == values[i:j]
                assert bool(part.markers) == (None in values[i:j])
                own = part.detached()  # its own bytes: what the wire carries
                assert own.key_list() == keys[i:j]
                assert own.value_list() == values[i:j]
                assert ends_ok(own.key_ends, len(own.keys))
                assert ends_ok(own.value_ends, len(own.values))
                assert own.size(len(own)) == part.size(len(part))
                end = max(1, j - i - 1)
                inner = part.part(1, end)  # a part of a part shares the bytes too
                assert inner.key_list() == keys[i:j][1:end]
                assert inner.value_list() == values[i:j][1:end]
                # three parts joined back (what a source serves from several blocks)
                joined = Blob.joined([blob.part(0, i), part, blob.part(j, len(keys))])
                assert joined.key_list() == keys
                assert joined.value_list() == values
                assert ends_ok(joined.key_ends, len(joined.keys))
                assert ends_ok(joined.value_ends, len(joined.values))


@BOTH
def test_offsets_shift_into_a_joined_blob(native: bool) -> None:
    with native_or_python(native):
        assert shifted(array("I", [1, 5]), 3) == array("I", [4, 8])
        assert shifted(array("I", [1, 5]), -1) == array("I", [0, 4])
        assert shifted(array("I"), 7) == array("I")
        with pytest.raises((ValueError, OverflowError)):
            shifted(array("I", [1]), -2)


@BOTH
def test_ends_are_checked(native: bool) -> None:
    with native_or_python(native):
        assert ends_ok(array("I", [1, 1, 3]), 3)
        assert ends_ok(array("I"), 0)
        assert not ends_ok(array("I", [2, 1, 3]), 3)
        assert not ends_ok(array("I", [1, 2]), 3)
        assert not ends_ok(array("I"), 1)


async def test_a_store_without_blob_pages_gets_the_records(tmp_path: Path) -> None:
    """apply_blob_page into SQLite (no put_blob_page): the page's records, as puts."""
    page_records = [Record(f"k{i}", b"v" if i % 3 else None, Version(i, 0, "w")) for i in range(9)]
    page_records.sort(key=lambda r: (r.hash, r.key))
    store = SQLiteStore(tmp_path / "s.db")
    memory = MemoryStore()
    try:
        for target in (store, memory):
            page = _page(page_records)
            check_blob_page(page, EVERYTHING, None, 100)
            clock = HybridClock("puller", lambda: 10)
            assert await apply_blob_page(target, clock, page) == 9
            assert clock.last.wall >= 8  # the page's greatest version observed
            assert (await target.scan(EVERYTHING, limit=100)).records == page_records
            assert await target.collect_tombstones(10**6) == 3  # every marker tracked
    finally:
        await store.close()


async def test_a_replica_pulls_blob_pages_cut_by_bytes(tmp_path: Path) -> None:
    """Over TCP: /3 pages from a memory store, from SQLite and from a memory store that
    keeps the pages it pulled as blobs (served as kept), cut by bytes, resumable."""
    nodes = await cluster(2, OPTIONS)
    for node in nodes:
        node.member.rp.ownership_n = 2
    handoffs = [RangeHandoff(node.kv, delay=0.1) for node in nodes]
    written = {f"k{i}": b"x%d" % i * 30 for i in range(9)}
    await nodes[0].kv.put_many(written)
    sqlite = SQLiteStore(tmp_path / "source.db")
    handed = MemoryStore()
    try:
        client = RangeClient(nodes[1].member.rp, "ringpop-state", timeout=2.0)
        for source in (nodes[0].store, sqlite, handed):
            if source is sqlite:
                await sqlite.put_many((await nodes[0].store.scan(EVERYTHING, limit=100)).records)
            if source is not nodes[0].store:
                handoffs[0].server.store = source
            if source is handed:
                assert all(block.blob is not None for block in handed._blocks)
            got: dict[str, bytes | None] = {}
            cursor: Cursor | None = None
            for _ in range(20):
                page, size = await client.scan_blob(nodes[0].address, EVERYTHING, cursor, 100, 400)
                assert isinstance(page, BlobPage)
                assert 1 <= len(page) <= 3
                assert size <= 400
                got.update(zip(page.blob.key_list(), page.blob.value_list(), strict=True))
                if source is sqlite:
                    await handed.put_blob_page(page)  # checked: new keys become blob blocks
                cursor = page.cursor
                if cursor is None:
                    break
            assert got == written
        assert client.unblobbed == set()
    finally:
        for h in handoffs:
            await h.close()
        await close_all(nodes)
        await sqlite.close()


async def test_an_older_peer_is_asked_for_format_2_and_a_bad_page_is_refused() -> None:
    """A peer refusing /3 as an unknown format gets /2 requests; a malformed /3 page
    raises TransferError naming the format."""
    nodes = await cluster(1, OPTIONS)
    record = Record("k", b"v", Version(1, 0, "x"))
    lies = [_wire()[:-3], _wire(hashes=bytes(8))]
    try:
        async with scan_peers(
            PACKED_FORMAT, encode_packed(Packed.of_records([record]))[0], lies
        ) as (old, bogus, asked):
            client = RangeClient(nodes[0].member.rp, "ringpop-state", timeout=2.0)
            for _ in range(2):
                page, _ = await client.scan_blob(old.host_port, EVERYTHING, None, 10)
                assert isinstance(page, Packed)
                assert page.records() == [record]
            assert asked == [BLOB_FORMAT, PACKED_FORMAT, PACKED_FORMAT]
            assert client.unblobbed == {old.host_port}
            with pytest.raises(TransferError, match="is not its key's"):
                await client.scan_blob(bogus.host_port, EVERYTHING, None, 10)
            with pytest.raises(
                TransferError, match=r"malformed page .*\(expected ringpop-state-page/3\)"
            ):
                await client.scan_blob(bogus.host_port, EVERYTHING, None, 10)
    finally:
        await close_all(nodes)


@BOTH
@settings(max_examples=300, deadline=None)
@given(flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), max_size=6))
def test_a_corrupted_page_is_refused_or_checked_never_a_crash(
    native: bool, flips: list[tuple[int, int]]
) -> None:
    """Bytes flipped anywhere in a valid page: a ValueError from the decode or the
    check, or a page that passes both and reads back whole; nothing else."""
    records = [
        Record(f"key-{i}", b"v" * (i % 7) if i % 5 else None, Version(i, 0, "w")) for i in range(12)
    ]
    records += [Record(f"k\u00e9y-{i}", b"x" * i, Version(i, 1, "z")) for i in range(1, 9)]
    records.sort(key=lambda r: (r.hash, r.key))
    data = bytearray(encode_blob_page(Packed.of_records(records))[0])
    for at, mask in flips:
        data[at % len(data)] ^= mask
    with native_or_python(native):
        try:
            page = decode_blob_page(bytes(data))
            check_blob_page(page, EVERYTHING, None, 100)
        except ValueError:
            return
        back = page.packed().records()
    assert len(back) == len(page)


@given(st.binary(max_size=300))
def test_random_bytes_are_refused_not_a_crash(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        decode_blob_page(data)
