"""Whole-column checks of received pages: native, with numpy, and with the stdlib only."""

from __future__ import annotations

import itertools
from array import array
from collections.abc import Iterator
from contextlib import contextmanager

import numpy  # the vector path runs when numpy is loaded: this loads it
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ringpop.hashing import fingerprint32
from ringpop.ring.ownership import Range
from ringpop.state import columns
from ringpop.state.packed import Packed, decode_packed, encode_packed
from ringpop.state.store import Cursor
from ringpop.state.transfer import check_packed
from tests.speedups import native_or_python

U32 = st.integers(0, (1 << 32) - 1)


@pytest.fixture
def path(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run with the native part, with numpy loaded (imported above: the extra is a
    test dependency) without it, or with neither."""
    if request.param == "native":
        with native_or_python(True):
            yield "native"
    elif request.param == "numpy":
        with native_or_python(False):
            assert columns.loaded_numpy() is numpy
            yield "numpy"
    else:
        with stdlib_only():
            yield "stdlib"


def brute_ties(hashes: list[int]) -> list[int] | None:
    if any(b < a for a, b in itertools.pairwise(hashes)):
        return None
    return [i for i in range(len(hashes) - 1) if hashes[i] == hashes[i + 1]]


@contextmanager
def stdlib_only() -> Iterator[None]:
    """As if neither numpy nor the native part were loaded."""
    saved = columns.loaded_numpy
    columns.loaded_numpy = lambda: None
    try:
        with native_or_python(False):
            yield
    finally:
        columns.loaded_numpy = saved


# sorted lists with repeats (the interesting case), and any lists
sorted_lists = st.lists(st.integers(0, 40), max_size=60).map(sorted)


@given(st.one_of(sorted_lists, st.lists(U32, max_size=30), st.lists(U32, max_size=30).map(sorted)))
def test_ties_finds_repeats_of_a_sorted_column_and_refuses_a_decrease(hashes: list[int]) -> None:
    expected = brute_ties(hashes)
    assert columns.ties(array("I", hashes)) == expected  # native where built
    with native_or_python(False):
        assert columns.loaded_numpy() is numpy
        assert columns.ties(array("I", hashes)) == expected
    with stdlib_only():
        assert columns.ties(array("I", hashes)) == expected
        assert columns.ties(hashes) == expected


@given(st.lists(st.integers(-(1 << 63), (1 << 63) - 1), min_size=1, max_size=30))
def test_greatest_is_the_max(values: list[int]) -> None:
    assert columns.greatest(array("q", values)) == max(values)  # native where built
    with native_or_python(False):
        assert columns.greatest(array("q", values)) == max(values)
    with stdlib_only():
        assert columns.greatest(array("q", values)) == max(values)
        assert columns.greatest(values) == max(values)


def colliding_keys() -> tuple[str, str]:
    """Two keys of one 32-bit hash (found by search, bounded)."""
    seen: dict[int, str] = {}
    for i in range(400_000):
        key = f"c{i}"
        h = fingerprint32(key)
        if h in seen:
            return seen[h], key
        seen[h] = key
    raise AssertionError("no collision found")


@pytest.mark.parametrize("path", ["native", "numpy", "stdlib"], indirect=True)
def test_a_page_with_a_hash_repeat_checks_its_keys_order(path: str) -> None:
    a, b = sorted(colliding_keys())
    others = [f"k{i}" for i in range(50)]
    keys = sorted([a, b, *others], key=lambda k: (fingerprint32(k), k))
    count = len(keys)
    good = Packed.of(keys, [b"v"] * count, [1] * count, [0] * count, ["n"] * count)
    whole = Range(0, 1 << 32)
    page = decode_packed(encode_packed(good)[0])
    check_packed(page, whole, None, 100)
    assert page.ordered
    # the same hashes, the two colliding keys swapped: the hashes alone do not see it
    at = keys.index(a)
    swapped = [*keys[:at], b, a, *keys[at + 2 :]]
    bad = Packed.of(swapped, [b"v"] * count, [1] * count, [0] * count, ["n"] * count)
    page = decode_packed(encode_packed(bad)[0])
    with pytest.raises(ValueError, match="out of order"):
        check_packed(page, whole, None, 100)
    # after a cursor on the first of the two: the second alone is in order
    tail = Packed.of(
        keys[at + 1 :],
        [b"v"] * (count - at - 1),
        [1] * (count - at - 1),
        [0] * (count - at - 1),
        ["n"] * (count - at - 1),
    )
    page = decode_packed(encode_packed(tail)[0])
    check_packed(page, whole, Cursor(fingerprint32(a), a), 100)
    with pytest.raises(ValueError, match="out of order"):
        check_packed(decode_packed(encode_packed(tail)[0]), whole, Cursor(fingerprint32(b), b), 100)
