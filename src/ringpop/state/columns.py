"""Whole-column checks of a received page: order, ties, greatest value.

A handoff page carries thousands of records; its checks must not take a Python
step per record. Where :mod:`ringpop.speedups` is built, one native loop over the
column's memory does each. Otherwise stdlib C loops do them (``map`` of
``operator.lt`` over a column and itself shifted; where that fails, ``sorted`` of
the list tells a decrease from a repeated hash, and ``map`` of ``operator.eq`` finds
the repeats; ``max`` walks an ``array``); when the process **already** loaded numpy,
one vector operation over each column's buffer does the same a little faster.
numpy is never imported for this: measured with ``bench/handoff.py``, a puller
that merely has numpy loaded spent 1.6-5x more kernel time per record (the same
page faults, each dearer) than the vector operations saved. All paths give the
same answers; tests check them all.
"""

from __future__ import annotations

import operator
import sys
from array import array
from collections.abc import Sequence
from itertools import compress
from types import ModuleType

from ringpop import speedups

__all__ = ["greatest", "loaded_numpy", "ties"]


def loaded_numpy() -> ModuleType | None:
    """numpy if this process already imported it, else ``None`` (never imports it)."""
    return sys.modules.get("numpy")


def ties(hashes: Sequence[int]) -> list[int] | None:
    """``None`` unless ``hashes`` never decrease; else the positions ``i`` where
    ``hashes[i] == hashes[i + 1]`` (the records whose keys decide their order).

    ``hashes`` is a list of ints or an ``array('I')``.
    """
    native = speedups.native
    if native is not None and isinstance(hashes, array) and hashes.typecode == "I":
        return native.ties(hashes)
    np = loaded_numpy()
    if np is not None and isinstance(hashes, array) and hashes.typecode == "I":
        column = np.frombuffer(hashes, dtype=np.uint32)
        after, before = column[1:], column[:-1]
        if not bool((after >= before).all()):
            return None
        found: list[int] = np.flatnonzero(after == before).tolist()
        return found
    values = hashes if isinstance(hashes, list) else list(hashes)
    following = values[1:]
    if all(map(operator.lt, values, following)):  # strictly increasing: no tie
        return []
    if sorted(values) != values:  # an already sorted list: one comparison per item
        return None
    return list(compress(range(len(following)), map(operator.eq, values, following)))


def greatest(column: Sequence[int]) -> int:
    """The greatest value of a non-empty column (an ``array('q')`` or a list)."""
    native = speedups.native
    if native is not None and isinstance(column, array) and column.typecode == "q":
        return native.greatest(column)
    np = loaded_numpy()
    if np is not None and isinstance(column, array) and column.typecode == "q":
        return int(np.frombuffer(column, dtype=np.int64).max())
    return max(column)
