"""Range handoff: a node pulls the ranges it gains, and drops those it lost once confirmed.

On :class:`~ringpop.events.OwnershipChanged` (its ``n`` must be the store's ``n``),
each gained range becomes a *pull* whose sources are the range's **old** preference
list (this node left out). After ``delay`` seconds without further change (rings
flap while membership converges), pulls run, ``concurrency`` at a time:

* from the first source that answers, binary pages (``/state/scan``, msgpack
  columns) of at most ``page`` records and about ``page_bytes`` bytes, the next
  fetched while one is applied, each validated whole then applied with
  put-if-newer in one store transaction; the cursor is kept per source, so
  a pull interrupted by the source's death, a timeout or a bad page resumes from it
  on the next attempt (or continues from another source);
* from the other sources, a digest first; a full scan only if it differs (replicas
  that missed writes are merged, not trusted);
* throttled by a byte rate (``rate``, bytes/s; ``None``: unlimited);
* when a pull completes, every source gets ``/state/handoff-done``.

A pull with no source answering is retried every ``retry`` seconds, ``max_attempts``
times (``HandoffFailed`` each time), then left to anti-entropy. A node killed
mid-pull starts over after its restart: its bootstrap ``OwnershipChanged`` gains
every range again, and re-sent records are harmless (put-if-newer).

Each lost range is kept until every node that gained it confirmed it, ``grace``
seconds passed, and this node still does not replicate it; then it is deleted
(``RangeDropped``). Unconfirmed ranges are kept (never dropped blindly).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ringpop.events import Event, OwnershipChanged
from ringpop.ring.ownership import Range
from ringpop.state.events import (
    HandoffCompleted,
    HandoffFailed,
    HandoffProgress,
    HandoffStarted,
    RangeDropped,
)
from ringpop.state.ranges import PendingDrop, TokenBucket, intersect, subtract
from ringpop.state.rangeserver import RangeServer
from ringpop.state.replicated import ReplicatedStore
from ringpop.state.store import Columns, Cursor
from ringpop.state.transfer import RangeClient, TransferError, apply_columns
from ringpop.tchannel import TChannelError

__all__ = ["Pull", "RangeHandoff"]

log = logging.getLogger(__name__)

_DONE = Cursor(-1, "")  # a source whose scan finished


@dataclass
class Pull:
    """A gained range to fetch, its sources (old preference list) and progress."""

    range: Range
    sources: tuple[str, ...]
    cursors: dict[str, Cursor | None] = field(default_factory=dict)
    records: int = 0
    bytes: int = 0
    attempts: int = 0
    due: float = 0.0
    started: float | None = None


class RangeHandoff:
    """Pulls gained ranges, serves ours, drops lost ones when confirmed (module docstring)."""

    def __init__(
        self,
        kv: ReplicatedStore,
        *,
        delay: float = 1.0,
        concurrency: int = 2,
        page: int = 8192,
        page_bytes: int = 1 << 20,
        rate: float | None = None,
        grace: float = 10.0,
        retry: float = 1.0,
        max_attempts: int = 10,
        timeout: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kv = kv
        self.ringpop = rp = kv.ringpop
        self.n = kv.options.n
        if rp.ownership_n != self.n:
            raise ValueError(f"ringpop's ownership_n ({rp.ownership_n}) must be n ({self.n})")
        self.delay, self.concurrency, self.page = delay, concurrency, page
        self.page_bytes = page_bytes
        self.grace, self.retry, self.max_attempts = grace, retry, max_attempts
        self.clock = clock
        self.bucket = TokenBucket(rate, now=clock())
        self.client = RangeClient(rp, kv.service, timeout=timeout or kv.options.timeout)
        self.server = RangeServer(rp, kv.store, kv.service, self.n, on_done=self._confirmed)
        self.pulls: dict[Range, Pull] = {}
        self.drops: list[PendingDrop] = []
        counters = ("completed", "failed", "pages", "records", "bytes")
        self.counts = dict.fromkeys((*counters, "dropped_ranges", "dropped_records"), 0)
        self.active = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        rp.events.on(OwnershipChanged, self._changed)

    # -- events ----------------------------------------------------------------------

    def _changed(self, event: OwnershipChanged) -> None:
        if self._closed or event.address != self.ringpop.whoami():
            return
        now = self.clock()
        me = event.address
        lost = [c.range for c in event.lost]
        for key in [r for r in self.pulls if intersect(r, lost)]:  # no longer ours to pull
            pull = self.pulls.pop(key)
            for piece in subtract(key, lost):
                self.pulls[piece] = Pull(piece, pull.sources, due=now + self.delay)
        for change in event.gained:
            sources = tuple(a for a in change.old if a != me)
            if sources:
                current = self.pulls.get(change.range)
                if current is not None:
                    sources = tuple(dict.fromkeys(current.sources + sources))
                self.pulls[change.range] = Pull(change.range, sources, due=now + self.delay)
        for change in event.lost:
            gainers = frozenset(a for a in change.new if a not in change.old)
            self.drops.append(PendingDrop(change.range, gainers, now))
        for pull in self.pulls.values():  # debounce: every pull waits for the ring to settle
            pull.due = max(pull.due, now + self.delay)
        self._start()

    def _confirmed(self, node: str, acked: Range) -> int:
        for drop in self.drops:
            drop.ack(node, acked)
        self._wake.set()
        return len(self.drops)

    def _start(self) -> None:
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._run())
        self._wake.set()

    def _emit(self, event: Event) -> None:
        if self.ringpop.events.wants(type(event)):
            self.ringpop.events.emit(event)

    # -- the loop ----------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while not self._closed and (self.pulls or self.drops):
                now = self.clock()
                due = [p for p in self.pulls.values() if p.due <= now]
                if due:
                    await self._pull_all(due)
                if self.drops:
                    await self._drop_due()
                waits = [p.due - self.clock() for p in self.pulls.values()]
                if self.drops:
                    waits.append(min(1.0, self.grace / 4))
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(0.01, min(waits, default=1.0)))
        except Exception:
            log.exception("%s: handoff loop failed", self.ringpop.whoami())
        finally:
            self._task = None
            if not self._closed and (self.pulls or self.drops):
                self._start()

    async def _pull_all(self, due: list[Pull]) -> None:
        limit = asyncio.Semaphore(self.concurrency)

        async def one(pull: Pull) -> None:
            async with limit:
                if self.pulls.get(pull.range) is pull:
                    await self._pull(pull)

        await asyncio.gather(*(one(p) for p in due))

    async def _pull(self, pull: Pull) -> None:
        self.active += 1
        if pull.started is None:
            pull.started = self.clock()
            self._emit(HandoffStarted(pull.range, pull.sources))
        served: list[str] = []
        reasons: list[str] = []
        try:
            for source in pull.sources:
                if self._closed:
                    return
                try:
                    if pull.cursors.get(source) is not _DONE:
                        if served and await self._same(source, pull.range):
                            pull.cursors[source] = _DONE
                        else:
                            await self._stream(pull, source)
                    served.append(source)
                except (TChannelError, TransferError, OSError) as error:
                    reasons.append(f"{source}: {error}")
        finally:
            self.active -= 1
        if self.pulls.get(pull.range) is not pull:
            return  # lost meanwhile
        if not served:
            pull.attempts += 1
            self.counts["failed"] += 1
            self._emit(HandoffFailed(pull.range, pull.attempts, self.max_attempts, tuple(reasons)))
            log.info("%s: pull of %s failed: %s", self.ringpop.whoami(), pull.range, reasons)
            if pull.attempts >= self.max_attempts:
                del self.pulls[pull.range]
            else:
                pull.due = self.clock() + self.retry
            return
        del self.pulls[pull.range]
        self.counts["completed"] += 1
        took = self.clock() - (pull.started or self.clock())
        self._emit(HandoffCompleted(pull.range, tuple(served), pull.records, pull.bytes, took))
        for source in pull.sources:
            with contextlib.suppress(TChannelError, OSError, TransferError):
                await self.client.done(source, pull.range)

    async def _same(self, source: str, range: Range) -> bool:
        theirs = (await self.client.digests(source, [range]))[0]
        return theirs == await self.kv.store.digest(range)

    async def _stream(self, pull: Pull, source: str) -> None:
        """Pages from ``source``; the next page is fetched while this one is applied."""

        def scan(cursor: Cursor | None) -> asyncio.Future[tuple[Columns, list[int], int]]:
            return asyncio.ensure_future(
                self.client.scan_columns(source, pull.range, cursor, self.page, self.page_bytes)
            )

        fetch = scan(pull.cursors.get(source))
        try:
            while not self._closed:
                page, hashes, size = await fetch
                if page.cursor is not None:  # pipelined: at most one page ahead
                    fetch = scan(page.cursor)
                await apply_columns(self.kv.store, self.kv.clock, page, hashes)
                pull.records += len(page)
                pull.bytes += size
                self.counts["pages"] += 1
                self.counts["records"] += len(page)
                self.counts["bytes"] += size
                pull.cursors[source] = page.cursor if page.cursor is not None else _DONE
                self._emit(HandoffProgress(pull.range, source, pull.records, pull.bytes))
                if page.cursor is None:
                    return
                wait = self.bucket.take(size, self.clock())
                if wait > 0:
                    await asyncio.sleep(wait)
        finally:
            if not fetch.done():
                fetch.cancel()
                with contextlib.suppress(BaseException):
                    await fetch

    async def _drop_due(self) -> None:
        now = self.clock()
        mine = self.ringpop.owned_ranges()
        keep: list[PendingDrop] = []
        for drop in self.drops:
            if intersect(drop.range, mine) and now - drop.since >= self.grace:
                continue  # ours again: nothing to drop
            if not drop.droppable(now, self.grace, mine):
                keep.append(drop)
                continue
            count = await self.kv.store.delete_range(drop.range)
            self.counts["dropped_ranges"] += 1
            self.counts["dropped_records"] += count
            self._emit(RangeDropped(drop.range, count))
        self.drops = keep

    # -- reporting -------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counters for ``/admin/state`` and tests."""
        return {
            "pending": len(self.pulls),
            "active": self.active,
            **self.counts,
            "pending_drops": len(self.drops),
            "served_pages": self.server.served_pages,
            "served_records": self.server.served_records,
            "refused": self.server.refused,
        }

    async def idle(self, timeout: float) -> bool:
        """Wait until no pull is pending (``timeout`` seconds at most); whether it is."""
        for _ in range(max(1, int(timeout / 0.05))):
            if not self.pulls:
                return True
            await asyncio.sleep(0.05)
        return not self.pulls

    async def close(self) -> None:
        """Stop pulling, dropping and serving ranges."""
        self._closed = True
        self.ringpop.events.off(OwnershipChanged, self._changed)
        self.server.close()
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
