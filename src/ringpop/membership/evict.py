"""Driver: self-eviction (§15): leave gracefully and tell a few members.

The hooks let the application stop taking work before, and flush state after.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable

from ringpop.errors import RingpopError
from ringpop.membership.gossip import GossipLoop
from ringpop.membership.ping import PingSender
from ringpop.membership.runtime import Runtime
from ringpop.membership.status import Status

__all__ = ["Hook", "SelfEviction", "SelfEvictionError"]

log = logging.getLogger(__name__)

Hook = Callable[[], Awaitable[None] | None]


class SelfEvictionError(RingpopError, RuntimeError):
    """Self-eviction was asked for while one is already running."""


class SelfEviction:
    """Self-eviction of one node, with its hooks."""

    def __init__(self, runtime: Runtime, gossip: GossipLoop, ping: PingSender) -> None:
        self._rt = runtime
        self._gossip = gossip
        self._ping = ping
        self.pre_hooks: list[Hook] = []
        self.post_hooks: list[Hook] = []
        self._running = False

    async def run(self) -> int:
        """Leave gracefully: declare ourselves faulty and tell a few members.

        Runs the pre-evict hooks, marks the local member ``faulty`` (out of our own
        ring), pings ``min(maxP, ceil(0.4 x pingable))`` distinct pingable members in
        parallel so the change spreads, runs the post-evict hooks. Returns the number
        of pings that succeeded. A second call while one runs raises
        :class:`SelfEvictionError`.
        """
        if self._running:
            raise SelfEvictionError("ringpop is already executing a self-eviction")
        self._running = True
        rt = self._rt
        core = rt.core
        try:
            await _run_hooks(self.pre_hooks)
            await self._gossip.stop()
            rt.run(core.set_local_status(Status.FAULTY, rt.clock.monotonic()))
            succeeded = 0
            options = rt.options
            if options.self_evict_ping_enabled:
                pingable = core.members.pingable_count
                count = min(
                    core.disseminator.max_p,
                    math.ceil(pingable * options.self_evict_ping_ratio),
                    pingable,
                )
                targets = core.members.random_pingable(count)
                results = await asyncio.gather(*(self._ping.send_ping(m.address) for m in targets))
                succeeded = sum(results)
                log.info(
                    "%s self-evicted: told %d of %d members", rt.address, succeeded, len(targets)
                )
            await _run_hooks(self.post_hooks)
            return succeeded
        finally:
            self._running = False


async def _run_hooks(hooks: list[Hook]) -> None:
    for hook in hooks:
        result = hook()
        if result is not None:
            await result
