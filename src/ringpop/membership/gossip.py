"""Driver: the gossip loop (§8): one protocol period after another.

Each period pings the next member of the round (:mod:`.ping`) and, if that fails,
asks helpers (:mod:`.pingreq`). Periods start every :attr:`GossipLoop.protocol_rate`
seconds, start to start, measured on the injected clock (the same clock the core's
deadlines use); the rate itself is plain data (:class:`~.rate.ProtocolRate`).

With ``Options.background_probes`` > 0 (opt-in) each probe (the ping, and the
ping-req if the ping fails) runs in a background task and the period ends at once:
a node keeps gossiping while it probes dead members, with up to that many probes
in flight (docs/scale.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ringpop.membership.events import ProtocolPeriod
from ringpop.membership.member import Member
from ringpop.membership.ping import PingSender
from ringpop.membership.pingreq import PingReqSender
from ringpop.membership.rate import ProtocolRate
from ringpop.membership.runtime import Runtime

__all__ = ["GossipLoop"]

log = logging.getLogger(__name__)


class GossipLoop:
    """The protocol-period loop of one node."""

    def __init__(self, runtime: Runtime, ping: PingSender, ping_req: PingReqSender) -> None:
        self._rt = runtime
        self._ping = ping
        self._ping_req = ping_req
        options = runtime.options
        self.rate = ProtocolRate(options.min_protocol_period, options.protocol_rate_interval)
        self.ping_count = 0
        """Pings sent by the gossip loop and admin ticks (for stats and tests)."""
        self._task: asyncio.Task[None] | None = None
        self._tick_lock: asyncio.Lock | None = None
        self._wake: asyncio.Event | None = None
        self._probes: set[asyncio.Task[None]] = set()
        """Ping-reqs running in the background (``background_probes``)."""

    @property
    def running(self) -> bool:
        """Whether the loop runs."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the loop (no-op if it runs, or the node is stopped): a fresh round."""
        rt = self._rt
        if self.running or rt.closed:
            return
        rt.core.members.restart_round()
        self._task = asyncio.get_running_loop().create_task(
            self._loop(), name=f"gossip {rt.address}"
        )

    async def stop(self) -> None:
        """Stop the loop; an in-flight ping may still finish in the background."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _loop(self) -> None:
        rt = self._rt
        clock = rt.clock
        await clock.sleep(rt.rng.uniform(0, rt.options.min_protocol_period))
        while True:
            start = clock.monotonic()
            try:
                await self.tick(background=rt.options.background_probes)
            except Exception:  # a bug in one period must not stop failure detection
                log.exception("%s: protocol period failed", rt.address)
            end = clock.monotonic()
            rt.notify(ProtocolPeriod, end - start)
            self.rate.record(end - start, end)
            # Start-to-start scheduling: per-period overhead does not accumulate (§8.1).
            await self._sleep(max(start + rt.core.scaled(self.rate.rate) - end, 0.0))

    async def _sleep(self, delay: float) -> None:
        """Sleep until the next period, or until :meth:`reset_rate` cuts it short."""
        wake = self._wake
        if wake is None:
            wake = self._wake = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await wake.wait()
        wake.clear()

    def reset_rate(self) -> None:
        """Forget the measured periods and gossip at the minimum period again, now."""
        if self.rate.reset() and self._wake is not None:
            self._wake.set()

    async def tick(self, background: int = 0) -> bool:
        """Run one protocol period: ping the next member, ping-req if that fails.

        Returns whether a member was probed. A tick while another runs is skipped.
        ``background`` > 0: the probe runs in the background, at most that many at
        once (the period first waits for one when they all run).
        """
        if self._tick_lock is None:
            self._tick_lock = asyncio.Lock()
        if self._tick_lock.locked():
            return False
        async with self._tick_lock:
            core = self._rt.core
            target = core.members.next_ping_target()
            if target is None:
                return False
            self.ping_count += 1
            if background > 0:
                while len(self._probes) >= background:
                    await asyncio.wait(self._probes, return_when=asyncio.FIRST_COMPLETED)
                task = self._rt.spawn(self._probe(target))
                self._probes.add(task)
                task.add_done_callback(self._probes.discard)
                return True
            await self._probe(target)
            return True

    async def _probe(self, target: Member) -> None:
        """Ping ``target``; if that fails, ask helpers (ping-req)."""
        core = self._rt.core
        if await self._ping.send_ping(target.address):
            core.probe_succeeded()
        elif not await self._ping_req.probe(target):
            core.probe_failed()  # no ack at all, direct or indirect
