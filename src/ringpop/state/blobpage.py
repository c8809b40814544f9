"""The blob page format ``ringpop-state-page/3``: keys and values as one blob each.

What a handoff pulls into a store that keeps pages as they came
(:class:`~ringpop.state.memory.MemoryStore`). One ``/state/scan`` page is a
**msgpack** array ::

    ["ringpop-state-page/3", keys, key_ends, values, value_ends, markers,
     walls, logicals, writers, writer_of, hashes, cursor]

* ``keys``: bin, the UTF-8 keys one after another; ``key_ends``: bin, one unsigned
  32-bit little-endian end offset per record (the first key starts at 0);
* ``values``, ``value_ends``: the values likewise;
* ``markers``: bin, empty when no record is a delete marker, else one byte per
  record, 1 for a delete marker (whose value is then empty);
* ``walls``, ``logicals``, ``writers``, ``writer_of``, ``hashes``, ``cursor``: as
  in ``ringpop-state-page/2`` (:mod:`~ringpop.state.packed`).

Decoding builds no object per record: a page is a few ``bytes`` and
:class:`array.array` s. It checks the structure (lengths, offsets that never
decrease and end at their blob's end, UTF-8 keys, marker bytes, version bounds,
writer indexes): a page that fails any of it raises ``ValueError`` and nothing is
built. :func:`~ringpop.state.transfer.check_blob_page` then checks it against the
scan asked for (the keys' hashes in one native call where ``ringpop._native`` is
built).
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from itertools import compress

import msgspec

from ringpop.state.blob import Blob, ends_ok, starts_of
from ringpop.state.columns import greatest
from ringpop.state.hlc import Version
from ringpop.state.packed import (
    Packed,
    array_of,
    bytes_of,
    check_versions,
    nodes_of,
    writer_indexes,
    writers_of,
)
from ringpop.state.store import Cursor

__all__ = ["BLOB_FORMAT", "BlobPage", "decode_blob_page", "encode_blob_page"]

BLOB_FORMAT = "ringpop-state-page/3"

_FIXED = 30  # bytes a record besides its key and value: 2 ends, 2 versions, writer, hash
_SLACK = 128  # about the encoded page's bytes besides its records and writer ids
_RECUTS = 4  # cuts by the estimate before dropping one record at a time


class _Wire(msgspec.Struct, frozen=True, array_like=True, tag=BLOB_FORMAT):
    keys: bytes
    key_ends: bytes
    values: msgspec.Raw  # a view of the message: the values are not copied out
    value_ends: bytes
    markers: bytes
    walls: bytes
    logicals: bytes
    writers: list[str]
    writer_of: bytes
    hashes: bytes
    cursor: Cursor | None = None


_decoder = msgspec.msgpack.Decoder(_Wire)
_encoder = msgspec.msgpack.Encoder()


class BlobPage:
    """A page of records: ``hashes`` (``array('I')``), a :class:`~ringpop.state.blob.Blob`
    of keys and values, ``walls`` and ``logicals`` (``array('q')``), ``nodes`` (each
    record's writer id, a list) and ``writers`` (the distinct ids), ``cursor``.

    ``ordered`` is set by :func:`~ringpop.state.transfer.check_blob_page` once the
    hashes are the keys' and ``(hash, key)`` strictly increases.
    """

    __slots__ = ("blob", "cursor", "hashes", "logicals", "nodes", "ordered", "walls", "writers")

    def __init__(
        self,
        hashes: array[int],
        blob: Blob,
        walls: array[int],
        logicals: array[int],
        nodes: list[str],
        writers: list[str],
        cursor: Cursor | None = None,
    ) -> None:
        self.hashes = hashes
        self.blob = blob
        self.walls = walls
        self.logicals = logicals
        self.nodes = nodes
        self.writers = writers
        self.cursor = cursor
        self.ordered = False

    def __len__(self) -> int:
        return len(self.hashes)

    def __repr__(self) -> str:
        return f"BlobPage({len(self)} records, cursor={self.cursor!r})"

    def greatest(self) -> Version:
        """A version at least as great as every record's (component-wise maximum)."""
        return Version(greatest(self.walls), greatest(self.logicals), max(self.writers))

    def packed(self) -> Packed:
        """The page as a :class:`~ringpop.state.packed.Packed` page (keys and values as
        objects), ``ordered`` carried over."""
        page = Packed(
            self.hashes,
            self.blob.key_list(),
            self.blob.value_list(),
            self.walls,
            self.logicals,
            self.nodes,
            self.writers,
            self.cursor,
        )
        page.ordered = self.ordered
        page.markers = bool(self.blob.markers)
        return page


def encode_blob_page(page: Packed, max_bytes: int = 0) -> tuple[bytes, int]:
    """``page`` in format ``ringpop-state-page/3``, and how many of its records it holds.

    With ``max_bytes`` the page is cut to a prefix whose encoding takes at most
    ``max_bytes`` (one record at least), the cursor moved to the last record kept.
    Sizes come from the blobs' offsets (a bisection, no encoding); the encoding is
    then measured, and the rare page the estimate let overshoot (a long cursor key)
    is cut again by the overshoot.
    """
    blob = Blob.of(page.keys, page.values, page.markers)
    count = len(page)
    slack = _SLACK + sum(map(len, page.writers))
    if max_bytes > 0 and count > 1:
        count = _fitting(blob, count, max_bytes - slack)
    data = _encode(page, blob, count)
    for _ in range(_RECUTS):
        if max_bytes <= 0 or len(data) <= max_bytes or count <= 1:
            break
        slack += len(data) - max_bytes
        count = min(count - 1, _fitting(blob, count, max_bytes - slack))
        data = _encode(page, blob, count)
    while max_bytes > 0 and len(data) > max_bytes and count > 1:  # the estimate's last resort
        count -= 1
        data = _encode(page, blob, count)
    return data, count


def _fitting(blob: Blob, count: int, budget: int) -> int:
    """How many first records (of ``count``, one at least) fit ``budget`` by the estimate."""
    fits = bisect_right(range(1, count + 1), budget, key=lambda n: blob.size(n) + _FIXED * n)
    return max(1, fits)


def _encode(page: Packed, blob: Blob, count: int) -> bytes:
    """The first ``count`` records of ``page`` (``blob``: its keys and values) encoded."""
    cursor = page.cursor
    hashes, walls, logicals, nodes = page.hashes, page.walls, page.logicals, page.nodes
    if count < len(page):
        blob = blob.part(0, count).detached()
        hashes, walls, logicals = hashes[:count], walls[:count], logicals[:count]
        nodes = nodes[:count]
        cursor = Cursor(hashes[-1], page.keys[count - 1])
    writers = writers_of(nodes)
    body = [
        BLOB_FORMAT,
        blob.keys,
        bytes_of(blob.key_ends),
        blob.values,
        bytes_of(blob.value_ends),
        blob.markers,
        bytes_of(walls),
        bytes_of(logicals),
        writers,
        writer_indexes(writers, nodes),
        bytes_of(hashes),
        cursor,
    ]
    return _encoder.encode(body)


def decode_blob_page(data: bytes) -> BlobPage:
    """A ``ringpop-state-page/3`` page; ``ValueError`` (``msgspec.DecodeError`` included)
    if it is not one (module docstring: what is checked)."""
    wire = _decoder.decode(data)
    values = _bin(wire.values)
    count = len(wire.key_ends) // 4
    sizes = {
        "key_ends": (len(wire.key_ends), 4),
        "value_ends": (len(wire.value_ends), 4),
        "walls": (len(wire.walls), 8),
        "logicals": (len(wire.logicals), 8),
        "writer_of": (len(wire.writer_of), 2),
        "hashes": (len(wire.hashes), 4),
    }
    wrong = [name for name, (size, width) in sizes.items() if size != width * count]
    if len(wire.markers) not in (0, count):
        wrong.append("markers")
    if wrong:
        raise ValueError(f"a page's arrays differ in length ({count} keys; {', '.join(wrong)})")
    key_ends, value_ends = array_of("I", wire.key_ends), array_of("I", wire.value_ends)
    if not ends_ok(key_ends, len(wire.keys)) or not ends_ok(value_ends, len(values)):
        raise ValueError("a blob's end offsets decrease or do not end at its end")
    if not wire.keys.isascii():
        _check_utf8(wire.keys, key_ends)
    markers = wire.markers
    if markers:
        if markers.translate(None, b"\x00\x01"):
            raise ValueError("a marker byte other than 0 or 1")
        starts = starts_of(value_ends)
        if any(value_ends[i] != starts[i] for i in compress(range(count), markers)):
            raise ValueError("a delete marker with a value")
        if not any(markers):
            markers = b""
    check_versions(wire.walls, wire.logicals)
    writers = wire.writers
    nodes = nodes_of(writers, wire.writer_of, count)
    blob = Blob(wire.keys, key_ends, values, value_ends, markers)
    return BlobPage(
        array_of("I", wire.hashes),
        blob,
        array_of("q", wire.walls),
        array_of("q", wire.logicals),
        nodes,
        writers,
        wire.cursor,
    )


_BIN_LENGTHS = {0xC4: 1, 0xC5: 2, 0xC6: 4}  # msgpack bin 8, 16, 32: bytes of the length


def _bin(raw: msgspec.Raw) -> memoryview:
    """The bytes of a msgpack bin, a read-only view of the message (``ValueError``
    if ``raw`` is not a bin)."""
    view = memoryview(raw)
    width = _BIN_LENGTHS.get(view[0]) if view else None
    if width is None or len(view) - 1 - width != int.from_bytes(view[1 : 1 + width], "big"):
        raise ValueError("a page's values are not a msgpack bin")
    return view[1 + width :]


def _check_utf8(keys: bytes, ends: array[int]) -> None:
    """``ValueError`` unless every key of the blob is UTF-8 on its own."""
    for i, (start, end) in enumerate(zip(starts_of(ends), ends, strict=True)):
        try:
            keys[start:end].decode()
        except UnicodeDecodeError:
            raise ValueError(f"key {i} is not UTF-8") from None
