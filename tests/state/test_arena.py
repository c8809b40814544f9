"""The arena a MemoryStore keeps handoff blobs in: copies, chunks, lifetimes."""

from __future__ import annotations

import ctypes
import gc
import mmap
from pathlib import Path

import pytest

from ringpop.state.arena import Arena, shared_arena
from ringpop.state.memory import MemoryStore


def test_kept_bytes_are_a_read_only_copy() -> None:
    arena = Arena(chunk=1024)
    data = bytearray(b"abcdef")
    kept = arena.keep(memoryview(data))
    data[0:1] = b"z"  # the caller's buffer changes: the kept copy does not
    assert bytes(kept) == b"abcdef"
    assert isinstance(kept, memoryview)
    assert kept.readonly
    with pytest.raises(TypeError):
        kept[0:1] = b"z"


def test_chunks_are_filled_then_a_new_one_is_mapped() -> None:
    arena = Arena(chunk=1024)
    pieces = [bytes([i]) * 200 for i in range(12)]  # 5 of 200 B fit a 1 KiB chunk
    kept = [arena.keep(piece) for piece in pieces]
    assert [bytes(view) for view in kept] == pieces
    assert arena.chunks == 3


def test_empty_and_large_data_are_not_copied() -> None:
    arena = Arena(chunk=1024)
    large = b"x" * 257  # over a quarter chunk: its own allocation
    assert arena.keep(large) is large
    assert arena.keep(b"") == b""
    assert arena.chunks == 0


def test_a_view_outlives_the_arena_and_its_other_views() -> None:
    arena = Arena(chunk=1024)
    first, second = arena.keep(b"first"), arena.keep(b"second")
    del arena, first
    gc.collect()
    assert bytes(second) == b"second"


def test_the_default_chunk_is_private_memory_advised_huge_pages() -> None:
    arena = Arena()
    view = arena.keep(b"k" * 100)
    assert isinstance(view, memoryview)
    chunk = view.obj
    assert isinstance(chunk, mmap.mmap)
    assert len(chunk) == arena.chunk == 8 << 20
    smaps = Path("/proc/self/smaps")
    thp = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    if not smaps.exists() or not thp.exists() or "[never]" in thp.read_text():
        return  # no transparent huge pages to advise
    start = ctypes.addressof(ctypes.c_char.from_buffer(chunk))
    lines = smaps.read_text().splitlines()
    at = lines.index(next(line for line in lines if line.startswith(f"{start:x}-")))
    flags = next(line for line in lines[at:] if line.startswith("VmFlags:")).split()
    assert "hg" in flags  # MADV_HUGEPAGE
    assert "sh" not in flags  # private: shared anonymous memory would be shmem


def test_a_chunk_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Arena(chunk=0)


def test_stores_share_the_process_arena_unless_given_one() -> None:
    first, second = MemoryStore(), MemoryStore()
    assert first._arena is second._arena is shared_arena()
    own = Arena(chunk=1024)
    assert MemoryStore(arena=own)._arena is own
