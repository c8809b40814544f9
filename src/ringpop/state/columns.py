"""Whole-column checks of a received page: order, ties, greatest value.

A handoff page carries thousands of records; its checks must not take a Python
step per record. With numpy installed (the ``numpy`` extra) each check is one
vector operation over the column's buffer; without it, stdlib C loops do the same
work a little slower (``sorted`` of an already sorted list is ``n - 1`` int
comparisons, ``set`` finds repeated hashes, ``max`` walks an ``array``). Both paths
give the same answers; :data:`numpy` may be set to ``None`` to force the stdlib one
(tests do, to check both).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from types import ModuleType

__all__ = ["greatest", "numpy", "ties"]

try:
    import numpy as _numpy
except ImportError:  # pragma: no cover - the stdlib path is tested by unsetting it
    _numpy = None  # type: ignore[assignment]

numpy: ModuleType | None = _numpy


def ties(hashes: Sequence[int]) -> list[int] | None:
    """``None`` unless ``hashes`` never decrease; else the positions ``i`` where
    ``hashes[i] == hashes[i + 1]`` (the records whose keys decide their order).

    ``hashes`` is a list of ints or an ``array('I')``.
    """
    np = numpy
    if np is not None and isinstance(hashes, array) and hashes.typecode == "I":
        column = np.frombuffer(hashes, dtype=np.uint32)
        after, before = column[1:], column[:-1]
        if not bool((after >= before).all()):
            return None
        found: list[int] = np.flatnonzero(after == before).tolist()
        return found
    values = hashes if isinstance(hashes, list) else list(hashes)
    if sorted(values) != values:  # an already sorted list: one comparison per item
        return None
    if len(set(values)) == len(values):
        return []
    positions: list[int] = []
    for value, count in Counter(values).items():
        if count > 1:  # sorted: the repeats sit together
            start = bisect_left(values, value)
            positions.extend(range(start, start + count - 1))
    positions.sort()
    return positions


def greatest(column: Sequence[int]) -> int:
    """The greatest value of a non-empty column (an ``array('q')`` or a list)."""
    np = numpy
    if np is not None and isinstance(column, array) and column.typecode == "q":
        return int(np.frombuffer(column, dtype=np.int64).max())
    return max(column)
