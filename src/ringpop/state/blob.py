"""Keys and values of a run of records as two blobs: no object per record.

A :class:`Blob` holds the UTF-8 keys of ``n`` records one after another in one
``bytes``, their values likewise in another, and the end offset of each in an
``array('I')``: record ``i``'s key is ``keys[key_ends[i - 1]:key_ends[i]]`` (the
first starts at 0). ``markers`` is empty when no record is a delete marker, else one
byte per record, 1 for a delete marker (its value is then empty and reads ``None``).

It is how a handoff page in format ``ringpop-state-page/3``
(:mod:`~ringpop.state.blobpage`) travels and how
:class:`~ringpop.state.memory.MemoryStore` keeps such a page as a block until a
write touches it: a record's key or value becomes an object only when read.
"""

from __future__ import annotations

import operator
from array import array
from itertools import accumulate, compress, repeat

from ringpop import speedups

__all__ = ["Blob", "ends_ok", "starts_of"]


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

    __slots__ = ("key_ends", "keys", "markers", "value_ends", "values")

    def __init__(
        self,
        keys: bytes,
        key_ends: array[int],
        values: bytes,
        value_ends: array[int],
        markers: bytes = b"",
    ) -> None:
        self.keys = keys
        self.key_ends = key_ends
        self.values = values
        self.value_ends = value_ends
        self.markers = markers

    def __len__(self) -> int:
        return len(self.key_ends)

    def __repr__(self) -> str:
        return f"Blob({len(self)} records, {len(self.keys) + len(self.values)} bytes)"

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

    def key(self, i: int) -> str:
        """Record ``i``'s key (negative ``i`` counts from the end)."""
        ends = self.key_ends
        end = ends[i]
        i %= len(ends)
        return self.keys[ends[i - 1] if i else 0 : end].decode()

    def value(self, i: int) -> bytes | None:
        """Record ``i``'s value, ``None`` for a delete marker."""
        if self.markers and self.markers[i]:
            return None
        ends = self.value_ends
        end = ends[i]
        i %= len(ends)
        return self.values[ends[i - 1] if i else 0 : end]

    def key_list(self) -> list[str]:
        """Every key, as ``str`` objects."""
        ends = self.key_ends
        spans = map(slice, starts_of(ends), ends)
        blob = self.keys
        if blob.isascii():  # slice one decoded str: no decode a key
            text = blob.decode("ascii")
            return list(map(text.__getitem__, spans))
        return [blob[span].decode() for span in spans]

    def value_list(self) -> list[bytes | None]:
        """Every value (``None`` for delete markers)."""
        ends = self.value_ends
        values: list[bytes | None] = list(
            map(self.values.__getitem__, map(slice, starts_of(ends), ends))
        )
        if self.markers:
            for i in compress(range(len(values)), self.markers):
                values[i] = None
        return values

    def part(self, i: int, j: int) -> Blob:
        """Records ``i`` to ``j`` (excluded), offsets rebased: a copy."""
        count = len(self.key_ends)
        j = min(j, count)
        if i <= 0 and j >= count:
            return self
        if j <= i:
            return Blob(b"", array("I"), b"", array("I"))
        keys, key_ends = _cut(self.keys, self.key_ends, i, j)
        values, value_ends = _cut(self.values, self.value_ends, i, j)
        markers = self.markers[i:j] if self.markers else b""
        return Blob(keys, key_ends, values, value_ends, markers if any(markers) else b"")

    def size(self, count: int) -> int:
        """Bytes of the first ``count`` records' keys and values."""
        return self.key_ends[count - 1] + self.value_ends[count - 1] if count else 0


def _ends(native: bytes) -> array[int]:
    """End offsets from the native module's bytes (native byte order)."""
    ends = array("I")
    ends.frombytes(native)
    return ends


def _cut(blob: bytes, ends: array[int], i: int, j: int) -> tuple[bytes, array[int]]:
    start = ends[i - 1] if i else 0
    part = ends[i:j]
    if start:
        part = array("I", map(operator.sub, part, repeat(start, len(part))))
    return blob[start : ends[j - 1]], part
