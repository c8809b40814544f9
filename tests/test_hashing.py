"""FarmHash Fingerprint32 against every vector of spec §17.1."""

from __future__ import annotations

from array import array
from itertools import accumulate

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ringpop import speedups
from ringpop.hashing import fingerprint32, fingerprint32_blob, fingerprint32_many
from tests.speedups import BOTH, native_or_python

SPEC_VECTORS = [
    ("127.0.0.1:3000", 955462725, 0x38F33445),
    ("127.0.0.1:30000", 1854233723, 0x6E855C7B),
    ("127.0.0.1:30001", 593684711, 0x2362E8E7),
    ("127.0.0.1:30002", 1168689202, 0x45A8C832),
    ("", 3696677242, 0xDC56D17A),
    ("hello", 2039911270, 0x79969366),
    ("sut#0", 1352989104, 0x50A4F9B0),
]


@pytest.mark.parametrize(("text", "decimal", "hexa"), SPEC_VECTORS)
def test_spec_vectors(text: str, decimal: int, hexa: int) -> None:
    assert decimal == hexa
    assert fingerprint32(text) == decimal
    assert fingerprint32(text.encode()) == decimal
    assert fingerprint32(bytearray(text.encode())) == decimal
    assert fingerprint32(memoryview(text.encode())) == decimal


def test_str_is_hashed_as_utf8() -> None:
    for text in ("é", "日本語", "naïve-key", "\U0001f600"):
        assert fingerprint32(text) == fingerprint32(text.encode("utf-8"))


def test_a_key_utf8_cannot_carry_is_a_clear_value_error() -> None:
    from ringpop.ring.hashring import HashRing

    with pytest.raises(ValueError, match="lone surrogate"):
        fingerprint32("k\ud800")
    ring = HashRing()
    ring.add_server("127.0.0.1:3000")
    for look in (ring.lookup, lambda k: ring.lookup_n(k, 2), lambda k: ring.lookup_many(["a", k])):
        with pytest.raises(ValueError, match="lone surrogate"):
            look("k\ud800")
    with pytest.raises(TypeError, match="not int"):
        ring.lookup_many(["a", 5])  # type: ignore[list-item]


@pytest.mark.parametrize("bad", [1, 1.5, None, ["a"], {"a": 1}])
def test_non_str_bytes_is_a_clear_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="str or bytes"):
        fingerprint32(bad)  # type: ignore[arg-type]


# -- batch hashing: the native binding and its fallback give the scalar's values ----------


def test_ci_builds_the_native_batch() -> None:
    """CI installs libfarmhash-dev (.ci/run): there the native part must be built."""
    import os

    if os.environ.get("CI_NATIVE_EXPECTED") == "1":
        assert speedups.BUILT


keys_strategy = st.lists(
    st.text(st.characters(blacklist_categories=["Cs"]), max_size=40), max_size=60
)


@BOTH
@given(keys=keys_strategy)
def test_many_equals_one_by_one(native: bool, keys: list[str]) -> None:
    with native_or_python(native):
        assert fingerprint32_many(keys) == array("I", [fingerprint32(key) for key in keys])


@BOTH
@given(keys=keys_strategy)
def test_blob_equals_one_by_one(native: bool, keys: list[str]) -> None:
    encoded = [key.encode() for key in keys]
    ends = array("I", accumulate(map(len, encoded)))
    expected = array("I", [fingerprint32(key) for key in keys])
    with native_or_python(native):
        assert fingerprint32_blob(b"".join(encoded), ends) == expected
        assert fingerprint32_blob(b"".join(encoded), list(ends)) == expected
        inside = memoryview(b"#" + b"".join(encoded) + b"#")[1:-1]  # a view, as a store keeps
        assert fingerprint32_blob(inside, ends) == expected


@BOTH
@pytest.mark.parametrize(
    ("blob", "ends"),
    [(b"abc", [2, 1]), (b"abc", [4]), (b"abc", [1, 2, 3, 5]), (b"", [1])],
)
def test_blob_ends_out_of_order_or_past_the_blob_are_refused(
    native: bool, blob: bytes, ends: list[int]
) -> None:
    with native_or_python(native), pytest.raises(ValueError, match="end"):
        fingerprint32_blob(blob, ends)


@BOTH
def test_many_refuses_what_the_scalar_refuses(native: bool) -> None:
    with native_or_python(native):
        with pytest.raises(TypeError, match="str"):
            fingerprint32_many(["a", b"b"])  # type: ignore[list-item]
        with pytest.raises(UnicodeEncodeError):
            fingerprint32_many(["a", "\udc80"])
