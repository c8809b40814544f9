"""Runs of records as parallel columns: the blocks :class:`~ringpop.state.memory.MemoryStore`
keeps its records in, and the incoming pages it applies.

A :class:`Run` holds records sorted by ``(hash, key)`` (or, for an incoming page,
in any order until :meth:`Run.sorted`) as six parallel columns: hashes
(``array('I')``), keys, values, walls and logicals (``array('q')``) and writer ids.
Slicing, inserting and deleting a block of records is one C ``memcpy``/``memmove``
per column; nothing here builds an object per record.
"""

from __future__ import annotations

import operator
from array import array
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate, repeat
from operator import itemgetter
from typing import TypeVar

from ringpop.state.store import Columns, Cursor

__all__ = ["Positions", "Row", "Run", "strictly_ordered"]

T = TypeVar("T")

Row = tuple[int, str, "bytes | None", int, int, str]
"""One record: ``(hash, key, value, wall, logical, writer)``."""


@dataclass(slots=True)
class Run:
    """Records as parallel columns (module docstring)."""

    hashes: array[int]
    keys: list[str]
    values: list[bytes | None]
    walls: array[int]
    logicals: array[int]
    nodes: list[str]

    def __len__(self) -> int:
        return len(self.keys)

    @classmethod
    def empty(cls) -> Run:
        return cls(array("I"), [], [], array("q"), array("q"), [])

    @classmethod
    def of_row(cls, row: Row) -> Run:
        """A run of one record."""
        hash, key, value, wall, logical, node = row
        return cls(
            array("I", [hash]), [key], [value], array("q", [wall]), array("q", [logical]), [node]
        )

    def row(self, i: int) -> Row:
        return (
            self.hashes[i],
            self.keys[i],
            self.values[i],
            self.walls[i],
            self.logicals[i],
            self.nodes[i],
        )

    def each(self) -> list[Row]:
        return [self.row(i) for i in range(len(self.keys))]

    def position(self, i: int) -> tuple[int, str]:
        """``(hash, key)`` of record ``i``."""
        return self.hashes[i], self.keys[i]

    def cursor(self, i: int) -> Cursor:
        """A scan cursor on record ``i``."""
        return Cursor(self.hashes[i], self.keys[i])

    def part(self, i: int, j: int) -> Run:
        """A copy of records ``i`` to ``j`` (excluded)."""
        return Run(
            self.hashes[i:j],
            self.keys[i:j],
            self.values[i:j],
            self.walls[i:j],
            self.logicals[i:j],
            self.nodes[i:j],
        )

    def fitting(self, max_bytes: int) -> int:
        """How many first records fit in ``max_bytes`` (one at least), a record counting
        its key, value and writer id plus 12 bytes."""
        values = self.values
        lengths = (
            map(len, values)  # type: ignore[arg-type]
            if None not in values
            else [0 if v is None else len(v) for v in values]
        )
        sizes = map(
            operator.add,
            map(operator.add, map(len, self.keys), map(len, self.nodes)),
            map(operator.add, lengths, repeat(12)),
        )
        return max(1, bisect_right(list(accumulate(sizes)), max_bytes))

    def columns(self, cursor: Cursor | None = None) -> Columns:
        """The records as :class:`~ringpop.state.store.Columns`."""
        return Columns.of_arrays(
            self.keys, self.values, self.walls, self.logicals, self.nodes, cursor
        )

    def insert(self, at: int, run: Run) -> None:
        """Insert the records of ``run`` before record ``at``."""
        self.hashes[at:at] = run.hashes
        self.keys[at:at] = run.keys
        self.values[at:at] = run.values
        self.walls[at:at] = run.walls
        self.logicals[at:at] = run.logicals
        self.nodes[at:at] = run.nodes

    def replace(self, at: int, value: bytes | None, wall: int, logical: int, node: str) -> None:
        """Give record ``at`` a new value and version."""
        self.values[at], self.walls[at] = value, wall
        self.logicals[at], self.nodes[at] = logical, node

    def delete(self, i: int, j: int) -> None:
        """Remove records ``i`` to ``j`` (excluded)."""
        del self.hashes[i:j]
        del self.keys[i:j]
        del self.values[i:j]
        del self.walls[i:j]
        del self.logicals[i:j]
        del self.nodes[i:j]

    def extend(self, run: Run) -> None:
        """Append the records of ``run``."""
        self.insert(len(self.keys), run)

    def extend_from(self, run: Run, i: int, j: int) -> None:
        """Append records ``i`` to ``j`` (excluded) of ``run``."""
        self.hashes += run.hashes[i:j]
        self.keys += run.keys[i:j]
        self.values += run.values[i:j]
        self.walls += run.walls[i:j]
        self.logicals += run.logicals[i:j]
        self.nodes += run.nodes[i:j]

    def split(self) -> Run:
        """Cut the run in two halves: keep the first, return the second."""
        half = len(self.keys) // 2
        tail = self.part(half, len(self.keys))
        self.delete(half, len(self.keys))
        return tail

    def sorted(self) -> Run:
        """The records in ``(hash, key)`` order (keys distinct)."""
        order = sorted(range(len(self.keys)), key=lambda i: (self.hashes[i], self.keys[i]))
        take = [itemgetter(*order)] if len(order) > 1 else []

        def pick(column: Sequence[T]) -> list[T]:
            return list(take[0](column)) if take else list(column)

        return Run(
            array("I", pick(self.hashes)),
            pick(self.keys),
            pick(self.values),
            array("q", pick(self.walls)),
            array("q", pick(self.logicals)),
            pick(self.nodes),
        )


def strictly_ordered(hashes: Sequence[int], keys: Sequence[str]) -> bool:
    """Whether ``zip(hashes, keys)`` is strictly increasing (compared in C)."""
    if all(map(operator.lt, hashes, hashes[1:])):
        return True
    pairs = list(zip(hashes, keys, strict=True))
    return all(map(operator.lt, pairs, pairs[1:]))


class Positions(Sequence[tuple[int, str]]):
    """The ``(hash, key)`` positions of a run's records, for bisecting it."""

    def __init__(self, run: Run) -> None:
        self._run = run

    def __len__(self) -> int:
        return len(self._run)

    def __getitem__(self, i: int) -> tuple[int, str]:  # type: ignore[override]
        return self._run.position(i)
