"""The ring vectors of spec §17.4 and the API contract of issue 2."""

from __future__ import annotations

import pytest

from ringpop.hashing import fingerprint32
from ringpop.ring import HashRing, RingChange

A, B, C = "127.0.0.1:3000", "127.0.0.1:3001", "127.0.0.1:3002"


@pytest.fixture
def ring() -> HashRing:
    r = HashRing()
    r.add_remove_servers([A, B, C], [])
    return r


@pytest.mark.parametrize(
    ("key", "owner", "three"),
    [
        ("hello", C, [C, A, B]),
        ("world", B, [B, A, C]),
        ("127.0.0.1:30000", A, [A, B, C]),
        ("key1", B, [B, A, C]),
        ("", C, [C, B, A]),
    ],
)
def test_spec_lookups(ring: HashRing, key: str, owner: str, three: list[str]) -> None:
    assert ring.lookup(key) == owner
    assert ring.lookup(key.encode()) == owner
    assert ring.lookup_n(key, 3) == three
    assert ring.lookup_n(key, 1) == [owner]
    assert ring.lookup_n(key, 10) == three


def test_spec_checksums(ring: HashRing) -> None:
    assert ring.checksum == 742371003
    assert ring.checksum == fingerprint32(f"{A};{B};{C}")
    assert ring.replica_checksum == 742916552
    assert ring.checksums() == {"legacy": 742371003, "replica": 742916552}


def test_spec_first_points(ring: HashRing) -> None:
    assert ring.points()[:3] == [(8127232, B, 21), (64012828, C, 78), (67296381, C, 65)]
    assert len(ring.points()) == 300


def test_identity_vectors() -> None:
    ring = HashRing()
    ring.add_server(A, identity="sut")
    ring.add_server(B)
    ring.add_server(C)
    assert ring.lookup("hello") == C
    assert ring.lookup("world") == B
    assert ring.lookup("sut#5") == A
    assert ring.checksum == 4208037436
    assert ring.identity_of(A) == "sut"
    assert ring.identity_of(B) == B
    assert ring.identity_of("10.0.0.1:1") is None


def test_identity_equal_to_address_is_plain_address(ring: HashRing) -> None:
    other = HashRing()
    other.add_remove_servers([(A, A), B, (C, None)], [])
    assert other.points() == ring.points()
    assert other.checksum == ring.checksum


def test_empty_ring() -> None:
    ring = HashRing()
    assert ring.lookup("hello") is None
    assert ring.lookup_n("hello", 3) == []
    assert ring.checksum == 3696677242
    assert ring.server_count == 0
    assert ring.servers() == []
    assert ring.lookup_many(["a", "b"]) == [None, None]


def test_queries(ring: HashRing) -> None:
    assert ring.server_count == len(ring) == 3
    assert ring.servers() == [A, B, C]
    assert list(ring) == [A, B, C]
    assert ring.has_server(A)
    assert A in ring
    assert not ring.has_server("127.0.0.1:9")


def test_replica_points_configurable() -> None:
    ring = HashRing(replica_points=7)
    ring.add_server(A)
    assert len(ring.points()) == 7
    assert {index for _, _, index in ring.points()} == set(range(7))
    for wrong in (0, True, 10_001, 10**12):  # 10**12 took the ring forever to build
        with pytest.raises(ValueError, match=r"replica_points must be a whole number 1\.\.10000"):
            HashRing(replica_points=wrong)


def test_add_twice_and_remove_unknown_are_reported_no_ops(ring: HashRing) -> None:
    before = (ring.checksum, ring.replica_checksum, ring.points())
    seen: list[RingChange] = []
    ring.add_listener(seen.append)
    assert ring.add_server(A) is False
    assert ring.remove_server("127.0.0.1:9999") is False
    assert ring.add_remove_servers([A], ["10.0.0.1:1"]) == ([], [])
    assert (ring.checksum, ring.replica_checksum, ring.points()) == before
    assert seen == []


def test_listener_sees_each_change(ring: HashRing) -> None:
    seen: list[RingChange] = []
    ring.add_listener(seen.append)
    assert ring.add_server("127.0.0.1:3003") is True
    assert ring.remove_server(A) is True
    assert ring.add_remove_servers([A], [B]) == ([A], [B])
    assert [(c.added, c.removed) for c in seen] == [
        (("127.0.0.1:3003",), ()),
        ((), (A,)),
        ((A,), (B,)),
    ]
    assert seen[-1].checksum == ring.checksum
    ring.remove_listener(seen.append)
    ring.remove_server(C)
    assert len(seen) == 3


@pytest.mark.parametrize("bad", [1, None, 2.5, ("a",), object()])
def test_bad_keys_raise_clear_type_errors(ring: HashRing, bad: object) -> None:
    with pytest.raises(TypeError, match="keys must be str or bytes"):
        ring.lookup(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="keys must be str or bytes"):
        ring.lookup_n(bad, 2)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="keys must be str or bytes"):
        ring.lookup_many(["ok", bad])  # type: ignore[list-item]


@pytest.mark.parametrize("one", ["user:42", b"user:42"])
def test_lookup_many_of_one_key_says_so(ring: HashRing, one: str | bytes) -> None:
    """``lookup_many("user:42")`` answered the owners of "u", "s", "e", ..."""
    with pytest.raises(TypeError, match="takes a list of keys, not one key"):
        ring.lookup_many(one)  # type: ignore[arg-type]


@pytest.mark.parametrize("n", [0, -1])
def test_lookup_n_needs_positive_n(ring: HashRing, n: int) -> None:
    with pytest.raises(ValueError, match="n >= 1"):
        ring.lookup_n("hello", n)


def test_bad_server_addresses(ring: HashRing) -> None:
    with pytest.raises(TypeError, match="str"):
        ring.add_server(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="str"):
        ring.remove_server(None)  # type: ignore[arg-type]


def test_lookup_many_matches_lookup(ring: HashRing) -> None:
    keys: list[str | bytes] = [f"key-{i}" for i in range(2000)]
    keys += [b"raw", ""]
    assert ring.lookup_many(keys) == [ring.lookup(k) for k in keys]
    ring.add_server("127.0.0.1:3003")
    assert ring.lookup_many(keys) == [ring.lookup(k) for k in keys]


def test_servers_no_ring_point_can_name_are_refused_and_one_address_is_one_server() -> None:
    """``add_remove_servers("a:1", ...)`` added the servers "a", ":" and "1"; an empty
    address was taken; a lone surrogate was a bare UnicodeEncodeError."""
    ring = HashRing()
    assert ring.add_remove_servers("10.0.0.1:1", ()) == (["10.0.0.1:1"], [])
    assert ring.add_remove_servers((), "10.0.0.1:1") == ([], ["10.0.0.1:1"])
    with pytest.raises(ValueError, match="server address must not be empty"):
        ring.add_server("")
    with pytest.raises(ValueError, match=r"server address .* holds a lone surrogate"):
        ring.add_server("\udce9")
    with pytest.raises(TypeError, match="identity must be a str, not 5"):
        ring.add_server("10.0.0.2:1", 5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"server address must be a str, not b.10\.0\.0\.2:1."):
        ring.add_server(b"10.0.0.2:1")  # type: ignore[arg-type]
    assert ring.servers() == []
