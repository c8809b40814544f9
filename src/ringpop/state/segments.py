"""Runs of records as parallel columns: the blocks :class:`~ringpop.state.memory.MemoryStore`
keeps its records in, and the incoming pages it applies.

A :class:`Run` holds records sorted by ``(hash, key)`` (or, for an incoming page,
in any order until :meth:`Run.sorted`) as six parallel columns: hashes
(``array('I')``), keys, values, walls and logicals (``array('q')``) and writer ids.
Slicing, inserting and deleting a block of records is one C ``memcpy``/``memmove``
per column; nothing here builds an object per record. A run may keep its keys and
values as one :class:`~ringpop.state.blob.Blob` (a handoff page as it came) until
a change needs them as lists.
"""

from __future__ import annotations

import operator
from array import array
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate, compress, repeat
from operator import itemgetter
from typing import TypeVar

from ringpop.state.blob import Blob
from ringpop.state.store import Columns, Cursor

__all__ = ["Positions", "Row", "Run", "strictly_ordered"]

T = TypeVar("T")

Row = tuple[int, str, "bytes | None", int, int, str]
"""One record: ``(hash, key, value, wall, logical, writer)``."""


class Run:
    """Records as parallel columns (module docstring).

    A run made from a :class:`~ringpop.state.blob.Blob` (:meth:`of_blob`: a handoff
    page in format ``/3``) keeps its keys and values as the blob: reading one record
    (:meth:`key`, :meth:`value`, :meth:`row`), cutting a part or the tail off keeps
    it so; the first use of the ``keys`` or ``values`` lists (any other change)
    builds them once and drops the blob.
    """

    __slots__ = ("_blob", "_keys", "_values", "hashes", "logicals", "nodes", "walls")

    def __init__(
        self,
        hashes: array[int],
        keys: list[str],
        values: list[bytes | None],
        walls: array[int],
        logicals: array[int],
        nodes: list[str],
    ) -> None:
        self.hashes = hashes
        self._keys = keys
        self._values = values
        self.walls = walls
        self.logicals = logicals
        self.nodes = nodes
        self._blob: Blob | None = None

    @classmethod
    def of_blob(
        cls,
        hashes: array[int],
        blob: Blob,
        walls: array[int],
        logicals: array[int],
        nodes: list[str],
    ) -> Run:
        """A run whose keys and values stay in ``blob`` until a change needs lists."""
        run = cls(hashes, [], [], walls, logicals, nodes)
        run._blob = blob
        return run

    @property
    def blob(self) -> Blob | None:
        """The blob still holding the keys and values, ``None`` once they are lists."""
        return self._blob

    @property
    def keys(self) -> list[str]:
        if self._blob is not None:
            self._unpack()
        return self._keys

    @property
    def values(self) -> list[bytes | None]:
        if self._blob is not None:
            self._unpack()
        return self._values

    def _unpack(self) -> None:
        blob, self._blob = self._blob, None
        assert blob is not None
        self._keys, self._values = blob.key_list(), blob.value_list()

    def __len__(self) -> int:
        return len(self.hashes)

    def __repr__(self) -> str:
        kind = "blob" if self._blob is not None else "lists"
        return f"Run({len(self)} records, {kind})"

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

    def key(self, i: int) -> str:
        """Record ``i``'s key."""
        return self._keys[i] if self._blob is None else self._blob.key(i)

    def value(self, i: int) -> bytes | None:
        """Record ``i``'s value."""
        return self._values[i] if self._blob is None else self._blob.value(i)

    def row(self, i: int) -> Row:
        return (
            self.hashes[i],
            self.key(i),
            self.value(i),
            self.walls[i],
            self.logicals[i],
            self.nodes[i],
        )

    def each(self) -> list[Row]:
        return [self.row(i) for i in range(len(self))]

    def position(self, i: int) -> tuple[int, str]:
        """``(hash, key)`` of record ``i``."""
        return self.hashes[i], self.key(i)

    def cursor(self, i: int) -> Cursor:
        """A scan cursor on record ``i``."""
        return Cursor(self.hashes[i], self.key(i))

    def marker_keys(self, i: int, j: int) -> list[str]:
        """The keys of the delete markers among records ``i`` to ``j`` (excluded)."""
        blob = self._blob
        if blob is not None:
            if not blob.markers:
                return []
            return [blob.key(k) for k in compress(range(i, j), blob.markers[i:j])]
        pairs = zip(self._keys[i:j], self._values[i:j], strict=True)
        return [key for key, value in pairs if value is None]

    def part(self, i: int, j: int) -> Run:
        """A copy of records ``i`` to ``j`` (excluded); a blob run's part is one too."""
        if self._blob is not None:
            return Run.of_blob(
                self.hashes[i:j],
                self._blob.part(i, j),
                self.walls[i:j],
                self.logicals[i:j],
                self.nodes[i:j],
            )
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
        if self._blob is not None:
            blob, nodes = self._blob, self.nodes
            return max(
                1,
                bisect_right(
                    range(1, len(self) + 1),
                    max_bytes,
                    key=lambda n: blob.size(n) + 12 * n + sum(map(len, nodes[:n])),
                ),
            )
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
        """Remove records ``i`` to ``j`` (excluded); cutting a blob run's tail keeps the blob."""
        if self._blob is not None and j >= len(self):
            self._blob = self._blob.part(0, i)
            del self.hashes[i:], self.walls[i:], self.logicals[i:], self.nodes[i:]
            return
        del self.hashes[i:j]
        del self.keys[i:j]
        del self.values[i:j]
        del self.walls[i:j]
        del self.logicals[i:j]
        del self.nodes[i:j]

    def extend(self, run: Run) -> None:
        """Append the records of ``run``."""
        self.insert(len(self), run)

    def extend_from(self, run: Run, i: int, j: int) -> None:
        """Append records ``i`` to ``j`` (excluded) of ``run`` (a blob run stays one)."""
        if run.blob is not None:
            self.extend(run.part(i, j))
            return
        self.hashes += run.hashes[i:j]
        self.keys.extend(run.keys[i:j])
        self.values.extend(run.values[i:j])
        self.walls += run.walls[i:j]
        self.logicals += run.logicals[i:j]
        self.nodes += run.nodes[i:j]

    def split(self) -> Run:
        """Cut the run in two halves: keep the first, return the second."""
        half = len(self) // 2
        tail = self.part(half, len(self))
        self.delete(half, len(self))
        return tail

    def sorted(self) -> Run:
        """The records in ``(hash, key)`` order (keys distinct)."""
        keys = self.keys
        order = sorted(range(len(keys)), key=lambda i: (self.hashes[i], keys[i]))
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
