"""Property tests: the ring against a brute-force reference over the same points."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ringpop.hashing import fingerprint32
from ringpop.ring import HashRing

REPLICAS = 5  # few points per server make hash ties and wrap-around reachable

addresses = st.builds(
    lambda a, b, port: f"10.{a}.{b}.1:{port}",
    st.integers(0, 3),
    st.integers(0, 3),
    st.integers(1, 40),
)
server_sets = st.sets(addresses, min_size=1, max_size=12)
keys = st.one_of(st.text(max_size=20), st.binary(max_size=20))


def reference_points(servers: set[str]) -> list[tuple[int, str, int]]:
    """Every point as (hash, address, index), sorted the way spec §13.2 orders them."""
    return sorted((fingerprint32(f"{s}{i}"), s, i) for s in servers for i in range(REPLICAS))


def reference_lookup_n(servers: set[str], key: str | bytes, n: int) -> list[str]:
    points = reference_points(servers)
    h = fingerprint32(key)
    start = next((i for i, p in enumerate(points) if p[0] >= h), 0)
    order: list[str] = []
    for step in range(len(points)):
        address = points[(start + step) % len(points)][1]
        if address not in order:
            order.append(address)
    return order[:n]


def build(servers: set[str]) -> HashRing:
    ring = HashRing(replica_points=REPLICAS)
    ring.add_remove_servers(sorted(servers), [])
    return ring


@given(server_sets, st.lists(keys, max_size=20))
def test_lookup_equals_brute_force(servers: set[str], sample: list[str | bytes]) -> None:
    ring = build(servers)
    assert ring.points() == reference_points(servers)
    for key in sample:
        assert ring.lookup(key) == reference_lookup_n(servers, key, 1)[0]


@given(server_sets, keys, st.integers(1, 15))
def test_lookup_n_is_distinct_ring_order_from_owner(
    servers: set[str], key: str | bytes, n: int
) -> None:
    ring = build(servers)
    got = ring.lookup_n(key, n)
    assert got == reference_lookup_n(servers, key, n)
    assert len(got) == len(set(got)) == min(n, len(servers))
    assert got[0] == ring.lookup(key)


@given(server_sets, addresses)
def test_add_then_remove_restores_checksums(servers: set[str], extra: str) -> None:
    ring = build(servers - {extra})
    before = (ring.checksum, ring.replica_checksum, ring.points())
    assert ring.add_server(extra)
    assert ring.remove_server(extra)
    assert (ring.checksum, ring.replica_checksum, ring.points()) == before


@settings(max_examples=60)
@given(server_sets, server_sets, st.lists(keys, max_size=10))
def test_batch_and_one_by_one_agree(
    first: set[str], second: set[str], sample: list[str | bytes]
) -> None:
    batch = build(first)
    single = build(first)
    add, remove = sorted(second - first), sorted(first - second)
    batch.add_remove_servers(add, remove)
    for address in remove:
        single.remove_server(address)
    for address in add:
        single.add_server(address)
    fresh = build(second)
    for ring in (batch, single):
        assert ring.points() == fresh.points()
        assert ring.checksum == fresh.checksum
        assert ring.replica_checksum == fresh.replica_checksum
        assert [ring.lookup(k) for k in sample] == [fresh.lookup(k) for k in sample]


@settings(max_examples=40)
@given(st.lists(st.tuples(st.booleans(), addresses), max_size=40), st.lists(keys, max_size=10))
def test_incremental_churn_matches_fresh_build(
    steps: list[tuple[bool, str]], sample: list[str | bytes]
) -> None:
    ring = HashRing(replica_points=REPLICAS)
    live: set[str] = set()
    for add, address in steps:
        if add:
            assert ring.add_server(address) is (address not in live)
            live.add(address)
        else:
            assert ring.remove_server(address) is (address in live)
            live.discard(address)
    fresh = build(live) if live else HashRing(replica_points=REPLICAS)
    assert ring.points() == fresh.points()
    assert ring.checksum == fresh.checksum
    assert [ring.lookup(k) for k in sample] == [fresh.lookup(k) for k in sample]
    assert ring.lookup_many(sample) == [fresh.lookup(k) for k in sample]


def test_forced_ties_follow_address_then_index_order() -> None:
    """Two servers whose replica strings coincide share every point hash."""
    # "10.0.0.1:1" + "23" and "10.0.0.1:12" + "3" are the same string.
    ring = HashRing(replica_points=40)
    ring.add_server("10.0.0.1:12")
    ring.add_server("10.0.0.1:1")
    h = fingerprint32("10.0.0.1:123")
    tied = [p for p in ring.points() if p[0] == h]
    assert tied == [(h, "10.0.0.1:1", 23), (h, "10.0.0.1:12", 3)]
    assert ring.lookup("10.0.0.1:123") == "10.0.0.1:1"
    ring.remove_server("10.0.0.1:1")
    assert ring.lookup("10.0.0.1:123") == "10.0.0.1:12"
    ring.add_server("10.0.0.1:1")
    assert ring.lookup("10.0.0.1:123") == "10.0.0.1:1"


@settings(max_examples=15, deadline=None)
@given(st.sets(st.integers(1, 400), min_size=64, max_size=120), st.lists(keys, max_size=20))
def test_a_bulk_build_equals_adding_one_by_one(ports: set[int], sample: list[str | bytes]) -> None:
    """64 servers or more at once take the one-pass build: the same ring as one by one.

    With 30 points each, "10.0.0.1:1" + "23" and "10.0.0.1:12" + "3" are one string:
    servers whose ports share leading digits tie on points.
    """
    ports |= {1, 12}  # "10.0.0.1:1" + "2x" is "10.0.0.1:12" + "x": ten ties at least
    servers = [f"10.0.0.1:{port}" for port in sorted(ports)]
    bulk = HashRing(replica_points=30)
    bulk.add_remove_servers(servers, [])
    single = HashRing(replica_points=30)
    for address in servers:
        single.add_server(address)
    points = bulk.points()
    assert len({h for h, _, _ in points}) < len(points)  # ties are exercised
    assert points == single.points()
    assert (bulk.checksum, bulk.replica_checksum) == (single.checksum, single.replica_checksum)
    probes = [*sample, *(f"10.0.0.1:{p}" for p in sorted(ports)[:20])]  # tied hashes too
    assert [bulk.lookup(k) for k in probes] == [single.lookup(k) for k in probes]
    assert [bulk.lookup_n(k, 3) for k in probes] == [single.lookup_n(k, 3) for k in probes]
