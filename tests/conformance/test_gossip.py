"""The gossip loop seen from the fakes: first pings, rate, fairness, piggybacking,
ping-req in both directions and the suspect -> faulty -> tombstone -> evicted timers
(spec §7, §8, §9)."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter

import pytest

from tests.conformance.conftest import MakeCluster
from tests.conformance.fakes import (
    APP,
    FakeNode,
    Mode,
    unreachable_address,
    watch_member,
)

pytestmark = pytest.mark.cluster

MAX_P = 15
"""maxP for 1..9 pingable members (§7.1)."""


async def test_first_pings_rate_and_round_robin(cluster: MakeCluster) -> None:
    size = 8
    c = await cluster(size)
    loop = asyncio.get_running_loop()
    first = c.requests("/protocol/ping")[0]
    delay = first.at - c.bootstrapped_at
    assert delay < 0.45, f"first ping {delay:.3f} s after bootstrap (want ~0.2 s at most)"
    # The suite's 5 s admin-test deadline starts at process start (and has more in it).
    startup = first.at - c.spawned_at
    assert startup < 5.0, f"first ping {startup:.2f} s after the process started"

    window = 6.0
    await asyncio.sleep(first.at + window + 0.3 - loop.time())
    pings = c.requests("/protocol/ping")
    in_window = [p for p in pings if p.at < first.at + window]
    assert 28 <= len(in_window) <= 32, f"{len(in_window)} pings in {window} s (want 30 ± 2)"

    own = {
        "address": c.sut,
        "status": "alive",
        "incarnationNumber": c.sut_incarnation,
        "source": c.sut,
        "sourceIncarnationNumber": c.sut_incarnation,
    }
    checksum = c.model_checksum()
    for index, ping in enumerate(pings):
        body = ping.body
        assert body["app"] == APP
        assert body["source"] == c.sut
        assert body["sourceIncarnationNumber"] == c.sut_incarnation
        assert body["checksum"] == checksum, f"ping {index}: wrong membership checksum"
        changes = [
            {k: v for k, v in ch.items() if k not in ("id", "timestamp")} for ch in ping.changes
        ]
        if index < MAX_P:
            # Only the SUT's own alive change: the bootstrap join lists are not disseminated.
            assert changes == [own], f"ping {index} carries {ping.changes}"
        else:
            assert changes == [], f"ping {index}: own change sent more than maxP times"

    targets = [p.fake for p in pings]
    counts = Counter(targets)
    assert set(counts) == {f.address for f in c.fakes}
    assert max(counts.values()) - min(counts.values()) <= 1, counts
    rounds = [targets[i : i + size] for i in range(0, len(targets) - size + 1, size)]
    assert len(rounds) >= 3
    for number, members in enumerate(rounds):
        assert sorted(members) == sorted(counts), f"round {number} is not a permutation"
    assert all(a != b for a, b in itertools.pairwise(rounds)), "rounds repeat"


async def test_learned_change_is_piggybacked_max_p_times(cluster: MakeCluster) -> None:
    c = await cluster(3)
    a, b, d = c.fakes
    assert (await c.admin("/admin/gossip/stop")).ok
    await asyncio.sleep(0.3)  # an in-flight ping may still finish
    b.incarnation += 1  # the fakes' view moves on with the rumour
    rumour = {
        "source": a.address,
        "sourceIncarnationNumber": a.incarnation,
        "address": b.address,
        "status": "alive",
        "incarnationNumber": b.incarnation,
    }
    reply = await c.ping(a, c.ping_body(a, [rumour]))
    assert reply.ok
    assert rumour not in reply.body["changes"], "a change must not go back to its source"

    def carries(changes: list[dict[str, object]]) -> bool:
        return any(
            all(ch.get(k) == v for k, v in rumour.items()) for ch in changes if isinstance(ch, dict)
        )

    from_responses = 0
    for _ in range(5):
        reply = await c.ping(d, c.ping_body(d))
        assert reply.ok
        from_responses += carries(reply.body["changes"])
    assert from_responses == 5, "every response to another member carries the new change"

    since = asyncio.get_running_loop().time()
    assert (await c.admin("/admin/gossip/start")).ok
    await c.wait_for(
        lambda: len(c.requests("/protocol/ping", since)) >= MAX_P + 4, 8.0, "more pings"
    )
    pings = c.requests("/protocol/ping", since)
    flags = [carries(p.changes) for p in pings]
    assert sum(flags) + from_responses == MAX_P, f"piggybacked {sum(flags)} + {from_responses}"
    assert flags == sorted(flags, reverse=True), "a dropped change came back"
    members = await c.members()
    assert members[b.address]["incarnationNumber"] == b.incarnation


async def test_ping_req_is_served_without_judging_the_target(cluster: MakeCluster) -> None:
    c = await cluster(3)
    a, b, _ = c.fakes
    assert (await c.admin("/admin/gossip/stop")).ok
    await asyncio.sleep(0.3)
    loop = asyncio.get_running_loop()

    since = loop.time()
    reply = await c.ping_req(a, b.address)
    assert reply.ok, reply.raw
    assert reply.body["pingStatus"] is True
    assert reply.body["target"] == b.address
    pings = c.requests("/protocol/ping", since)
    assert [p.fake for p in pings] == [b.address], "exactly one ping, to the target"

    b.ping_mode = Mode.REFUSE
    reply = await c.ping_req(a, b.address)
    assert reply.ok
    assert reply.body == {
        "changes": reply.body["changes"],
        "pingStatus": False,
        "target": b.address,
    }

    b.ping_mode = Mode.HOLD
    started = loop.time()
    reply = await c.ping_req(a, b.address)
    elapsed = loop.time() - started
    b.release()
    assert reply.ok
    assert reply.body["pingStatus"] is False
    assert 1.3 <= elapsed <= 3.5, f"ping timeout should be 1.5 s, took {elapsed:.2f} s"

    member = (await c.members())[b.address]
    assert member["status"] == "alive", "a ping-req helper never changes the target itself"
    assert member["incarnationNumber"] == b.incarnation


async def test_refuted_suspicion_cancels_the_suspect_timer(cluster: MakeCluster) -> None:
    c = await cluster(3, suspect_ms=1500)
    a, b, _ = c.fakes
    origin = {"source": a.address, "sourceIncarnationNumber": a.incarnation}
    suspect = {**origin, **b.member("suspect")}
    assert (await c.ping(a, c.ping_body(a, [suspect]))).ok
    assert (await c.members())[b.address]["status"] == "suspect"
    await asyncio.sleep(0.4)
    b.incarnation += 1
    assert (await c.ping(a, c.ping_body(a, [{**origin, **b.member()}]))).ok
    await asyncio.sleep(1.7)  # past the suspect period
    member = (await c.members())[b.address]
    assert (member["status"], member["incarnationNumber"]) == ("alive", b.incarnation)


async def test_unreachable_member_suspect_faulty_tombstone_evicted(cluster: MakeCluster) -> None:
    period = 1.0
    c = await cluster(4, suspect_ms=1000, faulty_ms=1000, tombstone_ms=1000)
    target = c.fakes[1]
    helpers = [f for f in c.fakes if f is not target]
    for helper in helpers:
        helper.ping_req_status = False
    loop = asyncio.get_running_loop()
    since = loop.time()
    target.ping_mode = Mode.REFUSE

    timeline = await watch_member(c, target.address, "absent", 4 * period + 6)
    seen = timeline.seen
    assert list(seen) == ["alive", "suspect", "faulty", "tombstone", "absent"], seen
    for before, after in [("suspect", "faulty"), ("faulty", "tombstone"), ("tombstone", "absent")]:
        took = seen[after] - seen[before]
        assert 0.7 * period <= took <= period + 0.8, f"{before} -> {after} took {took:.2f} s"

    suspected_at = seen["suspect"]
    first_probe = [r for r in c.requests("/protocol/ping-req", since) if r.at < suspected_at]
    assert first_probe, "suspected without asking for help"
    assert len(first_probe) <= 3
    assert {r.fake for r in first_probe} == {h.address for h in helpers}
    for request in first_probe:
        assert request.body["target"] == target.address
    failed_ping = c.requests("/protocol/ping", since, fakes=[target])
    assert failed_ping
    assert failed_ping[0].at <= first_probe[0].at, "ping-req only after a failed ping"

    # The SUT spreads its own verdicts, sourced from itself.
    verdicts = {
        ch["status"]
        for r in c.requests("/protocol/ping", since, fakes=helpers)
        for ch in r.changes
        if ch.get("address") == target.address and ch.get("source") == c.sut
    }
    assert {"suspect", "faulty"} <= verdicts, verdicts


async def test_changes_in_ping_and_ping_req_responses_are_applied(
    cluster: MakeCluster,
) -> None:
    c = await cluster(3)
    a, b, d = c.fakes

    def faulty(by: FakeNode, incarnation: int) -> dict[str, object]:
        return {
            "source": by.address,
            "sourceIncarnationNumber": by.incarnation,
            "address": unreachable_address(),
            "status": "faulty",
            "incarnationNumber": incarnation,
        }

    from_ping = faulty(b, 11)
    b.ping_reply_changes = [from_ping]

    async def knows(address: object) -> bool:
        return address in await c.members()

    await c.wait_for(lambda: knows(from_ping["address"]), 3.0, "a change from a ping response")
    b.ping_reply_changes = []
    assert (await c.admin("/admin/gossip/stop")).ok

    # d stops answering; the helpers' ping-req answers carry news.
    d.ping_mode = Mode.REFUSE
    from_ping_req = faulty(a, 12)
    a.ping_req_reply_changes = [from_ping_req]
    b.ping_req_reply_changes = [from_ping_req]
    for _ in range(6):
        assert (await c.admin("/admin/gossip/tick")).ok
        if c.requests("/protocol/ping-req"):
            break
    assert c.requests("/protocol/ping-req"), "no ping-req after failed pings"
    members = await c.members()
    assert members[str(from_ping_req["address"])]["status"] == "faulty"
    assert members[d.address]["status"] == "alive", "helpers said d is reachable"


async def test_ping_req_errors_are_inconclusive(cluster: MakeCluster) -> None:
    c = await cluster(3)
    a, b, d = c.fakes
    b.ping_mode = Mode.REFUSE
    a.ping_req_mode = d.ping_req_mode = Mode.REFUSE
    since = asyncio.get_running_loop().time()
    await c.wait_for(
        lambda: len(c.requests("/protocol/ping-req", since)) >= 4, 4.0, "two ping-req rounds"
    )
    assert {r.fake for r in c.requests("/protocol/ping-req", since)} == {a.address, d.address}
    member = (await c.members())[b.address]
    assert member["status"] == "alive", "helpers that fail prove nothing (node semantics)"


async def test_without_helpers_a_failed_ping_suspects_at_once(cluster: MakeCluster) -> None:
    c = await cluster(1)
    (only,) = c.fakes
    only.ping_mode = Mode.REFUSE
    since = asyncio.get_running_loop().time()

    async def suspected() -> bool:
        return bool((await c.members())[only.address]["status"] == "suspect")

    await c.wait_for(suspected, 3.0, "suspicion of the only other member")
    assert c.requests("/protocol/ping-req", since) == []
