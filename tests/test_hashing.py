"""FarmHash Fingerprint32 against every vector of spec §17.1."""

from __future__ import annotations

import pytest

from ringpop.hashing import fingerprint32

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


@pytest.mark.parametrize("bad", [1, 1.5, None, ["a"], {"a": 1}])
def test_non_str_bytes_is_a_clear_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="str or bytes"):
        fingerprint32(bad)  # type: ignore[arg-type]
