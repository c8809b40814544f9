"""Labels: the signed checksums of §17.2, the limits and identity rules of §16."""

from __future__ import annotations

import pytest

from ringpop.hashing import fingerprint32
from ringpop.membership import (
    IDENTITY_LABEL,
    LabelError,
    check_identity,
    check_labels,
    identity_of,
    labels_checksum,
    remove_labels,
    set_label,
)


@pytest.mark.parametrize(
    ("labels", "checksum"),
    [
        ({"hello": "world"}, 975109414),
        ({"hello": "world", "foo": "baz"}, -1625122257),
        ({"foo": "baz", "hello": "world"}, -1625122257),  # order-independent
        ({"hello": "goodbye"}, -1215192234),
        ({"__identity": "identity"}, -1005535378),
        ({"__identity": "identity2"}, 906072548),
        ({"__identity": "sut"}, 1197878360),
        ({"__identity": "fake-node"}, -1157038123),
        ({}, 0),
    ],
)
def test_spec_label_checksums(labels: dict[str, str], checksum: int) -> None:
    assert labels_checksum(labels) == checksum


def test_entry_bytes_of_the_spec() -> None:
    entry = bytes.fromhex("0000000568656c6c6f00000005776f726c64")
    assert fingerprint32(entry) == 975109414
    foo = bytes.fromhex("00000003666f6f0000000362617a")
    assert fingerprint32(foo) == 2772199177
    identity = bytes.fromhex("0000000a5f5f6964656e74697479000000086964656e74697479")
    assert fingerprint32(identity) == 3289431918


def test_utf8_lengths_are_in_bytes() -> None:
    labels = {"clé": "värde"}
    key, value = "clé".encode(), "värde".encode()
    raw = len(key).to_bytes(4, "big") + key + len(value).to_bytes(4, "big") + value
    unsigned = fingerprint32(raw)
    assert labels_checksum(labels) == (unsigned - 2**32 if unsigned >= 2**31 else unsigned)


def test_set_label_limits() -> None:
    labels = set_label({}, "k" * 32, "v" * 128)
    assert labels == {"k" * 32: "v" * 128}
    with pytest.raises(LabelError, match="longer than 32 bytes"):
        set_label({}, "k" * 33, "v")
    with pytest.raises(LabelError, match="longer than 128 bytes"):
        set_label({}, "k", "v" * 129)
    with pytest.raises(LabelError, match="longer than 32 bytes"):
        set_label({}, "é" * 17, "v")  # 34 bytes, 17 characters


@pytest.mark.parametrize(("key", "value"), [("k\ud800", "v"), ("k", "v\udfff")])
def test_text_utf8_cannot_carry_is_a_label_error(key: str, value: str) -> None:
    """A lone surrogate was a bare UnicodeEncodeError from deep in the size check."""
    with pytest.raises(LabelError, match="lone surrogate"):
        set_label({}, key, value)
    with pytest.raises(LabelError, match="lone surrogate"):
        check_labels({key: value})


def test_at_most_five_public_labels_internal_not_counted() -> None:
    labels: dict[str, str] = {IDENTITY_LABEL: "sut"}
    for i in range(5):
        labels = set_label(labels, f"k{i}", "v")
    with pytest.raises(LabelError, match="at most 5 labels"):
        set_label(labels, "k5", "v")
    assert set_label(labels, "k0", "changed")["k0"] == "changed"  # replacing is fine
    assert set_label(labels, "__other", "x", internal=True)["__other"] == "x"


def test_internal_labels_need_the_internal_flag() -> None:
    with pytest.raises(LabelError, match="internal"):
        set_label({}, IDENTITY_LABEL, "sut")
    with pytest.raises(LabelError, match="internal"):
        remove_labels({IDENTITY_LABEL: "sut"}, [IDENTITY_LABEL])
    assert remove_labels({IDENTITY_LABEL: "sut"}, [IDENTITY_LABEL], internal=True) == {}


def test_set_and_remove_return_copies() -> None:
    original = {"a": "1"}
    assert set_label(original, "b", "2") == {"a": "1", "b": "2"}
    assert remove_labels(original, ["a", "missing"]) == {}
    assert original == {"a": "1"}


def test_check_labels() -> None:
    check_labels({IDENTITY_LABEL: "sut", "a": "b"})
    with pytest.raises(LabelError, match="more than 5"):
        check_labels({f"k{i}": "v" for i in range(6)})
    with pytest.raises(LabelError, match="must be strings"):
        check_labels({"a": 1})  # type: ignore[dict-item]
    with pytest.raises(LabelError, match="look like an address"):
        check_labels({IDENTITY_LABEL: "127.0.0.1:3000"})


@pytest.mark.parametrize("bad", ["127.0.0.1:3000", "10.0.0.1:1", "1a2b3c4:5", "", "\udcff"])
def test_identity_must_not_look_like_an_address(bad: str) -> None:
    with pytest.raises(LabelError):
        check_identity(bad)
    with pytest.raises(LabelError):
        set_label({}, IDENTITY_LABEL, bad, internal=True)


@pytest.mark.parametrize("good", ["sut", "fake-node", "host:3000", "127.0.0.1", "a.b.c:d"])
def test_valid_identities(good: str) -> None:
    check_identity(good)


def test_identity_of() -> None:
    assert identity_of({IDENTITY_LABEL: "sut"}, "127.0.0.1:3000") == "sut"
    assert identity_of({}, "127.0.0.1:3000") == "127.0.0.1:3000"


def test_removing_a_key_that_is_not_a_string_is_a_label_error() -> None:
    """``rp.remove_labels(["a"])`` (a list for the variadic keys) raised AttributeError."""
    with pytest.raises(LabelError, match="label keys are strings"):
        remove_labels({"a": "1"}, [["a"]])  # type: ignore[list-item]
    with pytest.raises(LabelError, match="label keys are strings"):
        remove_labels({"a": "1"}, [5])  # type: ignore[list-item]
