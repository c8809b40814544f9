"""``ringpop-forward-keys`` in arg2 for each arg scheme (spec §5.9)."""

from __future__ import annotations

import struct

import msgspec
import pytest

from ringpop.forward import FORWARD_KEYS_HEADER, ForwardError, add_forward_keys, forwarded_keys
from ringpop.tchannel import Request


def call(scheme: str, arg2: bytes) -> Request:
    return Request("app", b"/endpoint", arg2, b"", {"as": scheme, "cn": "caller"}, "x:1", 1.0)


def thrift(*pairs: tuple[str, str]) -> bytes:
    out = [struct.pack(">H", len(pairs))]
    for key, value in pairs:
        k, v = key.encode(), value.encode()
        out.append(struct.pack(">H", len(k)) + k + struct.pack(">H", len(v)) + v)
    return b"".join(out)


@pytest.mark.parametrize("arg2", [b"", b"  ", b"null", b"{}"])
def test_json_marker_on_empty_headers(arg2: bytes) -> None:
    marked = add_forward_keys("json", arg2, ["a", "b"])
    assert msgspec.json.decode(marked) == {FORWARD_KEYS_HEADER: '["a","b"]'}
    keys, rest = forwarded_keys(call("json", marked))
    assert keys == ["a", "b"]
    assert rest == b""


def test_json_marker_keeps_other_headers_and_replaces_an_old_marker() -> None:
    arg2 = msgspec.json.encode({"trace": "t1", FORWARD_KEYS_HEADER: '["old"]'})
    marked = add_forward_keys("json", arg2, ["new"])
    headers = msgspec.json.decode(marked)
    assert headers == {"trace": "t1", FORWARD_KEYS_HEADER: '["new"]'}
    keys, rest = forwarded_keys(call("json", marked))
    assert keys == ["new"]
    assert msgspec.json.decode(rest) == {"trace": "t1"}


def test_thrift_marker() -> None:
    arg2 = thrift(("trace", "t1"), ("x", ""))
    marked = add_forward_keys("thrift", arg2, ["k1", "ключ"])
    assert marked[:2] == b"\x00\x03"
    keys, rest = forwarded_keys(call("thrift", marked))
    assert keys == ["k1", "ключ"]
    assert rest == arg2
    # the default empty thrift arg2 (no headers, "00 00") and a missing arg2
    for empty in (b"", b"\x00\x00"):
        keys, rest = forwarded_keys(call("thrift", add_forward_keys("thrift", empty, ["k"])))
        assert keys == ["k"]
        assert rest == b"\x00\x00"


def test_thrift_marker_replaces_an_old_one() -> None:
    arg2 = thrift((FORWARD_KEYS_HEADER, '["old"]'), ("a", "b"))
    keys, rest = forwarded_keys(call("thrift", add_forward_keys("thrift", arg2, ["new"])))
    assert keys == ["new"]
    assert rest == thrift(("a", "b"))


def test_raw_calls_cannot_be_marked() -> None:
    assert add_forward_keys("raw", b"opaque", ["k"]) == b"opaque"
    assert forwarded_keys(call("raw", b"opaque")) == (None, b"opaque")


def test_unmarked_calls() -> None:
    assert forwarded_keys(call("json", b'{"a":"b"}')) == (None, b'{"a":"b"}')
    assert forwarded_keys(call("thrift", thrift(("a", "b")))) == (None, thrift(("a", "b")))
    assert forwarded_keys(call("", b"")) == (None, b"")


@pytest.mark.parametrize(
    ("scheme", "arg2"),
    [("json", b"[1, 2]"), ("json", b"{not json"), ("thrift", b"\x00\x05\x00")],
)
def test_unmarkable_arg2_is_an_error(scheme: str, arg2: bytes) -> None:
    with pytest.raises(ForwardError, match=FORWARD_KEYS_HEADER):
        add_forward_keys(scheme, arg2, ["k"])


@pytest.mark.parametrize(
    ("scheme", "arg2"), [("json", b"{not json"), ("thrift", b"\x00\x01\x00\x10short")]
)
def test_garbled_headers_count_as_unmarked(scheme: str, arg2: bytes) -> None:
    assert forwarded_keys(call(scheme, arg2)) == (None, arg2)


@pytest.mark.parametrize(
    ("marker", "keys"),
    [
        ('["a", 5, null, "b"]', ["a", "b"]),
        ("not json", []),
        ('{"a": 1}', []),
        ('"a"', []),
        (["a", 7], ["a"]),
        (42, []),
    ],
)
def test_unusable_marker_still_marks_the_call_forwarded(marker: object, keys: list[str]) -> None:
    # The header's presence marks a forwarded call (as in ringpop-go, which never reads
    # its value) and stops forwarding loops; its keys are read liberally (§1.1).
    arg2 = msgspec.json.encode({FORWARD_KEYS_HEADER: marker, "trace": "t"})
    assert forwarded_keys(call("json", arg2)) == (keys, b'{"trace":"t"}')
    if isinstance(marker, str):
        marked = thrift((FORWARD_KEYS_HEADER, marker))
        assert forwarded_keys(call("thrift", marked)) == (keys, b"\x00\x00")


def test_keys_are_one_key_or_a_list_of_them() -> None:
    """``rp.forward(None, ...)`` was "'NoneType' object is not iterable" and a ``bytes``
    key was iterated as ints ("not int: 107")."""
    from ringpop.forward.ownership import key_list

    assert key_list("k") == ["k"]
    assert key_list(("a", "b")) == ["a", "b"]
    assert key_list(k for k in "ab") == ["a", "b"]
    for bad in (None, 5, b"k"):
        with pytest.raises(TypeError, match="keys must be a key"):
            key_list(bad)  # type: ignore[arg-type]
