"""Range handoff over real TCP: in-process nodes on 127.0.0.1 pull what they gain."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from ringpop.clock import ManualClock
from ringpop.hashing import fingerprint32
from ringpop.ring.ownership import Range
from ringpop.state import wire
from ringpop.state.events import HandoffCompleted
from ringpop.state.hlc import Version
from ringpop.state.memory import MemoryStore
from ringpop.state.rangeserver import NOT_A_REPLICA
from ringpop.state.replicator import ReplicaOptions
from ringpop.state.store import Columns, Cursor, Record
from ringpop.state.transfer import RangeClient, TransferError, check_page
from ringpop.tchannel import BadRequestError, Channel, Request, Response
from ringpop.tchannel.api import application_error
from tests.state.cluster import EVERYTHING, TWO, close_all, cluster, handoff_cluster, joiner

OPTIONS = TWO
QUICK: dict[str, Any] = {"delay": 0.1, "page": 7, "grace": 0.2, "retry": 0.1}  # handoff options


async def test_a_joining_node_pulls_its_ranges_and_the_old_holders_drop_them() -> None:
    async with handoff_cluster(2, OPTIONS, ownership_n=2, **QUICK) as (nodes, handoffs):
        values = {f"key-{i}": str(i).encode() for i in range(200)}
        await nodes[0].kv.put_many(values)
        store = MemoryStore()
        new = await joiner(store, OPTIONS, **QUICK)
        rp, kv, handoff = new.rp, new.kv, new.handoff
        completed: list[HandoffCompleted] = []
        rp.events.on(HandoffCompleted, completed.append)
        await new.join(nodes)
        try:
            for _ in range(200):  # every node sees the 3-node ring, pulls end
                ring_sizes = {n.member.rp.node.ring.server_count for n in nodes}
                if ring_sizes == {3} and not handoff.pulls:
                    break
                await asyncio.sleep(0.05)
            assert await handoff.idle(10.0)
            mine = {k for k in values if rp.whoami() in rp.lookup_n(k, 2)}
            assert mine
            assert {r.key for r in (await store.scan(EVERYTHING, limit=1000)).records} == mine
            assert handoff.stats()["records"] >= len(mine)
            assert completed
            for _ in range(100):  # the node that lost ranges drops them after the grace
                if all(not h.drops for h in handoffs):
                    break
                await asyncio.sleep(0.05)
            for node in nodes:
                held = {r.key for r in (await node.store.scan(EVERYTHING, limit=1000)).records}
                assert held == {k for k in values if node.address in rp.lookup_n(k, 2)}
            for key, value in values.items():
                record = await kv.get(key)
                assert record is not None
                assert record.value == value
        finally:
            await new.close()


async def test_a_handoff_may_be_closed_again() -> None:
    """A second close() raised ValueError ("list.remove(x): x not in list")."""
    async with handoff_cluster(2, OPTIONS, ownership_n=2) as (_, [handoff, _other]):
        await handoff.close()
        await handoff.close()  # and the cluster closes it a third time


async def test_pulls_wait_on_the_injected_clock() -> None:
    """The debounce delay is measured and waited on the handoff's clock, not the loop's."""
    async with handoff_cluster(2, OPTIONS, ownership_n=2, delay=0.1) as (nodes, _):
        await nodes[0].kv.put_many({f"key-{i}": b"v" for i in range(50)})
        clock = ManualClock()
        store = MemoryStore()
        new = await joiner(store, OPTIONS, delay=30.0, clock=clock)
        handoff = new.handoff
        try:
            await new.join(nodes)
            for _ in range(20):  # real time passes; the handoff's clock does not
                await asyncio.sleep(0.05)
            assert handoff.pulls
            assert handoff.stats()["records"] == 0
            clock.advance(30.0)
            for _ in range(200):
                if not handoff.pulls:
                    break
                await asyncio.sleep(0.05)
            assert not handoff.pulls
            assert handoff.stats()["records"] > 0
            assert len(store) == handoff.stats()["records"]
        finally:
            await new.close()


async def test_requests_for_ranges_not_held_and_malformed_bodies_are_refused() -> None:
    async with handoff_cluster(2, OPTIONS, ownership_n=2, delay=0.1) as (nodes, handoffs):
        await nodes[0].kv.put("k", b"v")
        stranger = Channel("127.0.0.1:0")
        await stranger.listen()
        target = nodes[0].address

        async def call(endpoint: str, body: bytes) -> Response:
            return await stranger.call(target, "ringpop-state", endpoint, b"", body, timeout=2.0)

        try:
            scan = msgspec.json.encode(wire.Scan(Range(0, 1 << 32)))
            refused = await call(wire.SCAN, scan)  # a node outside the ring holds nothing
            assert application_error(refused).type == NOT_A_REPLICA
            done = await call(wire.DONE, msgspec.json.encode(wire.Done(Range(0, 10))))
            assert application_error(done).type == NOT_A_REPLICA
            for bad in (b"{", b'{"range": {"start": 10, "end": 5}}', b'{"range": 3}'):
                with pytest.raises(BadRequestError):
                    await call(wire.SCAN, bad)
            with pytest.raises(BadRequestError):
                await call(wire.SCAN, msgspec.json.encode(wire.Scan(Range(0, 10), limit=10**6)))
            with pytest.raises(BadRequestError, match="unknown page format"):
                await call(wire.SCAN, msgspec.json.encode(wire.Scan(Range(0, 10), format="xml")))
            too_big = msgspec.json.encode(wire.Scan(Range(0, 10), max_bytes=1 << 30))
            with pytest.raises(BadRequestError, match="max_bytes"):
                await call(wire.SCAN, too_big)
            assert await nodes[0].store.get("k") is not None  # nothing changed
            assert handoffs[0].stats()["refused"] == 2
        finally:
            await stranger.close()


async def test_a_malformed_or_foreign_page_is_refused_whole() -> None:
    """A peer answering records outside the range: TransferError, nothing applied."""
    nodes = await cluster(2, OPTIONS)
    for node in nodes:
        node.member.rp.ownership_n = 2
    bogus = Channel("127.0.0.1:0")

    answers: list[bytes] = []

    async def serve(request: Request) -> Response:
        return Response(b"", answers.pop())

    bogus.register("ringpop-state", wire.SCAN, serve)
    await bogus.listen()
    record = Record("k", b"v", Version(1, 0, "x"))  # hash of "k" is not in [0, 1)
    foreign = msgspec.msgpack.encode(["ringpop-state-page/2", ["k"], [b"v"], [1], [0], ["x"]])
    cases = {
        "outside": msgspec.msgpack.encode(Columns.of([record])),
        r"malformed page .*\(expected ringpop-state-page/1\).*page/2": foreign,
        "malformed page": msgspec.json.encode(wire.PageBody([record], None)),  # the JSON page
        "differ in length": msgspec.msgpack.encode(Columns(["k"], [], [1], [0], ["x"])),
        r"\$\[3\]\[0\]": msgspec.msgpack.encode(Columns(["k"], [b"v"], [-1], [0], ["x"])),
    }
    try:
        client = RangeClient(nodes[0].member.rp, "ringpop-state", timeout=2.0)
        for match, answer in cases.items():
            answers.append(answer)
            with pytest.raises(TransferError, match=match):
                await client.scan(bogus.host_port, Range(0, 1), None, 10)
    finally:
        await bogus.close()
        await close_all(nodes)


def test_check_page_refuses_disorder_a_wrong_cursor_and_excess() -> None:
    """The array checks: order after the cursor, the cursor, the limit, the range."""
    everything = Range(0, 1 << 32)
    keys = sorted((f"k{i}" for i in range(5)), key=lambda k: (fingerprint32(k), k))
    page = Columns(keys, [b"v"] * 5, [1] * 5, [0] * 5, ["x"] * 5, None)
    assert check_page(page, everything, None, 5).tolist() == [fingerprint32(k) for k in keys]
    last = Cursor(fingerprint32(keys[-1]), keys[-1])
    swapped = [keys[1], keys[0], *keys[2:]]
    bad = {
        "out of order": (msgspec.structs.replace(page, keys=swapped), None, 5),
        "out of order ": (page, Cursor(fingerprint32(keys[2]), keys[2]), 5),  # before the cursor
        "limit of 4": (page, None, 4),
        "cursor is not": (msgspec.structs.replace(page, cursor=Cursor(0, "a")), None, 5),
        "outside": (page, None, 5),
    }
    for match, (columns, cursor, limit) in bad.items():
        r = Range(0, fingerprint32(keys[-1])) if match == "outside" else everything
        with pytest.raises(ValueError, match=match.strip()):
            check_page(columns, r, cursor, limit)
    assert check_page(msgspec.structs.replace(page, cursor=last), everything, None, 5)
    with pytest.raises(ValueError, match="empty page with a cursor"):
        check_page(Columns([], [], [], [], [], last), everything, None, 5)


async def test_json_and_binary_pages_are_cut_by_bytes() -> None:
    """A replica asking ``max_bytes`` gets short pages in either format, resumable."""
    async with handoff_cluster(2, OPTIONS, ownership_n=2, delay=0.1) as (nodes, _):
        await nodes[0].kv.put_many({f"k{i}": b"x" * 100 for i in range(5)})
        everything = Range(0, 1 << 32)
        asked = wire.Scan(everything, None, 100, "json", 200)  # ~120 B a record
        body = msgspec.json.encode(asked)
        response = await nodes[1].member.rp.channel.call(
            nodes[0].address, "ringpop-state", wire.SCAN, b"", body, timeout=2.0
        )
        page = msgspec.json.decode(response.arg3, type=wire.PageBody)
        assert len(page.records) == 1
        assert page.cursor is not None
        client = RangeClient(nodes[1].member.rp, "ringpop-state", timeout=2.0)
        keys: list[str] = []
        cursor: Cursor | None = None
        for _ in range(10):
            source = nodes[0].address
            columns, _, _ = await client.scan_columns(source, everything, cursor, 100, 300)
            assert 1 <= len(columns) <= 2
            keys.extend(columns.keys)
            cursor = columns.cursor
            if cursor is None:
                break
        assert sorted(keys) == [f"k{i}" for i in range(5)]


class _ApplyLog(MemoryStore):
    """A MemoryStore (it applies without yielding) noting, at each page it applies,
    how many page requests its puller had started by then."""

    def __init__(self) -> None:
        super().__init__()
        self.started = 0
        self.at_apply: list[int] = []

    async def put_blob_page(self, page: Any) -> int:
        self.at_apply.append(self.started)
        return await super().put_blob_page(page)


async def test_the_next_page_is_asked_for_before_this_one_is_applied() -> None:
    """Pipelining with a store that applies without yielding: the request for the
    next page (of the same range, or the next range's first once this range's last
    page arrived) is under way while a page is applied, not after."""
    one = ReplicaOptions(n=1, r=1, w=1, timeout=2.0)
    async with handoff_cluster(1, one, ownership_n=1, **QUICK) as (nodes, _):
        await nodes[0].kv.put_many({f"key-{i}": b"v" for i in range(300)})
        store = _ApplyLog()
        new = await joiner(store, one, concurrency=1, **QUICK)
        scan_blob = new.handoff.client.scan_blob

        async def counted(*args: Any, **kwargs: Any) -> Any:
            store.started += 1
            return await scan_blob(*args, **kwargs)

        new.handoff.client.scan_blob = counted  # type: ignore[method-assign]
        try:
            await new.join(nodes)
            for _ in range(200):
                if new.handoff.stats()["completed"] and not new.handoff.pulls:
                    break
                await asyncio.sleep(0.05)
            assert await new.handoff.idle(10.0)
            applies = store.at_apply
            assert len(applies) > 10
            # at the i-th apply, pages 0..i were received and the next was asked for
            assert [s for i, s in enumerate(applies[:-1]) if s < i + 2] == []
        finally:
            await new.close()


@pytest.mark.parametrize(
    ("setting", "why"),
    [
        ({"concurrency": 0}, "concurrency must be >= 1, not 0"),
        ({"page": 0}, "page must be >= 1"),
        ({"page_bytes": -1}, "page_bytes must be >= 0"),
        ({"page": 16385}, "page must be <= 16384, what sources serve"),  # every pull refused
        ({"page_bytes": 2 << 20}, "page_bytes must be <= 1048576, what sources serve"),
        ({"delay": -1.0}, "delay must be a finite number of seconds >= 0, not -1.0"),
        ({"delay": float("nan")}, "delay must be a finite number of seconds >= 0, not nan"),
        ({"grace": float("inf")}, "grace must be a finite number of seconds >= 0, not inf"),
        ({"retry": 0.0}, "retry must be a positive, finite number of seconds"),
        ({"max_attempts": 0}, "max_attempts must be >= 1"),
        ({"timeout": float("nan")}, "timeout must be a positive, finite"),
        ({"resume_ttl": -1.0}, "resume_ttl must be a finite number of seconds >= 0"),
    ],
)
async def test_settings_a_handoff_cannot_work_with_are_refused(
    setting: dict[str, float], why: str
) -> None:
    """``concurrency=0`` would never pull and ``retry=0`` retry in a tight loop: refused
    when the handoff is made, with what is wrong, rather than a silent stall."""
    from ringpop.state.handoff import RangeHandoff

    [node] = await cluster(1, ReplicaOptions(n=1, r=1, w=1, timeout=2.0))
    try:
        with pytest.raises(ValueError, match=why):
            RangeHandoff(node.kv, **setting)  # type: ignore[arg-type]
    finally:
        await close_all([node])


async def test_offers_made_long_enough_ago_are_forgotten() -> None:
    """Every (node, piece) offered stayed in a dict for the node's life; pieces change
    with every ring, so a long-lived node in a churning cluster kept growing it."""
    async with handoff_cluster(1, OPTIONS, ownership_n=2, delay=0.1, retry=1.0) as (_, [handoff]):
        offered: list[tuple[str, Range]] = []

        async def offer(node: str, piece: Range) -> int:
            offered.append((node, piece))
            return 1

        handoff.client.offer = offer  # type: ignore[method-assign,assignment]
        pieces = [("127.0.0.1:1", Range(i, i + 1)) for i in range(3)]
        await handoff._offer(pieces, 100.0)
        await handoff._offer(pieces, 101.0)  # within retry * 5: not offered again
        assert len(offered) == 3
        await handoff._offer([], 106.0)
        assert not handoff._offered_at
        await handoff._offer(pieces[:1], 106.0)
        assert len(offered) == 4


async def test_a_malformed_answer_to_done_or_offer_is_a_transfer_error() -> None:
    """A msgspec error escaped done() and offer(), past the handoff's suppress of
    transfer errors, and failed its whole loop."""
    nodes = await cluster(1, OPTIONS)
    bogus = Channel("127.0.0.1:0")

    async def garbage(request: Request) -> Response:
        return Response(b"", b"{not json")

    bogus.register("ringpop-state", wire.DONE, garbage)
    bogus.register("ringpop-state", wire.OFFER, garbage)
    await bogus.listen()
    try:
        client = RangeClient(nodes[0].member.rp, "ringpop-state", timeout=2.0)
        with pytest.raises(TransferError, match="malformed answer to /state/handoff-done"):
            await client.done(bogus.host_port, Range(0, 10))
        with pytest.raises(TransferError, match="malformed answer to /state/offer"):
            await client.offer(bogus.host_port, Range(0, 10))
    finally:
        await bogus.close()
        await close_all(nodes)
