"""Memory for bytes a store keeps for long, in chunks the kernel may back with huge pages.

A handoff brings a store hundreds of megabytes it keeps (the keys and values of
``ringpop-state-page/3`` pages, :mod:`~ringpop.state.blob`). Kept in ordinary
allocations, every 4 KiB of it costs the kernel a page fault the first time it
is touched: on a virtual machine as much CPU as the whole transfer's framing.
An :class:`Arena` copies such bytes into private anonymous mappings of
``chunk`` bytes (8 MiB) advised ``MADV_HUGEPAGE``: where transparent huge pages
are enabled (``always`` or ``madvise``) one fault backs 2 MiB; where they are not,
the chunks are ordinary memory and nothing else changes.

What :meth:`Arena.keep` returns is a read-only :class:`memoryview` of its chunk;
a chunk is unmapped when the last view of it is gone. So a chunk's memory is
held while any of the bytes kept in it are: a store that keeps parts of many
pages holds at most one chunk per part (:meth:`Arena.keep` of data larger than a
quarter chunk gives the data its own allocation).

Stores share one arena per process (:func:`shared_arena`): a huge page is backed
whole once touched, so a process with many small stores would otherwise hold
2 MiB for each. :meth:`Arena.keep` takes a lock, so stores on different threads
(each with its own event loop) can share it.
"""

from __future__ import annotations

import contextlib
import mmap
import threading

__all__ = ["CHUNK", "Arena", "shared_arena"]

CHUNK = 8 << 20
"""Bytes an arena maps at a time (four 2 MiB huge pages)."""

_PRIVATE = getattr(mmap, "MAP_PRIVATE", 0) | getattr(mmap, "MAP_ANONYMOUS", 0)
_HUGE = getattr(mmap, "MADV_HUGEPAGE", None)


class Arena:
    """Copies bytes into huge-page-advised chunks (module docstring)."""

    __slots__ = ("_lock", "_used", "_view", "chunk", "chunks")

    def __init__(self, chunk: int = CHUNK) -> None:
        if chunk <= 0:
            raise ValueError("chunk must be positive")
        self.chunk = chunk
        self.chunks = 0  # mapped so far
        self._view = memoryview(b"")
        self._used = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Arena({self.chunks} chunks of {self.chunk} B, {self._used} B used in the last)"

    def keep(self, data: bytes | memoryview) -> bytes | memoryview:
        """``data``'s bytes in the arena (a read-only view); ``data`` itself when it is
        empty or larger than a quarter chunk."""
        size = len(data)
        if not size or size > self.chunk // 4:
            return data
        with self._lock:
            if size > len(self._view) - self._used:
                self._view = memoryview(_map(self.chunk))
                self._used = 0
                self.chunks += 1
            start = self._used
            self._used = start + size
            view = self._view[start : self._used]
        view[:] = data  # a region no other call is given
        return view.toreadonly()


_SHARED = Arena()


def shared_arena() -> Arena:
    """The process's arena, shared by every :class:`~ringpop.state.memory.MemoryStore`
    not given its own (a chunk is mapped only when first used)."""
    return _SHARED


def _map(size: int) -> mmap.mmap:
    """``size`` bytes of private anonymous memory, advised huge pages where it can be."""
    # not POSIX (no MAP_PRIVATE): an anonymous mapping as the platform makes it
    memory = mmap.mmap(-1, size, flags=_PRIVATE) if _PRIVATE else mmap.mmap(-1, size)
    if _HUGE is not None:
        with contextlib.suppress(OSError):  # no transparent huge pages: ordinary pages
            memory.madvise(_HUGE)
    return memory
