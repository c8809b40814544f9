"""Actors on an in-process cluster over real TCP: placement, order, errors, moves."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from ringpop import Options, Ringpop
from ringpop.actors import (
    ActorActivated,
    ActorOptions,
    ActorRaisedError,
    ActorSystem,
    DeliveryTimeoutError,
    MailboxFullError,
    MessageEncodeError,
    ReplicatedState,
    UnknownKindError,
)
from ringpop.state.replicated import ReplicatedStore
from ringpop.state.replicator import ReplicaOptions
from tests.actors.helpers import STEADY, Counter, Recorder, close, key_of, systems, until


async def test_actor_lives_on_owner_and_counts_from_every_node() -> None:
    members, made = await systems(3)
    try:
        rp0 = members[0].rp
        key = key_of(rp0, members[1].address)
        totals = []
        for _ in range(3):
            for system in made:
                totals.append(await system.ask("counter", key, {"add": 1}))
        assert totals == list(range(1, 10))
        assert made[1].active() == [("counter", key)]
        assert made[0].active() == []
        assert made[2].active() == []
        await made[0].send("counter", key, {"add": 5})
        assert await made[2].ask("counter", key, {"add": 0}) == 14
    finally:
        await close(members, made)


async def test_per_sender_order_with_concurrent_sends() -> None:
    members, made = await systems(3)
    Recorder.handled.clear()
    try:
        key = key_of(members[0].rp, members[2].address)
        sends = [made[i].send("recorder", key, [i, n]) for n in range(200) for i in range(3)]
        await asyncio.gather(*sends)
        by_sender: dict[int, list[int]] = {}
        for _, _, (sender, n) in Recorder.handled:
            by_sender.setdefault(sender, []).append(n)
        assert by_sender == {i: list(range(200)) for i in range(3)}
        assert made[0].outbox.batches < 600  # messages waiting together went as batches
    finally:
        await close(members, made)


async def test_bad_input_is_a_clear_error_and_the_actor_keeps_serving() -> None:
    members, made = await systems(2, ActorOptions(mailbox_size=4))
    try:
        key = key_of(members[0].rp, members[1].address)
        with pytest.raises(UnknownKindError, match="unknown actor kind 'nope'"):
            await made[0].ask("nope", key, 1)
        with pytest.raises(MessageEncodeError, match="does not serialize"):
            await made[0].ask("counter", key, {"add": object()})
        with pytest.raises(ActorRaisedError, match="ValueError: bad luck"):
            await made[0].ask("counter", key, {"boom": "bad luck"})
        with pytest.raises(MessageEncodeError, match="reply"):
            await made[0].ask("counter", key, {"unencodable": 1})
        assert await made[0].ask("counter", key, {"add": 2}) == 2
        # a full mailbox: a slow actor, more asks from one node than the outbox takes
        slow = [asyncio.ensure_future(made[0].ask("slow", key, 0.2)) for _ in range(8)]
        outcomes = await asyncio.gather(*slow, return_exceptions=True)
        full = [o for o in outcomes if isinstance(o, MailboxFullError)]
        assert full
        assert "full" in str(full[0])
        assert [o for o in outcomes if not isinstance(o, Exception)] == [0.2] * (8 - len(full))
        # and on the owner itself, through the mailbox (asks from two nodes)
        assert await made[1].ask("counter", key, {"add": 1}) == 3
    finally:
        await close(members, made)


async def test_passivation_saves_and_reactivation_restores() -> None:
    members, made = await systems(3, ActorOptions(idle_timeout=0.2))
    activated: list[ActorActivated] = []
    try:
        key = key_of(members[0].rp, members[0].address)
        members[0].rp.events.on(ActorActivated, activated.append)
        assert await made[1].ask("counter", key, {"add": 7}) == 7
        await until(lambda: made[0].active() == [], timeout=5)
        # detached at once, counted once its state is saved (a quorum write)
        await until(lambda: made[0].counters["passivations"] == 1, timeout=5)
        assert await made[1].ask("counter", key, {"add": 1}) == 8
        assert [a.source for a in activated] == ["new", "store"]
    finally:
        await close(members, made)


async def test_leaving_owner_hands_actors_over_with_their_state() -> None:
    members, made = await systems(3)
    try:
        leaving = members[1]
        keys = [key_of(members[0].rp, leaving.address, prefix=f"p{i}-") for i in range(5)]
        for key in keys:
            assert await made[0].ask("counter", key, {"add": 3}) == 3
        assert len(made[1].active()) == 5
        pending = [asyncio.ensure_future(made[2].ask("counter", k, {"add": 1})) for k in keys]
        await leaving.rp.self_evict()
        assert await asyncio.gather(*pending) == [4] * 5
        await until(lambda: all(m.rp.lookup(keys[0]) != leaving.address for m in members))
        totals = [await made[0].ask("counter", key, {"add": 1}) for key in keys]
        assert totals == [5] * 5
        assert made[1].counters["handovers"] == 5
        moved: dict[str, Any] = {k: kind for s in made for kind, k in s.active()}
        assert set(moved) == set(keys)
        assert not made[1].active()
    finally:
        await close(members, made)


async def test_owner_crash_resends_to_the_new_owner_from_the_last_checkpoint() -> None:
    """At least once: the dead owner's actor continues from its last save elsewhere."""
    fast = Options(min_protocol_period=0.05, suspect_period=0.5)
    members, made = await systems(3, ActorOptions(checkpoint_every=1), fast)
    try:
        victim = members[1]
        key = key_of(members[0].rp, victim.address)
        for total in range(1, 6):
            assert await made[0].ask("counter", key, {"add": 1}) == total
        await victim.rp.close(self_evict=False)  # gone without a handover
        started = asyncio.get_running_loop().time()
        assert await made[0].ask("counter", key, {"add": 1}) == 6  # resent, restored
        assert asyncio.get_running_loop().time() - started < 10
        assert made[0].counters["retries"] > 0
        owner = members[0].rp.lookup(key)
        assert owner != victim.address
        assert ("counter", key) in made[[m.address for m in members].index(owner)].active()
    finally:
        members = [m for m in members if m is not members[1]]
        made = [s for s in made if s is not made[1]]
        await close(members, made)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mailbox_size", 0),
        ("max_batch", 0),
        ("checkpoint_every", -1),
        ("idle_timeout", 0.0),
        ("delivery_timeout", float("nan")),
        ("attempt_timeout", float("inf")),
        ("handover_wait", -1.0),
        ("handover_window", float("nan")),
        ("mailbox_size", float("inf")),  # taken: a mailbox without bound
        ("max_batch", 2.5),
        ("checkpoint_every", True),
    ],
)
def test_actor_options_refuse_what_cannot_work(field: str, value: float) -> None:
    with pytest.raises((ValueError, TypeError), match="must be"):
        ActorOptions(**{field: value})  # type: ignore[arg-type]


async def test_the_last_node_closing_saves_its_actors_before_it_leaves_the_ring(
    tmp_path: Path,
) -> None:
    """A node that closes leaves its own ring first; the actors' save ran after, found
    no replica for their keys ("write quorum not met ... 0 replica(s)") and a one-node
    cluster (or the last node of one) lost every actor's state since its last save."""
    from ringpop.state.sqlite import SQLiteStore

    async def one_node() -> tuple[Ringpop, ActorSystem, SQLiteStore]:
        rp = Ringpop("actors-test", "127.0.0.1:0", options=STEADY)
        await rp.start()
        store = SQLiteStore(tmp_path / "actors.db")
        kv = ReplicatedStore(rp, store, ReplicaOptions(n=1, r=1, w=1, timeout=2.0))
        system = ActorSystem(rp, ReplicatedState(rp, kv))
        system.register("counter", Counter)
        await rp.bootstrap([rp.whoami()])
        return rp, system, store

    rp, system, store = await one_node()
    assert await system.ask("counter", "c", {"add": 5}) == 5
    await rp.close()
    await system.close()
    await store.close()
    rp, system, store = await one_node()
    try:
        assert await system.ask("counter", "c", {"add": 1}) == 6
    finally:
        await rp.close()
        await system.close()
        await store.close()


async def test_asking_through_a_closed_node_fails_at_once() -> None:
    """Each ask retried against the closed Ringpop until its delivery timeout (30 s)."""
    members, made = await systems(2)
    try:
        key = key_of(members[0].rp, members[1].address)
        assert await made[0].ask("counter", key, {"add": 1}) == 1
        await members[0].rp.close()
        started = asyncio.get_running_loop().time()
        with pytest.raises(DeliveryTimeoutError, match="closing"):
            await made[0].ask("counter", key, {"add": 1})
        assert asyncio.get_running_loop().time() - started < 2.0
        assert await made[1].ask("counter", key, {"add": 1}) == 2
    finally:
        await close(members, made)


async def test_an_actor_that_cannot_be_activated_fails_the_ask_and_is_tried_afresh() -> None:
    """Its asks waited the whole delivery timeout (30 s) and every later ask of the key
    on that node did too: the failed activation stayed, its mailbox closed."""
    attempts: list[str] = []

    class Flaky(Counter):
        def __init__(self, key: str) -> None:
            attempts.append(key)
            if len(attempts) == 1:
                raise RuntimeError("no database yet")
            super().__init__(key)

    members, made = await systems(2)
    try:
        for system in made:
            system.register("flaky", Flaky)
        with pytest.raises(TypeError, match="must be callable"):
            made[0].register("none", None)  # type: ignore[arg-type]
        key = key_of(members[0].rp, members[1].address)
        started = asyncio.get_running_loop().time()
        with pytest.raises(ActorRaisedError, match="RuntimeError: no database yet"):
            await made[0].ask("flaky", key, {"add": 1})
        assert asyncio.get_running_loop().time() - started < 2.0
        assert await made[0].ask("flaky", key, {"add": 1}) == 1  # a new activation
        assert attempts == [key, key]
    finally:
        await close(members, made)


async def test_an_actor_whose_state_could_not_be_read_is_activated_again() -> None:
    """A read of the saved state that failed once (no quorum yet) left the failed
    activation in place: every later message to the key timed out on that node."""
    from ringpop.state.hlc import Version

    class FailsOnce:
        def __init__(self) -> None:
            self.data: dict[str, tuple[bytes, Version]] = {}
            self.gets = 0

        async def get(self, key: str) -> tuple[bytes, Version] | None:
            self.gets += 1
            if self.gets == 1:
                raise RuntimeError("read quorum not met")
            return self.data.get(key)

        async def put(self, key: str, value: bytes) -> Version:
            version = Version(len(self.data) + 1, 0, "test")
            self.data[key] = (value, version)
            return version

    rp = Ringpop("actors-test", "127.0.0.1:0", options=STEADY)
    await rp.bootstrap([await rp.start()])
    store = FailsOnce()
    system = ActorSystem(rp, store, options=ActorOptions(delivery_timeout=5.0))
    system.register("counter", Counter)
    try:
        started = asyncio.get_running_loop().time()
        assert await system.ask("counter", "c", {"add": 2}) == 2  # retried, then served
        assert asyncio.get_running_loop().time() - started < 2.0
        assert await system.ask("counter", "c", {"add": 1}) == 3
        assert store.gets == 2
    finally:
        await system.close()
        await rp.close()


async def test_messages_and_replies_no_call_can_carry_are_refused_wherever_the_actor_is() -> None:
    """A 20 MiB message worked for a local actor and raised ValueError for a remote one;
    a 20 MiB reply was resent until the delivery timeout (30 s)."""

    class Big(Counter):
        async def receive(self, message: Any, context: Any) -> Any:
            return b"y" * message

    members, made = await systems(2)
    try:
        for system in made:
            system.register("big", Big)
        rp = members[0].rp
        keys = [key_of(rp, members[0].address), key_of(rp, members[1].address)]
        room = made[0].max_message
        assert 0 < room < rp.options.max_arg_size
        for key in keys:
            with pytest.raises(MessageEncodeError, match="exceeds"):
                await made[0].ask("counter", key, b"x" * (room + 1))
            started = asyncio.get_running_loop().time()
            with pytest.raises(MessageEncodeError, match="more than one call carries"):
                await made[0].ask("big", key, room + 1)
            assert asyncio.get_running_loop().time() - started < 2.0
            assert await made[0].ask("big", key, 3) == b"yyy"
    finally:
        await close(members, made)


async def test_an_owner_answering_results_that_do_not_decode_is_an_actor_error() -> None:
    """A msgspec error escaped ask() from deep in the delivery loop."""
    from ringpop.actors import ActorError
    from ringpop.tchannel import Request, Response

    members, made = await systems(2)
    try:
        key = key_of(members[0].rp, members[1].address)

        async def garbage(request: Request) -> Response:
            return Response(b"", b"\xc1 not msgpack")

        members[1].rp.channel.register("ringpop-actors", "/actors/deliver", garbage)
        with pytest.raises(ActorError, match="answered results that do not decode"):
            await made[0].ask("counter", key, {"add": 1})
    finally:
        await close(members, made)


async def test_keys_names_and_options_of_the_wrong_type_are_refused_where_given() -> None:
    """``configure({...})`` was taken as it was, then failed every ask and even the
    node's self-eviction ("'dict' object has no attribute 'attempt_timeout'"); a
    bytes key became an actor "b'k'"; a lone surrogate was a bare UnicodeEncodeError;
    a leadership named 5 was made."""
    members, made = await systems(1)
    try:
        system = made[0]
        system.configure({"idle_timeout": 7.0})
        assert system.options.idle_timeout == 7.0
        with pytest.raises(ValueError, match=r"configure: .*bogus"):
            system.configure({"bogus": 1})
        with pytest.raises(TypeError, match="configure must be ActorOptions or a mapping"):
            system.configure(5)  # type: ignore[arg-type]
        for key, error, match in (
            (b"k", TypeError, "actor key must be a str"),
            (5, TypeError, "actor key must be a str"),
            ("\udce9", ValueError, "lone surrogate"),
        ):
            with pytest.raises(error, match=match):
                await system.ask("counter", key, {"add": 1})  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="leadership name must be a str"):
            system.leadership(5)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="singleton name must not be empty"):
            system.singleton("", lambda context: None)
        with pytest.raises(TypeError, match="per_key: keys must be str"):
            system.per_key("jobs", [1], lambda key, context: None)  # type: ignore[list-item]
        assert await system.ask("counter", "k", {"add": 1}) == 1
    finally:
        await close(members, made)
