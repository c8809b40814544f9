"""In-process clusters with actor systems, and the test actors."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from ringpop import Options, Ringpop
from ringpop.actors import Actor, ActorOptions, ActorSystem, Context, ReplicatedState
from ringpop.clock import Clock
from ringpop.state.memory import MemoryStore
from ringpop.state.replicated import ReplicatedStore
from tests.forward.conftest import Member, start_members, until

STEADY = Options(min_protocol_period=0.05, suspect_period=60.0)

__all__ = ["Counter", "Recorder", "Slow", "systems", "until"]


class Counter(Actor):
    """Adds ``message["add"]``; replies the total; raises on ``{"boom": ...}``."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.count = 0

    async def on_activate(self, state: Any) -> None:
        self.count = state or 0

    async def receive(self, message: Any, context: Context) -> Any:
        if "boom" in message:
            raise ValueError(message["boom"])
        if "unencodable" in message:
            return {"reply": object()}
        self.count += message["add"]
        return self.count

    def snapshot(self) -> Any:
        return self.count


class Recorder(Actor):
    """Keeps every message it handled, in order, and where (``handled`` is class-wide)."""

    handled: ClassVar[list[tuple[str, str, Any]]] = []

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.seen: list[Any] = []

    async def on_activate(self, state: Any) -> None:
        self.seen = list(state or [])

    async def receive(self, message: Any, context: Context) -> Any:
        self.seen.append(message)
        Recorder.handled.append((self.key, context.sender, message))
        await asyncio.sleep(0)
        return len(self.seen)

    def snapshot(self) -> Any:
        return self.seen


class Slow(Actor):
    """Waits ``message`` seconds."""

    async def receive(self, message: Any, context: Context) -> Any:
        await asyncio.sleep(message)
        return message


async def systems(
    count: int,
    options: ActorOptions | None = None,
    ringpop_options: Options = STEADY,
    clock: Clock | None = None,
) -> tuple[list[Member], list[ActorSystem]]:
    """``count`` converged nodes, each with an actor system over a replicated store
    (on ``clock`` if given)."""
    members = await start_members(count, ringpop_options)
    made = []
    for member in members:
        kv = ReplicatedStore(member.rp, MemoryStore(), service="test-actors-state")
        system = ActorSystem(
            member.rp, ReplicatedState(member.rp, kv), options=options, clock=clock
        )
        for kind, factory in (("counter", Counter), ("recorder", Recorder), ("slow", Slow)):
            system.register(kind, factory)
        made.append(system)
    return members, made


def key_of(rp: Ringpop, owner: str, prefix: str = "k") -> str:
    """A key ``owner`` owns on ``rp``'s ring."""
    for i in range(100_000):
        if rp.lookup(f"{prefix}{i}") == owner:
            return f"{prefix}{i}"
    raise AssertionError("no key")


async def close(members: list[Member], made: list[ActorSystem]) -> None:
    await asyncio.gather(*(s.close() for s in made))
    await asyncio.gather(*(m.rp.close(self_evict=False) for m in members))
