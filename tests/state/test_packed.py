"""The packed page format ``ringpop-state-page/2``: codec, size cut, checks, apply, wire."""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringpop.hashing import fingerprint32
from ringpop.ring.ownership import Range
from ringpop.state.handoff import RangeHandoff
from ringpop.state.hlc import Version
from ringpop.state.memory import MemoryStore
from ringpop.state.packed import PACKED_FORMAT, Packed, decode_packed, encode_packed
from ringpop.state.sqlite import SQLiteStore
from ringpop.state.store import PAGE_FORMAT, Columns, Cursor, Record
from ringpop.state.transfer import RangeClient, TransferError, check_packed
from tests.state.cluster import EVERYTHING, close_all, cluster, scan_peers
from tests.state.cluster import TWO as OPTIONS
from tests.state.test_store_contract import _run

INT63 = (1 << 63) - 1


def ordered(records: list[Record]) -> list[Record]:
    """Distinct keys in ring order (the last record of each key kept)."""
    last = {r.key: r for r in records}
    return sorted(last.values(), key=lambda r: (r.hash, r.key))


records = st.lists(
    st.builds(
        Record,
        st.text(max_size=12),
        st.one_of(st.none(), st.binary(max_size=40)),
        st.builds(
            Version,
            st.integers(0, INT63),
            st.integers(0, INT63),
            st.sampled_from(["n1", "n2", "ä-writer", ""]),
        ),
    ),
    max_size=40,
).map(ordered)


@settings(max_examples=150, deadline=None)
@given(records, st.one_of(st.none(), st.builds(Cursor, st.integers(0, (1 << 32) - 1), st.text())))
def test_a_page_decodes_to_what_was_encoded(page: list[Record], cursor: Cursor | None) -> None:
    packed = Packed.of_records(page, cursor)
    data, sent = encode_packed(packed)
    assert sent is packed
    back = decode_packed(data)
    assert back == packed
    assert back.records() == page
    assert back.cursor == cursor
    assert list(back.hashes) == [r.hash for r in page]
    assert back.columns() == Columns.of(page, cursor)
    assert back.markers == any(r.value is None for r in page)  # known from the decode


@settings(max_examples=100, deadline=None)
@given(records, st.integers(1, 2000))
def test_the_size_cut_keeps_a_prefix_within_max_bytes(page: list[Record], max_bytes: int) -> None:
    packed = Packed.of_records(page)
    data, sent = encode_packed(packed, max_bytes)
    assert decode_packed(data) == sent
    assert sent.records() == page[: len(sent)]
    if len(sent) > 1:
        assert len(data) <= max_bytes
    if len(sent) < len(page):
        assert len(sent) >= 1
        last = page[len(sent) - 1]
        assert sent.cursor == Cursor(last.hash, last.key)
    else:
        assert sent.cursor is None


def _wire(**fields: object) -> bytes:
    """A /2 page of keys "a", "b" with ``fields`` replaced (raw msgpack)."""
    keys = sorted(["a", "b"], key=lambda k: (fingerprint32(k), k))
    body: dict[str, object] = {
        "keys": keys,
        "values": [b"1", None],
        "walls": struct.pack("<2Q", 5, 6),
        "logicals": struct.pack("<2Q", 0, 1),
        "writers": ["x"],
        "writer_of": bytes(4),
        "hashes": struct.pack("<2I", *map(fingerprint32, keys)),
        "cursor": None,
    }
    body.update(fields)
    return msgspec.msgpack.encode([PACKED_FORMAT, *body.values()])


def test_a_malformed_page_does_not_decode() -> None:
    assert len(decode_packed(_wire())) == 2
    bad = {
        "differ in length": _wire(values=[b"1"]),
        "differ in length ": _wire(walls=struct.pack("<3Q", 5, 6, 7)),
        "differ in length  ": _wire(hashes=b"\x00" * 7),
        "2\\*\\*63": _wire(walls=struct.pack("<2Q", 5, 1 << 63)),
        "2\\*\\*63 ": _wire(logicals=struct.pack("<2Q", 0, (1 << 64) - 1)),
        "writer index": _wire(writer_of=struct.pack("<2H", 0, 1)),
        "writer index ": _wire(writers=["x", "y"], writer_of=struct.pack("<2H", 0, 2)),
        "without writers": _wire(writers=[]),
        "Expected `str`": _wire(keys=[1, 2]),
        "at least length 8": msgspec.msgpack.encode(Columns(["a"], [b"1"], [1], [0], ["x"])),
        "Invalid value 'ringpop-state-page/3'": b"\x99\xb4ringpop-state-page/3" + _wire()[22:],
        "truncated": _wire()[:-3],
    }
    for match, data in bad.items():
        with pytest.raises(ValueError, match=match.strip()):
            decode_packed(data)


def test_check_packed_refuses_wrong_hashes_disorder_a_wrong_cursor_and_excess() -> None:
    keys = sorted((f"k{i}" for i in range(5)), key=lambda k: (fingerprint32(k), k))
    page = Packed.of(keys, [b"v"] * 5, [1] * 5, [0] * 5, ["x"] * 5)
    check_packed(page, EVERYTHING, None, 5)
    assert page.ordered
    last = Cursor(fingerprint32(keys[-1]), keys[-1])
    swapped = [keys[1], keys[0], *keys[2:]]
    lying = Packed.of(keys, [b"v"] * 5, [1] * 5, [0] * 5, ["x"] * 5, hashes=[0, 0, 0, 0, 0])
    bad = {
        "is not its key's": (lying, None, 5),
        "out of order": (Packed.of(swapped, [b"v"] * 5, [1] * 5, [0] * 5, ["x"] * 5), None, 5),
        "out of order ": (page, Cursor(fingerprint32(keys[2]), keys[2]), 5),
        "limit of 4": (page, None, 4),
        "cursor is not": (page.prefix(5), None, 5),
        "outside": (page, None, 5),
        "empty page with a cursor": (Packed.of([], [], [], [], [], last), None, 5),
    }
    page_with_wrong_cursor = Packed.of(
        keys, [b"v"] * 5, [1] * 5, [0] * 5, ["x"] * 5, Cursor(0, "a")
    )
    bad["cursor is not"] = (page_with_wrong_cursor, None, 5)
    for match, (packed, cursor, limit) in bad.items():
        r = Range(0, fingerprint32(keys[-1])) if match == "outside" else EVERYTHING
        packed.ordered = False
        with pytest.raises(ValueError, match=match.strip()):
            check_packed(packed, r, cursor, limit)
        assert not packed.ordered


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@settings(max_examples=40, deadline=None)
@given(st.lists(records, max_size=4), st.booleans())
def test_a_packed_page_applies_like_puts(kind: str, pages: list[list[Record]], check: bool) -> None:
    """``put_many_if_newer`` of packed pages (checked or not) ends like puts one by one."""

    async def apply(directory: Path, packed: bool) -> tuple[list[Record], int]:
        store = MemoryStore() if kind == "memory" else SQLiteStore(directory / "s.db")
        try:
            for page in pages:
                if packed:
                    p = Packed.of_records(page)
                    if check:  # through the wire: the decode knows whether markers are there
                        p = decode_packed(encode_packed(p)[0])
                        check_packed(p, EVERYTHING, None, 100)
                    await store.put_many_if_newer(p, p.hashes)
                else:
                    for record in page:
                        await store.put(record)
            held = (await store.scan(EVERYTHING, limit=1000)).records
            collected = await store.collect_tombstones(INT63)  # every marker is tracked
            return held, collected
        finally:
            await store.close()

    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
        assert _run(apply(Path(one), True)) == _run(apply(Path(two), False))


async def test_memory_scan_packed_is_the_scan() -> None:
    store = MemoryStore()
    for i in range(30):
        await store.put(
            Record(f"key-{i}", b"x" * 50 if i % 3 else None, Version(i, 1, f"w{i % 2}"))
        )
    whole = (await store.scan(EVERYTHING, limit=100)).records
    seen: list[Record] = []
    cursor: Cursor | None = None
    for _ in range(30):
        page = await store.scan_packed(EVERYTHING, cursor, 7)
        _, page = encode_packed(page, 300)  # cut by size too
        assert 1 <= len(page) <= 7
        seen.extend(page.records())
        cursor = page.cursor
        if cursor is None:
            break
    assert seen == whole


class ColumnsOnly(MemoryStore):
    """A store without ``scan_packed`` (as SQLiteStore, or an application's store)."""

    scan_packed = None  # type: ignore[assignment]


@pytest.mark.parametrize("native", [True, False])
async def test_a_replica_pulls_packed_pages_cut_by_bytes(native: bool) -> None:
    """Over TCP: /2 pages (a store's own, or its columns packed), cut, resumable."""
    nodes = await cluster(2, OPTIONS)
    for node in nodes:
        node.member.rp.ownership_n = 2
    handoffs = [RangeHandoff(node.kv, delay=0.1) for node in nodes]
    await nodes[0].kv.put_many({f"k{i}": b"x" * 100 for i in range(9)})
    if not native:  # the same records in a store without scan_packed
        source = ColumnsOnly()
        await source.put_many((await nodes[0].store.scan(EVERYTHING, limit=100)).records)
        handoffs[0].server.store = source
    try:
        client = RangeClient(nodes[1].member.rp, "ringpop-state", timeout=2.0)
        keys: list[str] = []
        cursor: Cursor | None = None
        for _ in range(20):
            page, size = await client.scan_packed(nodes[0].address, EVERYTHING, cursor, 100, 400)
            assert 1 <= len(page) <= 3
            assert size <= 400
            keys.extend(page.keys)
            cursor = page.cursor
            if cursor is None:
                break
        assert sorted(keys) == [f"k{i}" for i in range(9)]
        assert client.unpacked == set()
    finally:
        for h in handoffs:
            await h.close()
        await close_all(nodes)


async def test_an_older_peer_is_asked_for_format_1_and_a_bad_page_is_refused() -> None:
    """A peer refusing /2 as an unknown format gets /1 requests; a malformed /2 page
    raises TransferError naming the format."""
    nodes = await cluster(1, OPTIONS)
    record = Record("k", b"v", Version(1, 0, "x"))
    lies = [_wire()[:-3], _wire(hashes=bytes(8))]
    try:
        async with scan_peers(PAGE_FORMAT, msgspec.msgpack.encode(Columns.of([record])), lies) as (
            old,
            bogus,
            asked,
        ):
            client = RangeClient(nodes[0].member.rp, "ringpop-state", timeout=2.0)
            for _ in range(2):
                page, _ = await client.scan_packed(old.host_port, EVERYTHING, None, 10)
                assert page.records() == [record]
                assert page.ordered
            assert asked == [PACKED_FORMAT, PAGE_FORMAT, PAGE_FORMAT]
            assert client.unpacked == {old.host_port}
            with pytest.raises(TransferError, match="is not its key's"):
                await client.scan_packed(bogus.host_port, EVERYTHING, None, 10)
            with pytest.raises(
                TransferError, match=r"malformed page .*\(expected ringpop-state-page/2\)"
            ):
                await client.scan_packed(bogus.host_port, EVERYTHING, None, 10)
            assert client.unpacked == {old.host_port}
    finally:
        await close_all(nodes)


def test_a_page_of_uneven_records_is_cut_by_bisection() -> None:
    """Large records first: cuts in proportion overshoot, bisection finds the longest fit."""
    big = [Record(f"big-{i}", b"x" * 1000, Version(1, 0, "w")) for i in range(3)]
    small = [Record(f"small-{i}", b"y", Version(1, 0, "w")) for i in range(50)]
    page = Packed.of_records(big + small)  # not in ring order: the cut does not care
    data, sent = encode_packed(page, 2500)
    assert len(sent) == 2
    assert len(data) <= 2500
    assert sent.records() == big[:2]
    assert len(encode_packed(page.prefix(3))[0]) > 2500


async def test_sqlite_scan_packed_is_the_scan(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    try:
        for i in range(30):
            value = b"x" * 50 if i % 3 else None
            await store.put(Record(f"key-{i}", value, Version(i, 1, f"w{i % 2}")))
        whole = (await store.scan(EVERYTHING, limit=100)).records
        for max_bytes in (0, 300, 120):
            seen: list[Record] = []
            cursor: Cursor | None = None
            for _ in range(40):
                page = await store.scan_packed(EVERYTHING, cursor, 7, max_bytes)
                assert list(page.hashes) == [fingerprint32(k) for k in page.keys]
                assert 1 <= len(page) <= 7 or page.cursor is None  # an empty last page
                _, page = encode_packed(page, max_bytes)
                seen.extend(page.records())
                cursor = page.cursor
                if cursor is None:
                    break
            assert seen == whole
        empty = await store.scan_packed(Range(0, 1), None, 7)
        assert len(empty) == 0
        assert empty.cursor is None
    finally:
        await store.close()
