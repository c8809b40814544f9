"""Leadership and singletons on an in-process cluster over real TCP."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from ringpop.actors import (
    ActorError,
    JobContext,
    LeadershipAcquired,
    LeadershipLost,
    LeadershipLostError,
    SingletonFailed,
)
from ringpop.clock import SystemClock
from ringpop.state.hlc import Version
from tests.actors.helpers import close, systems, until


async def test_exactly_one_leader_and_tokens_grow_when_it_leaves() -> None:
    members, made = await systems(4)
    acquired: list[LeadershipAcquired] = []
    lost: list[LeadershipLost] = []
    for member in members:
        member.rp.events.on(LeadershipAcquired, acquired.append)
        member.rp.events.on(LeadershipLost, lost.append)
    try:
        leaderships = [s.leadership("cron") for s in made]
        await until(lambda: sum(x.is_leader for x in leaderships) == 1)
        first = next(x for x in leaderships if x.is_leader)
        assert {x.leader() for x in leaderships} == {first.system.address}
        first_token = first.token
        assert first_token is not None
        index = leaderships.index(first)
        await members[index].rp.self_evict()
        rest = [x for i, x in enumerate(leaderships) if i != index]
        await until(lambda: sum(x.is_leader for x in rest) == 1, timeout=10)
        second = next(x for x in rest if x.is_leader)
        assert second.token is not None
        assert second.token > first_token
        assert [e.address for e in lost] == [first.system.address]
        tokens = [e.token for e in acquired]
        assert tokens == sorted(tokens)
        assert len(set(tokens)) == len(tokens)
    finally:
        await close(members, made)


async def test_context_manager_waits_for_the_lead() -> None:
    members, made = await systems(2)
    try:
        leaderships = [s.leadership("ctx") for s in made]
        await until(lambda: any(x.is_leader for x in leaderships))
        leader = next(x for x in leaderships if x.is_leader)
        async with leader as term:
            assert term.token == leader.token
            assert not term.lost.is_set()
    finally:
        await close(members, made)


async def test_waiting_to_lead_ends_when_the_leadership_or_the_node_closes() -> None:
    """A follower's wait_leader() waited forever once its leadership or node closed."""
    members, made = await systems(2)
    try:
        follower = made[0]
        names = [f"job-{i}" for i in range(1000)]
        name, other = [n for n in names if not follower.rp.owns(f"ringpop-leader:{n}")][:2]
        leadership = follower.leadership(name)
        waiting = asyncio.ensure_future(leadership.wait_leader())
        await asyncio.sleep(0.1)
        await leadership.close()
        with pytest.raises(LeadershipLostError, match="will not lead"):
            await asyncio.wait_for(waiting, 1.0)
        waiting = asyncio.ensure_future(follower.leadership(other).wait_leader())
        await asyncio.sleep(0.1)
        await members[0].rp.close(self_evict=False)
        with pytest.raises(LeadershipLostError, match="will not lead"):
            await asyncio.wait_for(waiting, 3.0)
    finally:
        await close(members, made)


async def test_a_closed_actor_system_makes_no_new_leadership_or_job() -> None:
    """A leadership made after close() read and stored its token through the closed
    store (warnings), then led anyway on a token of its own clock."""
    members, made = await systems(1)
    try:
        system = made[0]
        kept = system.leadership("kept")
        await system.close()
        assert system.leadership("kept") is kept  # the one that exists, closed
        with pytest.raises(ActorError, match=r"the actor system of .* is closed"):
            system.leadership("new")
        with pytest.raises(ActorError, match="is closed"):
            system.singleton("job", lambda context: None)
        with pytest.raises(ActorError, match="is closed"):
            system.per_key("jobs", ["a"], lambda key, context: None)
    finally:
        await close(members, made)


async def test_per_key_takes_one_key_given_alone() -> None:
    """``per_key("jobs", "user:42", job)`` made one job per character of the key."""
    members, made = await systems(1)
    try:
        (job,) = made[0].per_key("jobs", "user:42", lambda key, context: None)
        assert job.name == "jobs:user:42"
        with pytest.raises(TypeError, match="keys must be a key"):
            made[0].per_key("more", None, lambda key, context: None)  # type: ignore[arg-type]
    finally:
        await close(members, made)


async def test_singleton_runs_once_moves_and_resumes_from_its_checkpoint() -> None:
    members, made = await systems(3)
    runs: list[tuple[str, int]] = []
    failures: list[SingletonFailed] = []
    for member in members:
        member.rp.events.on(SingletonFailed, failures.append)

    def job_for(address: str):  # type: ignore[no-untyped-def]
        async def job(ctx: JobContext) -> None:
            position = ctx.checkpoint or 0
            if ctx.attempt == 1 and position == 0:
                raise RuntimeError("first attempt fails")
            while True:
                position += 1
                runs.append((address, position))
                await ctx.save(position)
                await asyncio.sleep(0.01)

        return job

    try:
        singletons = [s.singleton("counter", job_for(s.address)) for s in made]
        await until(lambda: len(runs) >= 20)
        assert sum(s.running for s in singletons) == 1
        assert len(failures) == 1
        assert "first attempt fails" in failures[0].error
        runner = next(i for i, s in enumerate(singletons) if s.running)
        await members[runner].rp.self_evict()
        before = len(runs)
        await until(lambda: any(r[0] != made[runner].address for r in runs[before:]))
        moved = [r for r in runs[before:] if r[0] != made[runner].address]
        last_before = max(p for a, p in runs if a == made[runner].address)
        assert moved[0][1] >= last_before - 1
        assert moved[0][1] > 1
        others = [s for i, s in enumerate(singletons) if i != runner]
        await until(lambda: sum(s.running for s in others) == 1)
        assert not singletons[runner].running
    finally:
        await close(members, made)


async def test_a_save_after_the_term_ended_is_refused() -> None:
    members, made = await systems(1)
    contexts: list[JobContext] = []

    async def job(ctx: JobContext) -> None:
        contexts.append(ctx)
        await asyncio.Event().wait()

    try:
        singleton = made[0].singleton("once", job)
        await until(lambda: bool(contexts))
        await singleton.close()
        with pytest.raises(LeadershipLostError, match="ended"):
            await contexts[0].save(1)
    finally:
        await close(members, made)


async def test_a_leader_renews_its_token_when_a_greater_one_was_stored() -> None:
    """After a healed partition the other side's leader may have stored a greater token."""
    members, made = await systems(2)
    try:
        leaderships = [s.leadership("heal") for s in made]
        await until(lambda: any(x.is_leader for x in leaderships))
        leader = next(x for x in leaderships if x.is_leader)
        old = leader.token
        assert old is not None
        other = Version(old.wall + 1000, 0, "the-other-side")  # greater than ours
        await leader.system.state.put(leader._store_key, msgspec.msgpack.encode(other))
        leader._on_ring(None)  # what a ring change (the heal) does
        await until(lambda: leader.token is not None and leader.token > other)
        renewed = leader.token
        leader._on_ring(None)  # nothing greater stored now: the term goes on
        await asyncio.sleep(0.1)
        assert leader.token == renewed
    finally:
        await close(members, made)


class _RecordingClock(SystemClock):
    """The process clock, except that a wait is recorded and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


async def test_singleton_backoff_and_period_wait_on_the_injected_clock() -> None:
    """A wait of an hour passes at once on a clock that does not wait (asyncio.sleep would hang)."""
    clock = _RecordingClock()
    members, made = await systems(1, clock=clock)
    runs: list[int] = []

    async def job(ctx: JobContext) -> None:
        if ctx.attempt == 1 and not runs:
            runs.append(0)
            raise RuntimeError("first run fails")
        runs.append(ctx.attempt)

    try:
        made[0].singleton("hourly", job, every=3600.0)
        await until(lambda: len(runs) >= 4)
        assert clock.waits[:3] == [0.1, 3600.0, 3600.0]
    finally:
        await close(members, made)


@pytest.mark.parametrize(
    ("settings", "why"),
    [
        ({"every": 0.0}, "every must be a positive, finite number of seconds, not 0.0"),
        ({"every": float("nan")}, "every must be a positive, finite number of seconds, not nan"),
        ({"backoff": 0.0}, "^backoff must be a positive, finite number of seconds, not 0.0"),
        ({"backoff": 5.0, "max_backoff": 1.0}, "max_backoff must be >= backoff"),
        ({"max_backoff": float("inf")}, "max_backoff must be a positive, finite number"),
    ],
)
async def test_a_singleton_that_would_spin_is_refused(settings: dict[str, float], why: str) -> None:
    """``every=0`` would rerun the job in a loop that never sleeps, ``backoff=0``
    restart a failing one likewise: refused before any leadership is sought."""
    from ringpop.actors.singleton import Singleton

    async def job(ctx: JobContext) -> None:
        return None

    members, made = await systems(1)
    try:
        with pytest.raises(ValueError, match=why):
            Singleton(made[0], "spin", job, **settings)  # type: ignore[arg-type]
    finally:
        await close(members, made)


async def test_a_plain_function_job_runs_once_and_finishes() -> None:
    """``await job(ctx)`` on a plain function ran it, then failed on awaiting None: the
    'failed' job restarted with backoff forever, running again each time."""
    from ringpop.actors.events import SingletonFailed, SingletonStopped

    members, made = await systems(1)
    runs: list[int] = []
    failed: list[SingletonFailed] = []
    stopped: list[SingletonStopped] = []
    rp = members[0].rp
    rp.events.on(SingletonFailed, failed.append)
    rp.events.on(SingletonStopped, stopped.append)
    try:
        made[0].singleton("plain", lambda ctx: runs.append(ctx.attempt))
        await until(lambda: bool(stopped))
        await asyncio.sleep(0.3)  # a restart would have come after backoff (0.1 s)
        assert runs == [1]
        assert failed == []
        assert stopped[0].reason == "finished"
        with pytest.raises(TypeError, match="must be a function"):
            made[0].singleton("not-a-job", "job")  # type: ignore[arg-type]
    finally:
        await close(members, made)
