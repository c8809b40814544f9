"""An actor's mailbox: bounded, FIFO, deduplicating by (sender stream, seq). Pure.

Every sender numbers its messages to one actor (its *stream*: one per sending node
and process, see :mod:`ringpop.actors.outbox`) and has at most one batch of them in
flight, so the mailbox sees a stream's batches in the sender's order. It admits a
batch (:meth:`Mailbox.offer`) unless

* the mailbox is closed (the actor is being handed over): ``CLOSED``;
* the batch is queued or in hand already (a retry after a lost answer): ``PENDING``,
  the caller waits for the same entry;
* every seq of it was handled already: ``DONE``, with the cached results when it was
  the stream's last batch;
* it does not fit in ``capacity`` queued messages: ``FULL`` (backpressure).

A batch that overlaps what was handled (a sender resending after a crash) keeps only
its new tail (``Entry.skip`` leading messages are answered as duplicates). ``handled``
is the last seq handled per stream: it travels with the actor's state (handover,
passivation), so a retry reaching the next owner is recognised too. At most
``max_streams`` streams are remembered (least recently used dropped).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, TypeVar

__all__ = ["Admission", "Entry", "Mailbox"]

R = TypeVar("R")


class Admission(Enum):
    """What :meth:`Mailbox.offer` did with a batch."""

    ACCEPTED = "accepted"
    PENDING = "pending"
    DONE = "done"
    FULL = "full"
    CLOSED = "closed"


@dataclass(eq=False)
class Entry(Generic[R]):
    """A batch admitted to the mailbox: seqs ``first .. first + len(payloads) - 1``.

    The first ``skip`` payloads were handled before (answered as duplicates).
    ``results`` is set by :meth:`Mailbox.done`.
    """

    stream: str
    first: int
    payloads: list[bytes]
    skip: int = 0
    results: list[R] | None = field(default=None)

    @property
    def last(self) -> int:
        """The batch's last seq."""
        return self.first + len(self.payloads) - 1

    @property
    def size(self) -> int:
        """Messages to handle."""
        return len(self.payloads) - self.skip


class Mailbox(Generic[R]):
    """The queue of one activation (see the module docstring)."""

    def __init__(
        self, capacity: int, handled: dict[str, int] | None = None, *, max_streams: int = 4096
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, not {capacity}")
        self.capacity = capacity
        self.max_streams = max_streams
        self.handled: OrderedDict[str, int] = OrderedDict(handled or {})
        """Last seq handled per stream."""
        self._accepted: dict[str, int] = {}
        self._pending: dict[tuple[str, int], Entry[R]] = {}
        self._last_done: dict[str, Entry[R]] = {}
        self._queue: deque[Entry[R]] = deque()
        self.queued = 0
        """Messages waiting (not the batch in hand)."""
        self.closed = False

    def __len__(self) -> int:
        return len(self._queue)

    def offer(self, stream: str, first: int, payloads: list[bytes]) -> tuple[Admission, Entry[R]]:
        """Admit a batch or say why not (the entry to wait for, or the cached one)."""
        entry: Entry[R] = Entry(stream, first, payloads)
        pending = self._pending.get((stream, first))
        if pending is not None:
            return Admission.PENDING, pending
        seen = max(self.handled.get(stream, 0), self._accepted.get(stream, 0))
        if entry.last <= seen:
            cached = self._last_done.get(stream)
            if cached is not None and cached.first == first and cached.last == entry.last:
                return Admission.DONE, cached
            return Admission.DONE, entry
        if self.closed:
            return Admission.CLOSED, entry
        entry.skip = max(0, seen - first + 1)
        if self.queued + entry.size > self.capacity:
            return Admission.FULL, entry
        self._queue.append(entry)
        self.queued += entry.size
        self._pending[(stream, first)] = entry
        self._accepted[stream] = entry.last
        return Admission.ACCEPTED, entry

    def take(self) -> Entry[R] | None:
        """The next batch to handle (``None`` when empty)."""
        if not self._queue:
            return None
        entry = self._queue.popleft()
        self.queued -= entry.size
        return entry

    def peek(self) -> Entry[R] | None:
        """The next batch, left in the queue."""
        return self._queue[0] if self._queue else None

    def requeue(self, entry: Entry[R]) -> None:
        """Put a taken batch back in front (its handling was interrupted)."""
        self._queue.appendleft(entry)
        self.queued += entry.size

    def done(self, entry: Entry[R], results: list[R]) -> None:
        """The batch was handled: remember its seqs (and results, for a retry)."""
        entry.results = results
        self._pending.pop((entry.stream, entry.first), None)
        self._last_done[entry.stream] = entry
        if entry.last > self.handled.get(entry.stream, 0):
            self.handled[entry.stream] = entry.last
        self.handled.move_to_end(entry.stream)
        while len(self.handled) > self.max_streams:
            old, _ = self.handled.popitem(last=False)
            self._last_done.pop(old, None)
            self._accepted.pop(old, None)

    def close(self) -> list[Entry[R]]:
        """Stop admitting; the batches still queued, in order (to hand over)."""
        self.closed = True
        moved = list(self._queue)
        self._queue.clear()
        self.queued = 0
        for entry in moved:
            self._pending.pop((entry.stream, entry.first), None)
            accepted = self._accepted.get(entry.stream)
            if accepted is not None and accepted == entry.last:
                del self._accepted[entry.stream]
        return moved
