"""One clock: the gossip loop measures its periods on the injected clock, as the core
computes its deadlines on it (not on ``loop.time()``)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping

from ringpop.membership.events import ProtocolPeriod
from ringpop.membership.node import SwimNode
from ringpop.options import Options


class _StepClock:
    """Every reading is ``step`` seconds after the previous one."""

    def __init__(self, step: float) -> None:
        self.step = step
        self.now = 1000.0

    def monotonic(self) -> float:
        self.now += self.step
        return self.now

    def now_ms(self) -> int:
        return 1_414_142_122_274

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)


class _Alone:
    """A network with nobody else on it (a lone node never calls it)."""

    async def call(self, address: str, endpoint: str, body: bytes, *, timeout: float) -> bytes:
        raise AssertionError(f"a lone node called {address}{endpoint}")

    def serve(self, handlers: Mapping[str, object]) -> None:
        return None


async def test_gossip_periods_are_measured_on_the_injected_clock() -> None:
    node = SwimNode(
        "127.0.0.1:3000",
        _Alone(),
        options=Options(min_protocol_period=0.001),
        clock=_StepClock(0.25),
        rng=random.Random(1),
    )
    periods: list[float] = []
    node.events.on(ProtocolPeriod, lambda event: periods.append(event.duration))
    node.mark_ready()  # auto_gossip: the loop starts
    try:
        for _ in range(200):  # at most ~2 s
            if len(periods) >= 3:
                break
            await asyncio.sleep(0.01)
        assert len(periods) >= 3
        # A lone node probes nobody: the clock is read once at the start of a period
        # and once at its end, so each period lasts one step of the injected clock.
        assert periods[:3] == [0.25, 0.25, 0.25]
        assert node.tick_durations()[:3] == [0.25, 0.25, 0.25]
    finally:
        await node.stop()
    assert not node.gossiping


class _RecordingClock:
    """Records every sleep asked of it; each returns after a short real pause."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return 1000.0

    def now_ms(self) -> int:
        return 1_414_142_122_274

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await asyncio.sleep(0.005)


async def test_heal_and_damping_loops_wait_on_the_injected_clock() -> None:
    from ringpop.discovery.spec import from_spec
    from ringpop.membership.damper import Damper
    from ringpop.membership.heal import Healer

    options = Options(
        heal_period=123.0,
        fast_heal_probe_interval=7.0,
        damp_scoring_enabled=True,
        damp_decay_interval=45.0,
        damp_req_interval=67.0,
    )
    clock = _RecordingClock()
    node = SwimNode("127.0.0.1:3000", _Alone(), options=options, clock=clock, rng=random.Random(1))
    healer, damper = Healer(node, from_spec(["127.0.0.1:3000"])), Damper(node)
    healer.start()
    damper.start()
    try:
        for _ in range(100):  # at most ~1 s
            if {123.0, 45.0, 67.0} <= set(clock.sleeps) and any(
                3.5 <= s <= 10.5 for s in clock.sleeps
            ):
                break
            await asyncio.sleep(0.01)
        # Waited on the injected clock, not asyncio.sleep: in real time these loops
        # would not have woken once within the test.
        assert {123.0, 45.0, 67.0} <= set(clock.sleeps)
        assert any(3.5 <= s <= 10.5 for s in clock.sleeps)  # the fast healer's probe period
    finally:
        await node.stop()  # its spawned loops with it
