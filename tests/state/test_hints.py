"""Hinted handoff: writes a stopped replica missed reach it when it comes back (TCP)."""

from __future__ import annotations

import pytest

from ringpop.state.hints import HintBuffer
from ringpop.state.hlc import Version
from ringpop.state.replicator import QuorumError, ReplicaOptions
from ringpop.state.store import Record
from tests.forward.conftest import until
from tests.state.cluster import by_address, close_all, cluster, holders, restart


def rec(key: str, wall: int) -> Record:
    return Record(key, b"v%d" % wall, Version(wall, 0, "a"))


def test_buffer_keeps_the_newest_per_key_and_acks_only_what_was_sent() -> None:
    buffer = HintBuffer(max_per_target=2)
    assert buffer.add("t", [rec("a", 1), rec("a", 3), rec("a", 2), rec("b", 1)]) == 3
    assert buffer.held("t") == [rec("a", 3), rec("b", 1)]
    assert buffer.add("t", [rec("c", 1)]) == 0  # full for this target
    assert buffer.dropped == 1
    sent = buffer.take("t", 10)
    buffer.add("t", [rec("a", 4)])  # a newer write while the batch was in flight
    assert buffer.ack("t", sent) == 1
    assert buffer.held("t") == [rec("a", 4)]
    assert buffer.ack("t", [rec("a", 4)]) == 1
    assert buffer.targets() == []
    assert len(buffer) == 0


def test_the_buffer_holds_hints_for_at_most_max_targets_nodes() -> None:
    """A peer naming a new target in every /state/hint grew the buffer without bound."""
    buffer = HintBuffer(max_targets=2)
    assert buffer.add("10.0.0.1:1", [rec("a", 1)]) == 1
    assert buffer.add("10.0.0.2:1", [rec("a", 1)]) == 1
    assert buffer.add("10.0.0.3:1", [rec("a", 1), rec("b", 1)]) == 0
    assert buffer.dropped == 2
    assert buffer.add("10.0.0.1:1", [rec("b", 1)]) == 1  # a known target still takes more
    buffer.ack("10.0.0.2:1", [rec("a", 1)])  # delivered: room for another target
    assert buffer.add("10.0.0.4:1", []) == 0  # nothing to hold: takes no target's room
    assert buffer.add("10.0.0.3:1", [rec("a", 1)]) == 1
    assert sorted(buffer.targets()) == ["10.0.0.1:1", "10.0.0.3:1"]
    assert len(buffer._held) == 2


SLOPPY = ReplicaOptions(n=3, r=2, w=3, timeout=1.0, sloppy_quorum=True)


async def test_sloppy_quorum_holds_a_hint_outside_and_delivers_it_on_return() -> None:
    nodes = await cluster(4, SLOPPY)
    live = list(nodes)
    try:
        key = "user:7"
        replicas = nodes[0].member.rp.lookup_n(key, 3)
        (outsider,) = [n for n in nodes if n.address not in replicas]
        coordinator, victim = by_address(nodes)[replicas[0]], by_address(nodes)[replicas[1]]
        await victim.member.rp.close(self_evict=False)
        live.remove(victim)
        version = await coordinator.kv.put(key, b"hello")  # 2 replicas + 1 hint = w
        assert outsider.kv.handoff.buffer.held(victim.address) == [Record(key, b"hello", version)]
        assert await victim.store.get(key) is None
        back = await restart(victim, live, SLOPPY)
        live.append(back)
        await until(lambda: not len(outsider.kv.handoff.buffer), timeout=10.0)
        assert await back.store.get(key) == Record(key, b"hello", version)
        assert await holders(live, key) == set(replicas)  # the outsider kept no copy
        assert outsider.kv.handoff.delivered == 1
    finally:
        await close_all(live)


async def test_strict_quorum_fails_but_the_write_still_reaches_the_replica() -> None:
    options = ReplicaOptions(n=3, r=1, w=3, timeout=1.0)
    nodes = await cluster(3, options)
    live = list(nodes)
    try:
        victim = nodes[2]
        await victim.member.rp.close(self_evict=False)
        live.remove(victim)
        with pytest.raises(QuorumError, match=r"'k' \(2 of 3\)"):
            await nodes[0].kv.put("k", b"v")
        # no server outside the preference list: the coordinator holds the hint
        assert [r.key for r in nodes[0].kv.handoff.buffer.held(victim.address)] == ["k"]
        back = await restart(victim, live, options)
        live.append(back)
        await until(lambda: not len(nodes[0].kv.handoff.buffer), timeout=10.0)
        assert await back.store.get("k") is not None
    finally:
        await close_all(live)


async def test_hints_for_a_departed_node_go_to_the_current_replicas() -> None:
    options = ReplicaOptions(n=2, r=1, w=2, timeout=1.0)
    nodes = await cluster(3, options)
    try:
        record = Record("orphan", b"x", nodes[0].kv.clock.now())
        nodes[0].kv.handoff.hold("127.0.0.1:1", [record])  # not in the ring (any more)
        await until(lambda: not len(nodes[0].kv.handoff.buffer), timeout=10.0)
        assert await holders(nodes, "orphan") == set(nodes[0].member.rp.lookup_n("orphan", 2))
    finally:
        await close_all(nodes)


@pytest.mark.parametrize("hint_interval", [0.0, -1.0, float("nan"), float("inf")])
async def test_a_hint_interval_that_would_spin_or_never_run_is_refused(
    hint_interval: float,
) -> None:
    """0 would deliver hints in a loop that never sleeps: refused when the store is made."""
    from ringpop.state.memory import MemoryStore
    from ringpop.state.replicated import ReplicatedStore

    [node] = await cluster(1, ReplicaOptions(n=1, r=1, w=1, timeout=2.0))
    try:
        with pytest.raises(
            ValueError, match="hinted handoff interval must be a positive, finite number of seconds"
        ):
            ReplicatedStore(node.member.rp, MemoryStore(), hint_interval=hint_interval)
    finally:
        await close_all([node])


def test_a_negative_hint_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="max_per_target"):
        HintBuffer(max_per_target=-1)
    with pytest.raises(ValueError, match="max_targets"):
        HintBuffer(max_targets=-1)
