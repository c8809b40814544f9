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
from collections.abc import Sequence
from itertools import accumulate, compress

import msgspec

from ringpop.state.blob import Blob, ends_ok, markers_of, pieces, starts_of
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

__all__ = ["BLOB_FORMAT", "RECORD_BYTES", "BlobPage", "decode_blob_page", "encode_blob_page"]

BLOB_FORMAT = "ringpop-state-page/3"

RECORD_BYTES = 30
"""A record's bytes in a page besides its key and value (2 ends, 2 versions, writer, hash)."""


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

    A page a store serves may hold its keys and values as several blobs (``parts``,
    each a block's part, in order): :func:`encode_blob_page` writes them into the
    message as they are, and ``blob`` joins them only if read.

    ``ordered`` is set by :func:`~ringpop.state.transfer.check_blob_page` once the
    hashes are the keys' and ``(hash, key)`` strictly increases.
    """

    __slots__ = (
        "_blob", "cursor", "hashes", "logicals", "nodes", "ordered", "parts", "walls", "writers",
    )  # fmt: skip

    def __init__(
        self,
        hashes: array[int],
        blob: Blob | Sequence[Blob],
        walls: array[int],
        logicals: array[int],
        nodes: list[str],
        writers: list[str],
        cursor: Cursor | None = None,
    ) -> None:
        self.hashes = hashes
        self._blob = blob if isinstance(blob, Blob) else None
        self.parts: list[Blob] = [blob] if isinstance(blob, Blob) else list(blob)
        self.walls = walls
        self.logicals = logicals
        self.nodes = nodes
        self.writers = writers
        self.cursor = cursor
        self.ordered = False

    @property
    def blob(self) -> Blob:
        """The page's keys and values as one blob (its parts joined once, if several)."""
        if self._blob is None:
            self._blob = Blob.joined(self.parts) if self.parts else Blob.of([], [])
            self.parts = [self._blob]
        return self._blob

    @blob.setter
    def blob(self, blob: Blob) -> None:
        self._blob, self.parts = blob, [blob]

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


def encode_blob_page(page: Packed | BlobPage, max_bytes: int = 0) -> tuple[bytes, int]:
    """``page`` in format ``ringpop-state-page/3``, and how many of its records it holds.

    A :class:`~ringpop.state.packed.Packed` page's keys and values are joined into a
    blob first; a :class:`BlobPage`'s blobs (its ``parts``: what
    :meth:`MemoryStore.scan_blob_page <ringpop.state.memory.MemoryStore.scan_blob_page>`
    serves) are written into the message as they are, one copy. With ``max_bytes``
    the page is cut to the longest prefix (one record at least) whose size, bounded
    from above by the blobs' offsets, fits: the message takes at most ``max_bytes``
    without being encoded twice; the cursor moves to the last record kept.
    """
    if isinstance(page, BlobPage):
        parts = page.parts
    else:
        parts = [Blob.of(page.keys, page.values, page.markers)]
    count = len(page)
    if max_bytes > 0 and count > 1:
        count = _Sizes(page, parts).fitting(max_bytes)
    return _encode(page, parts, count), count


class _Sizes:
    """Upper bounds of the encoded size of a page's prefixes (from offsets, no encoding)."""

    def __init__(self, page: Packed | BlobPage, parts: list[Blob]) -> None:
        self.parts = parts
        self.firsts = list(accumulate((len(part) for part in parts), initial=0))
        self.sizes = list(accumulate((part.size(len(part)) for part in parts), initial=0))
        self.markers = any(part.markers for part in parts)
        # the format, the array's, the 9 bins' and the writers' bytes (all of them: a
        # prefix's are fewer), and the page's own cursor (kept if nothing is cut)
        self.fixed = _HEAD + len(_encoder.encode(page.writers))
        self.own_cursor = len(_encoder.encode(page.cursor))
        self.count = len(page)

    def bound(self, n: int) -> int:
        """At least the encoded size of the first ``n`` records (``n >= 1``)."""
        p = bisect_right(self.firsts, n - 1) - 1  # the part holding record n - 1
        part, k = self.parts[p], n - self.firsts[p]  # its first k records are in
        ends, start = part.key_ends, part.key_start
        size = self.sizes[p] + part.size(k)
        if n < self.count:  # the cursor: [hash, key], key n - 1
            key = ends[k - 1] - (ends[k - 2] if k > 1 else start)
            cursor = 1 + 5 + 5 + key
        else:
            cursor = self.own_cursor
        return self.fixed + size + (RECORD_BYTES + self.markers) * n + cursor

    def fitting(self, max_bytes: int) -> int:
        """The most first records (one at least) whose bound is within ``max_bytes``."""
        count = max(1, bisect_right(range(1, self.count + 1), max_bytes, key=self.bound))
        while count > 1 and self.bound(count) > max_bytes:  # the cursor's key: not monotonic
            count -= 1
        return count


_HEAD = 1 + len(_encoder.encode(BLOB_FORMAT)) + 9 * 5  # array, format, 9 bins' headers


def _bin_head(size: int) -> bytes:
    """The msgpack header of a bin of ``size`` bytes."""
    if size < 1 << 8:
        return bytes((0xC4, size))
    if size < 1 << 16:
        return b"\xc5" + size.to_bytes(2, "big")
    return b"\xc6" + size.to_bytes(4, "big")


def _encode(page: Packed | BlobPage, parts: list[Blob], count: int) -> bytes:
    """The first ``count`` records of ``page`` (``parts``: its keys and values), encoded
    in one join: what msgspec writes for the page as a list, without copying the
    blobs twice."""
    cursor = page.cursor
    hashes, walls, logicals, nodes = page.hashes, page.walls, page.logicals, page.nodes
    if count < len(page):
        hashes, walls, logicals = hashes[:count], walls[:count], logicals[:count]
        nodes = nodes[:count]
        kept: list[Blob] = []
        left = count
        for part in parts:
            if left <= 0:
                break
            kept.append(part.part(0, left))
            left -= len(kept[-1])
        parts = kept
        cursor = Cursor(hashes[-1], parts[-1].key(-1))
    writers = writers_of(nodes)
    markers = markers_of(parts)
    out: list[bytes | memoryview] = [_ARRAY, _FORMAT]
    for views, joined_ends, size in (pieces(parts), pieces(parts, values=True)):
        ends_bytes = bytes_of(joined_ends)
        out += [_bin_head(size), *views, _bin_head(len(ends_bytes)), ends_bytes]
    for column in (markers, bytes_of(walls), bytes_of(logicals)):
        out += [_bin_head(len(column)), column]
    out.append(_encoder.encode(writers))
    for column in (writer_indexes(writers, nodes), bytes_of(hashes)):
        out += [_bin_head(len(column)), column]
    out.append(_encoder.encode(cursor))
    return b"".join(out)


_ARRAY = b"\x9c"  # a fixarray of 12
_FORMAT = _encoder.encode(BLOB_FORMAT)


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
