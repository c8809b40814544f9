"""Labels and identity through the facade, gossiped between real nodes (spec §16)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from ringpop import Options, Ringpop
from ringpop.membership.labels import LabelError

FAST = Options(min_protocol_period=0.05)


async def _converged(nodes: list[Ringpop], predicate: object, timeout: float = 10.0) -> None:
    """Poll ``predicate`` (state of other nodes) every 50 ms, at most ``timeout`` seconds."""
    assert callable(predicate)
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not converged in {timeout} s: {[n.node.checksum for n in nodes]}")


@pytest.fixture
async def cluster() -> AsyncIterator[list[Ringpop]]:
    nodes = [Ringpop("labels-test", "127.0.0.1:0", options=FAST) for _ in range(3)]
    addresses = [await n.start() for n in nodes]
    await asyncio.gather(*(n.bootstrap(addresses) for n in nodes))
    yield nodes
    await asyncio.gather(*(n.close(self_evict=False) for n in nodes))


async def test_labels_spread_and_select_members(cluster: list[Ringpop]) -> None:
    a, b, c = cluster
    incarnation = a.node.local.incarnation
    a.set_label("role", "cache")
    b.set_label("role", "cache")
    b.set_label("zone", "z1")
    assert a.labels() == {"role": "cache"}
    assert a.node.local.incarnation > incarnation  # setting a label reincarnates
    await _converged(
        cluster, lambda: c.members({"role": "cache"}) == sorted([a.whoami(), b.whoami()])
    )
    assert c.members({"role": "cache", "zone": "z1"}) == [b.whoami()]
    b.remove_labels("role")
    await _converged(cluster, lambda: c.members({"role": "cache"}) == [a.whoami()])
    await _converged(cluster, lambda: len({n.node.checksum for n in cluster}) == 1)


async def test_label_limits(cluster: list[Ringpop]) -> None:
    a = cluster[0]
    with pytest.raises(LabelError, match="internal"):
        a.set_label("__identity", "x")
    with pytest.raises(LabelError):
        a.set_label("k" * 33, "v")
    with pytest.raises(LabelError):
        a.set_label("k", "v" * 129)
    for i in range(5):
        a.set_label(f"k{i}", "v")
    with pytest.raises(LabelError, match="at most 5"):
        a.set_label("k5", "v")


async def test_labels_of_the_wrong_type_say_so(cluster: list[Ringpop]) -> None:
    """``set_label(1, "v")`` was an AttributeError ('int' has no 'startswith') and
    ``members("role")`` a ValueError about dictionary update sequences."""
    a = cluster[0]
    with pytest.raises(LabelError, match="must be strings"):
        a.set_label(1, "v")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="labels must be a mapping"):
        a.members("role")  # type: ignore[arg-type]
    assert a.labels() == {}


async def test_identity_sets_replica_points() -> None:
    rp = Ringpop("labels-test", "127.0.0.1:0", identity="cache-a", options=FAST)
    address = await rp.start()
    try:
        assert rp.labels() == {"__identity": "cache-a"}
        assert rp.node.ring.identity_of(address) == "cache-a"
        assert rp.node.ring.lookup("cache-a#3") == address
    finally:
        await rp.close(self_evict=False)
    with pytest.raises(LabelError, match="address"):
        Ringpop("labels-test", "127.0.0.1:0", identity="10.0.0.1:3000")
