"""The packed page format ``ringpop-state-page/2``: a page of records as typed arrays.

What handoff pulls: one ``/state/scan`` page is a **msgpack** array ::

    ["ringpop-state-page/2", keys, values, walls, logicals, writers, writer_of, hashes, cursor]

* ``keys``: array of str; ``values``: array of bin (nil: a delete marker);
* ``walls``, ``logicals``: bin, one unsigned 64-bit little-endian integer per record,
  each below ``2**63`` (the versions SQLite can hold);
* ``writers``: array of the distinct writer ids of the page; ``writer_of``: bin, one
  unsigned 16-bit little-endian index into ``writers`` per record;
* ``hashes``: bin, one unsigned 32-bit little-endian ``fingerprint32(key)`` per record;
* ``cursor``: ``[hash, key]`` of the last record, or nil at the end of the range.

Only keys and values become Python objects (msgspec decodes both in C); everything
else is copied into :class:`array.array` s with one ``frombytes`` each. Decoding
checks the structure (lengths, bounds, writer indexes): a page that fails any of it
raises ``ValueError`` and nothing is built. :func:`~ringpop.state.transfer.check_packed`
then checks it against the scan asked for.
"""

from __future__ import annotations

import sys
import threading
from array import array
from collections.abc import Sequence

import msgspec

from ringpop.hashing import fingerprint32_many
from ringpop.state.hlc import Version
from ringpop.state.store import Columns, Cursor, Record

__all__ = [
    "PACKED_FORMAT",
    "Packed",
    "array_of",
    "bytes_of",
    "check_versions",
    "decode_packed",
    "encode_packed",
    "nodes_of",
    "typed_array",
    "writer_indexes",
    "writers_of",
]

PACKED_FORMAT = "ringpop-state-page/2"

_SWAP = sys.byteorder != "little"  # arrays are native; the wire is little-endian


class _Wire(msgspec.Struct, frozen=True, array_like=True, tag=PACKED_FORMAT):
    keys: list[str]
    values: list[bytes | None]
    walls: bytes
    logicals: bytes
    writers: list[str]
    writer_of: bytes
    hashes: bytes
    cursor: Cursor | None = None


class _LiveWire(msgspec.Struct, frozen=True, array_like=True, tag=PACKED_FORMAT):
    """:class:`_Wire` without delete markers: decoding it tells that none is there."""

    keys: list[str]
    values: list[bytes]
    walls: bytes
    logicals: bytes
    writers: list[str]
    writer_of: bytes
    hashes: bytes
    cursor: Cursor | None = None


_decoder = msgspec.msgpack.Decoder(_Wire)
_live_decoder = msgspec.msgpack.Decoder(_LiveWire)
_SHRINKS = 4  # proportional cuts of a page too long before bisecting
_SLACK = 96  # about the encoded page's bytes besides its records and writer ids
_encoder = msgspec.msgpack.Encoder()


def array_of(typecode: str, data: bytes) -> array[int]:
    """A column from its little-endian wire bytes."""
    column = array(typecode)
    column.frombytes(data)
    if _SWAP:
        column.byteswap()
    return column


def bytes_of(column: array[int]) -> bytes:
    """A column's little-endian wire bytes."""
    if _SWAP:
        column = array(column.typecode, column)
        column.byteswap()
    return column.tobytes()


class Packed:
    """A page of records as columns: ``hashes`` (``array('I')``), ``walls`` and
    ``logicals`` (``array('q')``), ``keys``, ``values`` and ``nodes`` (lists).

    Record ``i`` is ``(keys[i], values[i], Version(walls[i], logicals[i], nodes[i]))``
    with ring hash ``hashes[i]``; ``writers`` holds the distinct writer ids (``nodes``
    refers to them). Satisfies what a store's ``put_many_if_newer`` reads.

    ``ordered`` is set by :func:`~ringpop.state.transfer.check_packed` once it has
    verified that ``hashes`` are the keys' and ``(hash, key)`` strictly increases: a
    store may then skip its own order check. ``markers`` says whether ``values``
    holds a delete marker (``None``) when that is known (:func:`decode_packed`
    knows), ``None`` when not: a store may then skip looking for them.
    """

    _COLUMNS = ("cursor", "hashes", "keys", "logicals", "nodes", "values", "walls", "writers")
    __slots__ = (*_COLUMNS, "markers", "ordered")

    def __init__(
        self,
        hashes: array[int],
        keys: list[str],
        values: list[bytes | None],
        walls: array[int],
        logicals: array[int],
        nodes: list[str],
        writers: list[str],
        cursor: Cursor | None = None,
    ) -> None:
        self.hashes = hashes
        self.keys = keys
        self.values = values
        self.walls = walls
        self.logicals = logicals
        self.nodes = nodes
        self.writers = writers
        self.cursor = cursor
        self.ordered = False
        self.markers: bool | None = None

    def __len__(self) -> int:
        return len(self.keys)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Packed):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self._COLUMNS)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Packed({len(self)} records, cursor={self.cursor!r})"

    def prefix(self, count: int) -> Packed:
        """The first ``count`` records (all: ``self``), the cursor on the last one."""
        if count >= len(self.keys):
            return self
        last = Cursor(self.hashes[count - 1], self.keys[count - 1]) if count else self.cursor
        nodes = self.nodes[:count]
        return Packed(
            self.hashes[:count],
            self.keys[:count],
            self.values[:count],
            self.walls[:count],
            self.logicals[:count],
            nodes,
            writers_of(nodes),
            last,
        )

    def records(self) -> list[Record]:
        """The page as :class:`Record` s."""
        return [
            Record(key, value, Version(wall, logical, node))
            for key, value, wall, logical, node in zip(
                self.keys, self.values, self.walls, self.logicals, self.nodes, strict=True
            )
        ]

    def columns(self) -> Columns:
        """The page as :class:`~ringpop.state.store.Columns` (format ``/1``)."""
        return Columns.of_arrays(
            self.keys, self.values, self.walls, self.logicals, self.nodes, self.cursor
        )

    @classmethod
    def of(
        cls,
        keys: list[str],
        values: list[bytes | None],
        walls: Sequence[int],
        logicals: Sequence[int],
        nodes: list[str],
        cursor: Cursor | None = None,
        hashes: Sequence[int] | None = None,
    ) -> Packed:
        """A page from parallel columns (``hashes`` computed when not given).

        Versions outside ``0 .. 2**63 - 1`` raise ``OverflowError`` / ``ValueError``.
        """
        if hashes is None:
            hashes = fingerprint32_many(keys)
        walls, logicals = typed_array("q", walls), typed_array("q", logicals)
        hashes = typed_array("I", hashes)
        if (walls and min(walls) < 0) or (logicals and min(logicals) < 0):
            raise ValueError("a negative version")
        return cls(hashes, keys, values, walls, logicals, nodes, writers_of(nodes), cursor)

    @classmethod
    def of_columns(cls, page: Columns, hashes: Sequence[int] | None = None) -> Packed:
        """A :class:`~ringpop.state.store.Columns` page packed."""
        return cls.of(
            page.keys, page.values, page.walls, page.logicals, page.nodes, page.cursor, hashes
        )

    @classmethod
    def of_records(cls, records: Sequence[Record], cursor: Cursor | None = None) -> Packed:
        """Records packed."""
        return cls.of_columns(Columns.of(records, cursor))


def typed_array(typecode: str, column: Sequence[int]) -> array[int]:
    """``column`` as an array of ``typecode`` (itself, not a copy, if it is one)."""
    if isinstance(column, array) and column.typecode == typecode:
        return column
    return array(typecode, column)


def writers_of(nodes: list[str]) -> list[str]:
    """The distinct writer ids of ``nodes``, in first-seen order."""
    if not nodes:
        return []
    if nodes.count(nodes[0]) == len(nodes):
        return [nodes[0]]
    return list(dict.fromkeys(nodes))


def encode_packed(page: Packed, max_bytes: int = 0) -> tuple[bytes, Packed]:
    """``page`` in format ``ringpop-state-page/2`` (msgpack), and the page encoded.

    With ``max_bytes`` the page is cut to a prefix whose encoding takes at most
    ``max_bytes`` (one record at least), its cursor moved to the last record kept.
    The size is the encoding's own (msgspec, in C: no step per record): a page too
    long is cut in proportion, a few times, then by bisection (sizes far from uniform).
    Every attempt is encoded into one reused buffer (a thread's own), and only the
    page sent is copied out: a fresh megabyte per attempt costs far more than the
    encoding (its memory is new to the process, page by page).
    """
    buffer = _buffer()
    _encode(page, buffer)
    if max_bytes <= 0 or len(buffer) <= max_bytes or len(page) <= 1:
        return bytes(buffer), page
    # the page's own bytes (format, headers, writer ids, cursor) do not shrink with it
    target = max(1, max_bytes - _SLACK - len(_encoder.encode(page.writers)))
    kept = too_long = len(page)
    for _ in range(_SHRINKS):
        kept = max(1, min(kept - 1, kept * target // len(buffer)))
        cut = page.prefix(kept)
        _encode(cut, buffer)
        if len(buffer) <= max_bytes or kept == 1:
            return bytes(buffer), cut
        too_long = kept
    fits = 1  # one record is always sent
    while too_long - fits > 1:
        middle = (fits + too_long) // 2
        _encode(page.prefix(middle), buffer)
        if len(buffer) <= max_bytes:
            fits = middle
        else:
            too_long = middle
    cut = page.prefix(fits)
    _encode(cut, buffer)
    return bytes(buffer), cut


_local = threading.local()


def _buffer() -> bytearray:
    """This thread's encoding buffer (kept: its memory is already the process's)."""
    buffer: bytearray | None = getattr(_local, "buffer", None)
    if buffer is None:
        buffer = _local.buffer = bytearray()
    return buffer


def _encode(page: Packed, buffer: bytearray) -> None:
    """Encode ``page`` into ``buffer`` (replacing its content)."""
    body = [
        PACKED_FORMAT,
        page.keys,
        page.values,
        bytes_of(page.walls),
        bytes_of(page.logicals),
        page.writers,
        writer_indexes(page.writers, page.nodes),
        bytes_of(page.hashes),
        page.cursor,
    ]
    _encoder.encode_into(body, buffer)


def writer_indexes(writers: list[str], nodes: list[str]) -> bytes:
    """The wire's ``writer_of``: each record's index into ``writers``, u16 little-endian."""
    if len(writers) == 1:
        return bytes(2 * len(nodes))
    index = {writer: i for i, writer in enumerate(writers)}
    return bytes_of(array("H", map(index.__getitem__, nodes)))


def nodes_of(writers: list[str], writer_of: bytes, count: int) -> list[str]:
    """Each record's writer id from the wire's ``writers`` and ``writer_of``;
    ``ValueError`` for an index outside ``writers`` (or records without writers)."""
    if count and not writers:
        raise ValueError("records without writers")
    if len(writers) == 1:
        if writer_of.count(0) != len(writer_of):
            raise ValueError("a writer index outside the page's writers")
        return writers * count
    try:
        return list(map(writers.__getitem__, array_of("H", writer_of)))
    except IndexError:
        raise ValueError("a writer index outside the page's writers") from None


def check_versions(walls: bytes, logicals: bytes) -> None:
    """``ValueError`` unless every wire version (u64 little-endian) is below ``2**63``."""
    # little-endian: the last byte of each 64-bit value holds its sign bit
    if not (walls[7::8].isascii() and logicals[7::8].isascii()):
        raise ValueError("a version of 2**63 or more")


def decode_packed(data: bytes) -> Packed:
    """A ``ringpop-state-page/2`` page; ``ValueError`` (``msgspec.DecodeError`` included)
    if it is not one: another format, arrays of different lengths, a version of
    ``2**63`` or more, a writer index outside ``writers``."""
    wire: _Wire | _LiveWire
    try:  # no delete marker (a handoff's usual page): the values need no look
        wire, markers = _live_decoder.decode(data), False
    except msgspec.ValidationError:
        wire, markers = _decoder.decode(data), True
    count = len(wire.keys)
    sizes = (
        len(wire.values),
        len(wire.walls) // 8,
        len(wire.logicals) // 8,
        len(wire.writer_of) // 2,
        len(wire.hashes) // 4,
    )
    exact = (len(wire.walls) % 8, len(wire.logicals) % 8, len(wire.writer_of) % 2)
    if set(sizes) != {count} or any(exact) or len(wire.hashes) % 4:
        raise ValueError(f"a page's arrays differ in length ({count} keys, {sizes})")
    check_versions(wire.walls, wire.logicals)
    nodes = nodes_of(wire.writers, wire.writer_of, count)
    page = Packed(
        array_of("I", wire.hashes),
        wire.keys,
        wire.values,  # type: ignore[arg-type]  # list[bytes] is a list[bytes | None] here
        array_of("q", wire.walls),
        array_of("q", wire.logicals),
        nodes,
        wire.writers,
        wire.cursor,
    )
    page.markers = markers
    return page
