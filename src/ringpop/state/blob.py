"""Keys and values of a run of records as two blobs: no object per record.

A :class:`Blob` holds the UTF-8 keys of ``n`` records one after another in one
``bytes``, their values likewise in another, and the end offset of each in an
``array('I')``: record ``i``'s key is ``keys[key_ends[i - 1]:key_ends[i]]``, the
first starting at ``key_start`` (0 for a whole page). The blobs are ``bytes``, or
read-only :class:`memoryview` s where a store keeps them
(:class:`~ringpop.state.arena.Arena`). ``markers`` is empty when no
record is a delete marker, else one byte per record, 1 for a delete marker (its
value is then empty and reads ``None``). A :meth:`Blob.part` shares its blobs (only
its offsets are copied); :meth:`Blob.detached` is a part cut to its own bytes, as
the wire needs.

It is how a handoff page in format ``ringpop-state-page/3``
(:mod:`~ringpop.state.blobpage`) travels and how
:class:`~ringpop.state.memory.MemoryStore` keeps such a page, as blocks of at most
1024 records that share its bytes, until a write touches them: a record's key or
value becomes an object only when read.
"""

from __future__ import annotations

import operator
from array import array
from collections.abc import Iterator, Sequence
from itertools import accumulate, compress, repeat

from ringpop import speedups

__all__ = ["Blob", "Bytes", "ends_ok", "markers_of", "pieces", "shifted", "starts_of"]

Bytes = bytes | memoryview
"""A blob: ``bytes``, or a read-only view of bytes a store keeps."""


def ends_ok(ends: array[int], size: int) -> bool:
    """Whether ``ends`` never decrease and the last is ``size`` (none: ``size`` is 0)."""
    native = speedups.native
    if native is not None:
        return native.ends_ok(ends, size)
    if not ends:
        return size == 0
    return ends[-1] == size and all(map(operator.le, starts_of(ends), ends))


def starts_of(ends: array[int]) -> array[int]:
    """The start offset of each piece, given the end offsets."""
    return array("I", [0]) + ends[:-1] if ends else array("I")


class Blob:
    """The keys and values of a run of records as two blobs (module docstring)."""

    __slots__ = ("key_ends", "key_start", "keys", "markers", "value_ends", "value_start", "values")

    def __init__(
        self,
        keys: Bytes,
        key_ends: array[int],
        values: Bytes,
        value_ends: array[int],
        markers: bytes = b"",
        key_start: int = 0,
        value_start: int = 0,
    ) -> None:
        self.keys = keys
        self.key_ends = key_ends
        self.values = values
        self.value_ends = value_ends
        self.markers = markers
        self.key_start = key_start
        self.value_start = value_start

    def __len__(self) -> int:
        return len(self.key_ends)

    def __repr__(self) -> str:
        return f"Blob({len(self)} records, {self.size(len(self))} bytes)"

    @classmethod
    def of(cls, keys: list[str], values: list[bytes | None], markers: bool | None = None) -> Blob:
        """The blob of ``keys`` and ``values`` (``markers``: whether ``values`` holds a
        ``None``, if known). Keys must be valid UTF-8 (``UnicodeEncodeError``)."""
        native = speedups.native
        if native is not None and type(keys) is list and type(values) is list:
            try:
                key_blob, raw_key_ends = native.join_strs(keys)
                value_blob, raw_value_ends, flags = native.join_values(values)
            except TypeError:  # a value of another bytes-like type: the general path
                pass
            else:
                return cls(key_blob, _ends(raw_key_ends), value_blob, _ends(raw_value_ends), flags)
        key_blob = "".join(keys).encode()
        if key_blob.isascii():  # one byte a character: the str lengths are the byte lengths
            key_ends = array("I", accumulate(map(len, keys)))
        else:
            key_ends = array("I", accumulate(len(key.encode()) for key in keys))
        flags = b""
        if markers is not False and None in values:
            flags = bytes([value is None for value in values])
            values = [b"" if value is None else value for value in values]
        present: list[bytes] = values  # type: ignore[assignment]  # no None left
        value_ends = array("I", accumulate(map(len, present)))
        return cls(key_blob, key_ends, b"".join(present), value_ends, flags)

    @classmethod
    def joined(cls, parts: Sequence[Blob]) -> Blob:
        """The records of ``parts``, in order, as one blob of its own bytes (each part's
        bytes copied once, its offsets rebased)."""
        if len(parts) == 1:
            return parts[0].detached()
        key_views, key_ends, _ = pieces(parts)
        value_views, value_ends, _ = pieces(parts, values=True)
        return cls(
            b"".join(key_views), key_ends, b"".join(value_views), value_ends, markers_of(parts)
        )

    def key(self, i: int) -> str:
        """Record ``i``'s key (negative ``i`` counts from the end)."""
        ends = self.key_ends
        end = ends[i]
        i %= len(ends)
        return str(self.keys[ends[i - 1] if i else self.key_start : end], "utf-8")

    def value(self, i: int) -> bytes | None:
        """Record ``i``'s value, ``None`` for a delete marker."""
        if self.markers and self.markers[i]:
            return None
        ends = self.value_ends
        end = ends[i]
        i %= len(ends)
        return bytes(self.values[ends[i - 1] if i else self.value_start : end])

    def key_list(self) -> list[str]:
        """Every key, as ``str`` objects."""
        ends, start = self.key_ends, self.key_start
        if not ends:
            return []
        own = _region(self.keys, start, ends[-1])
        spans = _spans(ends, start)
        if own.isascii():  # slice one decoded str: no decode a key
            return list(map(own.decode("ascii").__getitem__, spans))
        return [own[span].decode() for span in spans]

    def value_list(self) -> list[bytes | None]:
        """Every value (``None`` for delete markers)."""
        ends, start = self.value_ends, self.value_start
        if not ends:
            return []
        own = _region(self.values, start, ends[-1])
        values: list[bytes | None] = list(map(own.__getitem__, _spans(ends, start)))
        if self.markers:
            for i in compress(range(len(values)), self.markers):
                values[i] = None
        return values

    def part(self, i: int, j: int) -> Blob:
        """Records ``i`` to ``j`` (excluded), sharing this blob's bytes."""
        count = len(self.key_ends)
        i, j = max(0, i), min(j, count)
        if i == 0 and j >= count:
            return self
        if j <= i:
            return Blob(b"", array("I"), b"", array("I"))
        markers = self.markers[i:j] if self.markers else b""
        return Blob(
            self.keys,
            self.key_ends[i:j],
            self.values,
            self.value_ends[i:j],
            markers if any(markers) else b"",
            self.key_ends[i - 1] if i else self.key_start,
            self.value_ends[i - 1] if i else self.value_start,
        )

    def detached(self) -> Blob:
        """This blob cut to its own bytes, offsets from 0 (itself if it already is)."""
        keys, key_ends = _own(self.keys, self.key_ends, self.key_start)
        values, value_ends = _own(self.values, self.value_ends, self.value_start)
        if keys is self.keys and values is self.values:
            return self
        return Blob(keys, key_ends, values, value_ends, self.markers)

    def size(self, count: int) -> int:
        """Bytes of the first ``count`` records' keys and values."""
        if not count:
            return 0
        return (
            self.key_ends[count - 1]
            - self.key_start
            + self.value_ends[count - 1]
            - self.value_start
        )


def _ends(native: bytes) -> array[int]:
    """End offsets from the native module's bytes (native byte order)."""
    ends = array("I")
    ends.frombytes(native)
    return ends


def _region(blob: Bytes, start: int, end: int) -> bytes:
    """``blob[start:end]`` as ``bytes`` (``blob`` itself when it is all of it)."""
    if type(blob) is bytes and start == 0 and end == len(blob):
        return blob
    return bytes(blob[start:end])


def _spans(ends: array[int], start: int) -> Iterator[slice]:
    """The slices of each piece in the blob's part from ``start`` on."""
    starts = starts_of(ends)
    if ends:
        starts[0] = start
    if start:
        return map(
            slice, map(operator.sub, starts, repeat(start)), map(operator.sub, ends, repeat(start))
        )
    return map(slice, starts, ends)


def pieces(
    parts: Sequence[Blob], *, values: bool = False
) -> tuple[list[memoryview], array[int], int]:
    """The keys (or ``values``) of ``parts`` in order: a view of each part's bytes, the
    end offsets into their join (rebased), and the join's size."""
    views: list[memoryview] = []
    joined_ends = array("I")
    size = 0
    for part in parts:
        if values:
            blob, ends, start = part.values, part.value_ends, part.value_start
        else:
            blob, ends, start = part.keys, part.key_ends, part.key_start
        if ends:
            views.append(memoryview(blob)[start : ends[-1]])
            joined_ends += shifted(ends, size - start)
            size += ends[-1] - start
    return views, joined_ends, size


def markers_of(parts: Sequence[Blob]) -> bytes:
    """The joined markers of ``parts`` (empty when none has a delete marker)."""
    if not any(part.markers for part in parts):
        return b""
    return b"".join(part.markers or bytes(len(part)) for part in parts)


def shifted(ends: array[int], delta: int) -> array[int]:
    """``ends`` plus ``delta`` (native where built): offsets rebased into a join."""
    if not delta:
        return ends
    native = speedups.native
    if native is not None:
        return _ends(native.shift_ends(ends, delta))
    return array("I", map(operator.add, ends, repeat(delta)))


def _own(blob: Bytes, ends: array[int], start: int) -> tuple[Bytes, array[int]]:
    """``blob`` cut to the pieces ``ends`` delimit from ``start``, offsets from 0."""
    end = ends[-1] if ends else start
    if start == 0 and end == len(blob):
        return blob, ends
    rebased = array("I", map(operator.sub, ends, repeat(start))) if start else ends[:]
    return blob[start:end], rebased
