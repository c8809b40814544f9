"""Delete markers are forgotten after their time to live, and only then."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringpop.clock import ManualClock
from ringpop.state.hlc import Version
from ringpop.state.memory import MemoryStore
from ringpop.state.sqlite import SQLiteStore
from ringpop.state.store import Record, Store
from ringpop.state.tombstones import TombstoneCollector


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "n.db")


def at(key: str, value: bytes | None, seconds: float) -> Record:
    return Record(key, value, Version(int(seconds * 1000), 0, "n"))


async def test_markers_older_than_the_ttl_are_forgotten_live_values_never(store: Store) -> None:
    now = 1_000_000.0
    clock = ManualClock(start_ms=int(now * 1000))
    collector = TombstoneCollector(store, ttl=60.0, batch=2, clock=clock)
    for i in range(5):
        await store.put(at(f"old-{i}", None, now - 61))
    await store.put(at("young", None, now - 59))
    await store.put(at("ancient-value", b"v", now - 10_000))
    assert await collector.collect() == 5  # in batches of 2
    assert [await store.get(f"old-{i}") for i in range(5)] == [None] * 5
    assert await store.get("young") == at("young", None, now - 59)
    assert await store.get("ancient-value") == at("ancient-value", b"v", now - 10_000)
    clock.advance(2)
    assert await collector.collect() == 1
    assert collector.collected == 6
    await store.close()


async def test_a_replica_that_got_the_marker_within_the_ttl_cannot_bring_the_value_back(
    store: Store,
) -> None:
    """The stale value loses to the marker wherever it meets it, before either is collected."""
    now = 1_000_000.0
    stale = MemoryStore()  # a replica that missed the delete
    await stale.put(at("k", b"old", now - 100))
    await store.put(at("k", None, now - 50))
    # anti-entropy (or a hint) brings the marker to the stale replica within the TTL ...
    marker = await store.get("k")
    assert marker is not None
    await stale.put(marker)
    # ... so after the TTL both forget it, and neither holds the old value
    for replica in (store, stale):
        clock = ManualClock(start_ms=int(now * 1000))
        await TombstoneCollector(replica, ttl=30.0, clock=clock).collect()
        assert await replica.get("k") is None
    # and the old value, if it arrives late, is what it is: a write older than the delete
    assert await stale.put(at("k", b"old", now - 100))  # accepted: the marker is gone
    await store.close()


def test_a_store_without_collection_is_refused() -> None:
    with pytest.raises(TypeError):
        TombstoneCollector(object())  # type: ignore[arg-type]
