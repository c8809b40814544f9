"""Collecting old delete markers (tombstones) after a time to live.

A delete is a record with ``value=None`` (a tombstone), replicated like any write,
so that replicas that missed it learn it and a stale copy of the old value cannot
come back (put-if-newer keeps the newer tombstone). Kept forever, tombstones fill
the store. :class:`TombstoneCollector` forgets the markers whose version is older
than ``ttl`` seconds (by the version's wall clock, the same on every replica), every
``interval`` seconds, at most ``batch`` per store call.

**Why nothing deleted comes back within the TTL.** A replica that missed a delete
learns it through hinted handoff (hints are held in memory until delivered), read repair, or
anti-entropy (every replica's ranges are compared with their primary every period).
A marker is collected only ``ttl`` after the delete, so as long as ``ttl`` exceeds the
longest time a replica can stay out of reach of those three and still come back with
its data (default: 7 days, far above the kv example's 5 s anti-entropy period and a
restart's duration), every replica holding the old value has received the newer marker
before any replica forgets it, and put-if-newer then discards the old value
everywhere. Replicas forget a marker within ``interval`` plus clock skew of each other;
meanwhile anti-entropy may copy it back to one that already forgot it (harmless: it
is forgotten again at the next pass). **What is not covered:** a node kept down
longer than ``ttl`` that restarts with its old store can bring back a value deleted
while it was away; such a node must start with an empty store (documented in
docs/state.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ringpop.clock import Clock, SystemClock
from ringpop.state.store import Store

__all__ = ["DEFAULT_TTL", "TombstoneCollector"]

log = logging.getLogger(__name__)

DEFAULT_TTL = 7 * 24 * 3600.0


class TombstoneCollector:
    """Forgets delete markers older than ``ttl`` seconds, every ``interval`` seconds.

    ``store`` must have ``collect_tombstones(before_wall_ms, limit)`` (both ready
    stores do); ``clock`` (default: the system clock) gives the wall time markers are
    aged by and the waits between passes.
    """

    def __init__(
        self,
        store: Store,
        *,
        ttl: float = DEFAULT_TTL,
        interval: float = 3600.0,
        batch: int = 10_000,
        max_batches: int = 100,
        clock: Clock | None = None,
    ) -> None:
        if ttl <= 0 or interval <= 0:
            raise ValueError("ttl and interval must be positive")
        if getattr(store, "collect_tombstones", None) is None:
            raise TypeError(f"{type(store).__name__} cannot collect tombstones")
        self.store = store
        self.ttl, self.interval = ttl, interval
        self.batch, self.max_batches = batch, max_batches
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.collected = 0
        self._task: asyncio.Task[None] | None = None

    async def collect(self) -> int:
        """One pass: forget the markers older than ``ttl`` (at most ``batch * max_batches``)."""
        before = self.clock.now_ms() - int(self.ttl * 1000)
        collect = getattr(self.store, "collect_tombstones")  # noqa: B009 - optional method
        total = 0
        for _ in range(self.max_batches):
            count: int = await collect(before, self.batch)
            total += count
            if count < self.batch:
                break
        self.collected += total
        return total

    def start(self) -> None:
        """Collect every ``interval`` seconds in the background."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self.clock.sleep(self.interval)
            try:
                await self.collect()
            except Exception:
                log.exception("collecting tombstones failed")

    async def close(self) -> None:
        """Stop collecting."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
