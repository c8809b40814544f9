"""Replicated keys over real TCP: 3-4 in-process Ringpop nodes on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from ringpop import Ringpop
from ringpop.errors import RingpopError
from ringpop.forward import forwarded_keys
from ringpop.state.hlc import Version
from ringpop.state.memory import MemoryStore
from ringpop.state.replicated import ReplicatedStore
from ringpop.state.replicator import Fanout, QuorumError, ReplicaOptions, Replicator
from ringpop.state.sqlite import SQLiteStore
from ringpop.state.store import Record
from ringpop.tchannel import Request, Response
from tests.forward.conftest import Member, start_members
from tests.state.cluster import (
    EVERYTHING,
    STEADY,
    Node,
    by_address,
    close_all,
    cluster,
    holders,
    settled_holders,
)


@pytest.fixture
async def four() -> AsyncIterator[list[Node]]:
    nodes = await cluster(4, ReplicaOptions(n=3, r=2, w=2, timeout=2.0))
    try:
        yield nodes
    finally:
        await close_all(nodes)


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"n": 0}, "r, w <= n"),
        ({"r": 4}, "r, w <= n"),
        ({"w": 0}, "r, w <= n"),
        ({"timeout": 0.0}, "positive, finite"),
        ({"timeout": float("nan")}, "positive, finite"),
        ({"timeout": float("inf")}, "positive, finite"),
        ({"n": float("inf")}, "n must be a whole number"),
        ({"r": True}, "r must be a whole number"),
        ({"fanout": "sideways"}, "fanout must be one of 'parallel', 'serial', 'balanced'"),
        ({"fanout": 0}, "fanout must be one of"),
        ({"hinted_handoff": 1}, "hinted_handoff must be True or False"),
    ],
)
def test_replica_options_refuse_what_cannot_work(fields: dict[str, float], why: str) -> None:
    with pytest.raises((ValueError, TypeError), match=why):
        ReplicaOptions(**fields)  # type: ignore[arg-type]


def test_a_fanout_named_by_its_value_is_that_fanout() -> None:
    """fanout="parallel" (a plain str) was neither PARALLEL nor BALANCED: reads went serial."""
    for fanout in Fanout:
        assert ReplicaOptions(fanout=fanout.value).fanout is fanout  # type: ignore[arg-type]


async def test_quorum_write_lands_on_the_preference_list(four: list[Node]) -> None:
    key = "user:42"
    version = await four[0].kv.put(key, b"hello")
    replicas = four[0].member.rp.lookup_n(key, 3)
    assert len(await holders(four, key)) >= 2  # w = 2 when put returns
    assert await settled_holders(four, key, set(replicas)) == set(replicas)
    for node in four:  # any node reads it back
        record = await node.kv.get(key)
        assert record is not None
        assert (record.value, record.version) == (b"hello", version)
    await four[3].kv.delete(key)
    assert await four[1].kv.get(key) is None


async def test_keys_are_grouped_per_destination(four: list[Node]) -> None:
    values = {f"key-{i}": str(i).encode() for i in range(30)}
    await four[1].kv.put_many(values)
    rp = four[0].member.rp

    async def stored() -> list[tuple[set[str], set[str]]]:
        pairs = []
        for node in four:
            page = await node.store.scan(EVERYTHING, limit=100)
            mine = {k for k in values if node.address in rp.lookup_n(k, 3)}
            pairs.append(({r.key for r in page.records}, mine))
        return pairs

    for _ in range(250):  # the write returned at w = 2: the third replicas may still land
        if all(held == mine for held, mine in await stored()):
            break
        await asyncio.sleep(0.02)
    for held, mine in await stored():  # every node stores exactly the keys it replicates
        assert held == mine
    got = await four[2].kv.get_many(list(values))
    assert {k: r.value if r else None for k, r in got.items()} == values


async def test_quorum_not_met_names_the_failed_node() -> None:
    nodes = await cluster(3, ReplicaOptions(n=3, r=2, w=3, timeout=1.0))
    try:
        stopped = nodes[2]
        await stopped.member.rp.close(self_evict=False)
        assert stopped.address in nodes[0].member.rp.lookup_n("k", 3)  # still in the ring
        with pytest.raises(QuorumError) as caught:
            await nodes[0].kv.put("k", b"v", ReplicaOptions(n=3, w=3, hinted_handoff=False))
        error = caught.value
        assert error.operation == "write"
        assert error.missing == {"k": 2}
        assert [f.destination for f in error.failures] == [stopped.address]
        assert f"{stopped.address}: " in str(error)
        assert "write quorum not met for 'k' (2 of 3)" in str(error)
        # two replicas took the write: a read with r=2 meets its quorum
        record = await nodes[1].kv.get("k")
        assert record is not None
        assert record.value == b"v"
    finally:
        await close_all(nodes[:2])


async def test_quorum_larger_than_the_ring_says_so(four: list[Node]) -> None:
    with pytest.raises(QuorumError, match="the ring has only 4 replica"):
        await four[0].kv.put("k", b"v", ReplicaOptions(n=6, w=5))


async def test_read_repair_writes_the_newest_back(four: list[Node]) -> None:
    key = "counter"
    await four[0].kv.put(key, b"1", ReplicaOptions(n=3, w=3))
    replicas = [by_address(four)[a] for a in four[0].member.rp.lookup_n(key, 3)]
    # one replica got a newer write the others missed
    newest = Record(key, b"2", four[0].kv.clock.now())
    assert await replicas[2].store.put(newest)
    reader = four[3]
    record = await reader.kv.get(key, ReplicaOptions(n=3, r=3))
    assert record == newest
    assert reader.kv.repairs == 2
    for replica in replicas:
        assert await replica.store.get(key) == newest
    # a later write by the reader orders after what it read
    assert reader.kv.clock.now() > newest.version


async def test_tombstones_are_repaired_too(four: list[Node]) -> None:
    key = "gone"
    await four[0].kv.put(key, b"x", ReplicaOptions(n=3, w=3))
    replica = by_address(four)[four[0].member.rp.lookup(key)]
    later = four[0].kv.clock.now()
    await replica.store.put(Record(key, None, later))
    assert await four[1].kv.get(key, ReplicaOptions(n=3, r=3)) is None
    assert four[1].kv.repairs == 2
    for node in four:
        held = await node.store.get(key)
        assert held is None or held.version == later


async def test_balanced_reads_spread_and_serial_reads_stop_at_quorum(four: list[Node]) -> None:
    key = "hot"
    await four[0].kv.put(key, b"v", ReplicaOptions(n=3, w=3))
    replicas = [by_address(four)[a] for a in four[0].member.rp.lookup_n(key, 3)]
    for node in four:
        node.store.gets = 0
    balanced = ReplicaOptions(n=3, r=1, fanout=Fanout.BALANCED)
    for _ in range(60):
        assert await four[3].kv.get(key, balanced) is not None
    counts = [r.store.gets for r in replicas]
    assert sum(counts) == 60  # one replica per read
    assert min(counts) >= 8  # every replica took a share
    for node in four:
        node.store.gets = 0
    serial = ReplicaOptions(n=3, r=1, fanout=Fanout.SERIAL)
    for _ in range(5):
        await four[3].kv.get(key, serial)
    assert [r.store.gets for r in replicas] == [5, 0, 0]  # the owner answers first


async def test_versions_come_from_the_coordinator_clock(four: list[Node]) -> None:
    first = await four[0].kv.put("k", b"a")
    second = await four[1].kv.put("k", b"b")
    assert isinstance(first, Version)
    # four[1] never saw the first write: last writer wins on (wall, logical, node)
    winner = max(first, second)
    record = await four[2].kv.get("k", ReplicaOptions(n=3, r=3))
    assert record is not None
    assert record.value == (b"a" if winner == first else b"b")


async def test_replicator_calls_app_endpoints_with_the_go_forward_marker(four: list[Node]) -> None:
    """The generic Replicator: any app endpoint, keys grouped per destination, marked."""
    seen: dict[str, list[tuple[list[str] | None, list[str]]]] = {n.address: [] for n in four}
    for node in four:

        async def echo(request: Request, address: str = node.address) -> Response:
            marked, _ = forwarded_keys(request)
            seen[address].append((marked, request.json()["keys"]))
            return Response.from_json({"by": address})

        node.member.rp.channel.register("app", "echo", echo)
    replicator = Replicator(four[0].member.rp.forwarder, "app", ReplicaOptions(n=2, r=2, w=2))
    keys = [f"k{i}" for i in range(12)]
    responses = await replicator.read(
        keys, "echo", lambda carried: msgspec.json.encode({"keys": list(carried)})
    )
    rp = four[0].member.rp
    assert {r.destination for r in responses} == {a for k in keys for a in rp.lookup_n(k, 2)}
    for response in responses:  # one call per destination, carrying exactly its keys
        ((marked, body),) = seen[response.destination]
        assert marked == body == list(response.keys)
        assert all(response.destination in rp.lookup_n(k, 2) for k in response.keys)
        assert response.response.json() == {"by": response.destination}
    # one key given alone is that key, not its characters ("k", "1", "1")
    alone = await replicator.read("k11", "echo", lambda c: msgspec.json.encode({"keys": list(c)}))
    assert {r.destination for r in alone} == set(rp.lookup_n("k11", 2))
    assert {r.keys for r in alone} == {("k11",)}
    for node in four:
        node.member.rp.channel.register(
            "app", "echo", lambda _: Response.application_error("app.nope", "refused")
        )
    with pytest.raises(QuorumError, match=r"write quorum not met .*: app\.nope: refused"):
        await replicator.write(["k0"], "echo", b"{}")


async def test_sqlite_replicas_keep_their_data_across_a_restart(tmp_path: Path) -> None:
    options = ReplicaOptions(n=3, r=3, w=3, timeout=2.0)
    members = await start_members(3, STEADY)
    stores = [SQLiteStore(tmp_path / f"{i}.db") for i in range(3)]
    kvs = [ReplicatedStore(m.rp, s, options) for m, s in zip(members, stores, strict=True)]
    try:
        versions = await kvs[0].put_many({f"k{i}": b"%d" % i for i in range(20)})
        address = members[2].address
        await kvs[2].close()
        await members[2].rp.close(self_evict=False)
        await stores[2].close()
        stores[2] = SQLiteStore(tmp_path / "2.db")  # the same file, reopened
        rp = Ringpop("forward-test", address, options=STEADY)
        await rp.bootstrap([m.address for m in members])
        members[2] = Member(rp)
        kvs[2] = ReplicatedStore(rp, stores[2], options)
        got = await kvs[2].get_many(list(versions))  # r=3: the restarted replica answers too
        assert {k: r.version if r else None for k, r in got.items()} == versions
        assert kvs[2].repairs == 0  # nothing was stale
    finally:
        for kv in kvs:
            await kv.close()
        await asyncio.gather(*(m.rp.close(self_evict=False) for m in members))
        for store in stores:
            await store.close()


async def test_malformed_replica_calls_are_bad_requests_that_change_nothing(
    four: list[Node], caplog: pytest.LogCaptureFixture
) -> None:
    """/state/get, /state/put and /state/hint answered a body that did not decode
    with 'unexpected' and logged a traceback per call (a peer's mistake, not ours)."""
    from ringpop.tchannel import BadRequestError

    await four[0].kv.put("k", b"v")
    held = await holders(four, "k")
    owner = next(n for n in four if n.address in held)
    before = await owner.store.get("k")
    caller = next(n for n in four if n is not owner).member.rp.channel
    bad = {
        "/state/get": [b"{", b'{"keys": 3}', b'{"keys": [1]}'],
        "/state/put": [
            b'{"records": 1}',
            b'{"records": [{"key": "k", "value": "!!", "version": [1, 0, "n"]}]}',
            b'{"records": [{"key": "k", "value": null, "version": [-1, 0, "n"]}]}',
            b'{"records": [{"key": "k", "value": null, "version": [1, 2e30, "n"]}]}',
            b'{"records": [{"key": "k", "value": null, "version": [1, %d, "n"]}]}' % (1 << 70),
        ],
        "/state/hint": [b'{"target": 5, "records": []}', b'{"records": []}'],
    }
    targets = {  # a hint for a node that cannot exist would be held for nothing
        "/state/hint": [
            b'{"target": "x:y", "records": []}',
            b'{"target": "127.0.0.1:0", "records": []}',
            b'{"target": "' + b"1" * 10_000 + b'", "records": []}',
        ]
    }
    caplog.set_level("ERROR")
    for endpoint, bodies in bad.items():
        for body in bodies:
            with pytest.raises(BadRequestError, match=f"{endpoint}: malformed body"):
                await caller.call(owner.address, "ringpop-state", endpoint, b"", body, timeout=2.0)
    for endpoint, bodies in targets.items():
        for body in bodies:
            with pytest.raises(BadRequestError, match=f"{endpoint}: target: expected"):
                await caller.call(owner.address, "ringpop-state", endpoint, b"", body, timeout=2.0)
    assert await owner.store.get("k") == before
    assert not owner.kv.handoff.buffer.targets()
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_keys_and_values_of_the_wrong_type_are_refused_before_anything_is_sent(
    four: list[Node],
) -> None:
    """A ``bytes`` key went out as its base64 text (stored as 'aw==' on the nodes that
    own b'k'), a ``str`` value was taken as base64 ('dg==' stored b'v')."""
    kv = four[0].kv
    with pytest.raises(TypeError, match="keys must be str, not bytes"):
        await kv.put(b"k", b"v")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be bytes or None, not str"):
        await kv.put("t", "dg==")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="mapping of key to value"):
        await kv.put_many([("a", b"")])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="list of keys"):
        await kv.get_many("abc")
    with pytest.raises(TypeError, match="keys must be str"):
        await kv.get(b"k")  # type: ignore[arg-type]
    for node in four:
        assert not [key for key in ("aw==", "t", "a", "k") if await node.store.get(key)]
    await kv.put("m", memoryview(bytearray(b"held")))  # type: ignore[arg-type]
    record = await kv.get("m")
    assert record is not None
    assert type(record.value) is bytes
    assert record.value == b"held"


async def test_options_and_stores_of_the_wrong_type_are_refused_where_given(
    four: list[Node],
) -> None:
    """A dict of options was taken as is and failed at the first write
    ("'dict' object has no attribute 'w'"); a store of None at the first call."""
    from ringpop.state.antientropy import AntiEntropy

    rp = four[0].member.rp
    kv = four[0].kv
    version = await kv.put("d", b"v", {"n": 3, "r": 2, "w": 2})  # type: ignore[arg-type]
    assert version.node == rp.whoami()
    with pytest.raises(ValueError, match=r"replica options: .*bogus"):
        await kv.get("d", {"bogus": 1})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be ReplicaOptions or a mapping"):
        await kv.get("d", 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="is not a Store: no get, put"):
        ReplicatedStore(rp, None, service="other")  # type: ignore[arg-type]
    mapped = ReplicatedStore(rp, MemoryStore(), {"n": 2, "r": 1, "w": 2}, service="mapped")  # type: ignore[arg-type]
    assert mapped.options == ReplicaOptions(n=2, r=1, w=2)
    with pytest.raises(TypeError, match="interval must be a number of seconds"):
        AntiEntropy(kv, interval="3")  # type: ignore[arg-type]
    await mapped.close()


async def test_a_closed_replicated_store_refuses_reads_and_writes(four: list[Node]) -> None:
    """It took writes after close() and failed them with the quorum error of its own
    unregistered endpoint ("no handler for ... /state/put")."""
    kv = four[0].kv
    await kv.put("k", b"v")
    await kv.close()
    with pytest.raises(RingpopError, match="ReplicatedStore was closed"):
        await kv.put("k", b"w")
    with pytest.raises(RingpopError, match="ReplicatedStore was closed"):
        await kv.get("k")
    record = await four[1].kv.get("k")  # the others serve on, the write did not land
    assert record is not None
    assert record.value == b"v"


async def test_a_replica_answering_a_read_that_does_not_decode_is_skipped(
    four: list[Node],
) -> None:
    await four[0].kv.put("k", b"v")
    held = await holders(four, "k")
    liar = next(n for n in four if n.address in held)

    async def garbage(request: Request) -> Response:
        return Response(b"", b"not json")

    liar.member.rp.channel.register("ringpop-state", "/state/get", garbage)
    reader = next(n for n in four if n is not liar)
    opts = ReplicaOptions(n=3, r=3, w=2, timeout=2.0)
    record = await reader.kv.get("k", opts)
    assert record is not None
    assert record.value == b"v"


async def test_batches_more_than_one_call_carries_are_split_per_destination() -> None:
    """put_many of more than max_arg_size raised ValueError ("call of ... exceeds
    max_arg_size: not sent") after some destinations had written their share, and a
    get_many whose answers were too large failed its quorum."""
    from ringpop import Options

    members = await start_members(3, Options(min_protocol_period=0.05, max_arg_size=256 << 10))
    kvs = [
        ReplicatedStore(m.rp, MemoryStore(), ReplicaOptions(n=2, r=2, w=2, timeout=5.0))
        for m in members
    ]
    try:
        values = {f"big-{i}": bytes([i % 251]) * 10_000 for i in range(200)}  # ~2 MB
        await kvs[0].put_many(values)
        found = await kvs[1].get_many(list(values))
        assert {k: r.value if r else None for k, r in found.items()} == values
    finally:
        for kv in kvs:
            await kv.close()
        for member in members:
            await member.rp.close(self_evict=False)


def test_hints_are_delivered_in_parts_a_call_carries() -> None:
    from ringpop.state.hints import _parts

    records = [Record(f"k{i}", b"x" * 600, Version(1, 0, "a")) for i in range(5)]
    assert [len(p) for p in _parts(records, 2_000)] == [2, 2, 1]
    assert [len(p) for p in _parts(records, 100)] == [1, 1, 1, 1, 1]  # one at least
    assert _parts([], 100) == []


async def test_a_value_no_call_can_carry_is_refused_and_not_hinted() -> None:
    """Such a write failed its quorum and left hints that could never be delivered,
    retried at every delivery pass."""
    from ringpop import Options

    members = await start_members(2, Options(min_protocol_period=0.05, max_arg_size=64 << 10))
    kvs = [
        ReplicatedStore(m.rp, MemoryStore(), ReplicaOptions(n=2, r=1, w=2, timeout=5.0))
        for m in members
    ]
    try:
        with pytest.raises(QuorumError, match="exceeds max_arg_size"):
            await kvs[0].put("big", b"v" * (60 << 10))  # base64 in JSON: over 64 KiB
        assert len(kvs[0].handoff.buffer) == 0
        await kvs[0].put("small", b"v" * (40 << 10))
        record = await kvs[1].get("small")
        assert record is not None
    finally:
        for kv in kvs:
            await kv.close()
        for member in members:
            await member.rp.close(self_evict=False)


async def test_a_write_returns_at_its_quorum_and_a_stalled_replica_is_hinted_later() -> None:
    """Every write whose preference list held a stalled replica (stopped, cut off) took
    the call timeout: 2 s a PUT in the kv example until the node was declared faulty."""
    from ringpop.state.replicated import DEFAULT_SERVICE
    from ringpop.state.wire import PUT

    nodes = await cluster(3, ReplicaOptions(n=3, r=2, w=2, timeout=1.0), hint_interval=60.0)
    try:
        coordinator, _, stalled = nodes

        async def stall(request: Request) -> Response:
            await asyncio.sleep(30)
            raise AssertionError("not reached")

        stalled.member.rp.channel.register(DEFAULT_SERVICE, PUT, stall)
        started = asyncio.get_running_loop().time()
        version = await coordinator.kv.put("k", b"v")
        assert asyncio.get_running_loop().time() - started < 0.5  # not the 1 s timeout
        record = await coordinator.kv.get("k")
        assert record is not None
        assert record.version == version
        held = coordinator.kv.handoff.buffer.held
        for _ in range(150):  # the stalled call times out, then its hint is placed
            if held(stalled.address):
                break
            await asyncio.sleep(0.02)
        assert [r.key for r in held(stalled.address)] == ["k"]
    finally:
        await close_all(nodes)


def _answer_reads_late(node: Node, seconds: float) -> None:
    """``node`` answers replicated reads ``seconds`` late (a slow replica)."""
    from ringpop.state.replicated import DEFAULT_SERVICE
    from ringpop.state.wire import GET

    serve_get = node.kv._serve_get

    async def late_get(request: Request) -> Response:
        await asyncio.sleep(seconds)
        return await serve_get(request)

    node.member.rp.channel.register(DEFAULT_SERVICE, GET, late_get)


async def test_a_read_at_its_quorum_repairs_a_late_replica_once_it_answers() -> None:
    """A parallel read returns at its quorum; a replica that answered after it, with an
    older version, was left stale (anti-entropy only) until the next read asked it."""
    nodes = await cluster(3, ReplicaOptions(n=3, r=2, w=3, timeout=2.0), hint_interval=60.0)
    try:
        coordinator, fresh, slow = nodes
        old = await coordinator.kv.put("k", b"old")
        record = Record("k", b"new", coordinator.kv.clock.now())
        for node in (coordinator, fresh):  # a write that missed the slow replica
            assert await node.kv.store.put(record)
        _answer_reads_late(slow, 0.3)
        started = asyncio.get_running_loop().time()
        got = await coordinator.kv.get("k")
        assert asyncio.get_running_loop().time() - started < 0.25  # at the quorum
        assert got is not None
        assert got.value == b"new"
        held = await slow.kv.store.get("k")
        assert held is not None
        assert held.version == old  # not yet: the slow replica had not answered
        for _ in range(100):
            held = await slow.kv.store.get("k")
            if held is not None and held.value == b"new":
                break
            await asyncio.sleep(0.02)
        assert held is not None
        assert held.value == b"new"
        assert coordinator.kv.repairs == 1
    finally:
        await close_all(nodes)


async def test_a_late_answer_newer_than_the_read_repairs_the_quorum_too() -> None:
    """A replica that answered after the quorum with a newer version than the read
    returned (a write that reached it alone) was not used: the quorum stayed older."""
    nodes = await cluster(3, ReplicaOptions(n=3, r=2, w=3, timeout=2.0), hint_interval=60.0)
    try:
        coordinator, other, slow = nodes
        await coordinator.kv.put("k", b"old")
        assert await slow.kv.store.put(Record("k", b"new", coordinator.kv.clock.now()))
        _answer_reads_late(slow, 0.3)
        got = await coordinator.kv.get("k")
        assert got is not None
        assert got.value == b"old"  # the quorum's answer: the slow replica had not answered
        for _ in range(100):
            held = [await node.kv.store.get("k") for node in (coordinator, other)]
            if all(r is not None and r.value == b"new" for r in held):
                break
            await asyncio.sleep(0.02)
        assert [r.value if r else None for r in held] == [b"new", b"new"]
        assert coordinator.kv.repairs == 2
    finally:
        await close_all(nodes)
