"""Range handoff: a node pulls the ranges it gains, and drops those it lost once confirmed.

On :class:`~ringpop.events.OwnershipChanged` (its ``n`` must be the store's ``n``),
each gained range becomes a *pull* whose sources are the range's **old** preference
list (this node left out). After ``delay`` seconds without further change (rings
flap while membership converges), pulls run, ``concurrency`` at a time:

* from the first source that answers, packed pages (``/state/scan``,
  ``ringpop-state-page/2``: :mod:`ringpop.state.packed`; ``/1`` columns from a peer
  that does not serve ``/2``) of at most ``page`` records and ``page_bytes`` bytes, the next
  fetched while one is applied, each validated whole then applied with
  put-if-newer in one store transaction; the cursor is kept per source, so
  a pull interrupted by the source's death, a timeout or a bad page resumes from it
  on the next attempt (or continues from another source);
* from the other sources, a digest first; a full scan only if it differs (replicas
  that missed writes are merged, not trusted);
* throttled by a byte rate (``rate``, bytes/s; ``None``: unlimited);
* when a pull completes, every source gets ``/state/handoff-done``.

A pull with no source answering is retried every ``retry`` seconds, ``max_attempts``
times (``HandoffFailed`` each time), then left to anti-entropy. Cursors and completed
ranges are kept in the store's metadata after every page (``get_meta``/``put_meta``):
a puller restarted within ``resume_ttl`` seconds resumes its ranges (its bootstrap
``OwnershipChanged`` gains every range again) instead of starting over; re-sent
records are harmless anyway (put-if-newer).

Each lost range is kept until ``grace`` seconds passed and every node now in its
preference list that did not hold it before confirmed it, on the **current** ring:
pieces this node replicates again stay; a gainer that died unconfirmed leaves the
ring and its replacement is offered the range (``/state/offer``) and pulls it from
here. Then it is deleted (``RangeDropped``); never dropped blindly.

(About 480 lines, over the usual 400: pulls, drops and their persistence share the
pull table and the loop, and read best together.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ringpop.checks import number_problem
from ringpop.clock import Clock, SystemClock
from ringpop.events import Event, OwnershipChanged
from ringpop.ring.ownership import Range, preference_ranges
from ringpop.state.blobpage import BlobPage
from ringpop.state.events import (
    HandoffCompleted,
    HandoffFailed,
    HandoffProgress,
    HandoffStarted,
    RangeDropped,
)
from ringpop.state.packed import Packed
from ringpop.state.ranges import PendingDrop, TokenBucket, clip, intersect, subtract
from ringpop.state.rangeserver import MAX_BYTES, MAX_LIMIT, RangeServer
from ringpop.state.replicated import ReplicatedStore
from ringpop.state.store import Cursor
from ringpop.state.transfer import RangeClient, TransferError, apply_blob_page
from ringpop.tchannel import TChannelError

__all__ = ["CURSORS_META", "Pull", "RangeHandoff", "SavedCursor"]

log = logging.getLogger(__name__)

_DONE = Cursor(-1, "")  # a source whose scan finished
CURSORS_META = "ringpop.handoff.cursors"


class SavedCursor(msgspec.Struct, frozen=True, array_like=True):
    """A pull's progress from one source, kept in the store's metadata."""

    range: Range
    source: str
    cursor: Cursor
    saved_at: float  # wall clock seconds


class _Slot:
    """A pull's place among the ``concurrency`` running: released once."""

    __slots__ = ("_limit",)

    def __init__(self, limit: asyncio.Semaphore) -> None:
        self._limit: asyncio.Semaphore | None = limit

    def release(self) -> None:
        if self._limit is not None:
            self._limit.release()
            self._limit = None


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
    compare_first: bool = False  # an offered range: digests first, scan only if they differ


class RangeHandoff:
    """Pulls gained ranges, serves ours, drops lost ones when confirmed (module docstring).

    ``clock`` (default: the system clock) gives the monotonic time of delays,
    retries, the throttle and the drop grace, the wall time of saved cursors' ages,
    and every wait (``clock.sleep``).
    """

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
        resume_ttl: float = 600.0,
        clock: Clock | None = None,
    ) -> None:
        _check_settings(
            delay, concurrency, page, page_bytes, grace, retry, max_attempts, timeout, resume_ttl
        )
        self.kv = kv
        self.ringpop = rp = kv.ringpop
        self.n = kv.options.n
        if rp.ownership_n != self.n:
            raise ValueError(f"ringpop's ownership_n ({rp.ownership_n}) must be n ({self.n})")
        self.delay, self.concurrency, self.page = delay, concurrency, page
        self.page_bytes = page_bytes
        self.grace, self.retry, self.max_attempts = grace, retry, max_attempts
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.resume_ttl = resume_ttl
        self.bucket = TokenBucket(rate, now=self.clock.monotonic())
        self.client = RangeClient(rp, kv.service, timeout=timeout or kv.options.timeout)
        self.server = RangeServer(
            rp, kv.store, kv.service, self.n, on_done=self._confirmed, on_offer=self._offered
        )
        self.pulls: dict[Range, Pull] = {}
        self.drops: list[PendingDrop] = []
        counters = ("completed", "failed", "pages", "records", "bytes", "resumed", "offers")
        self.counts = dict.fromkeys((*counters, "dropped_ranges", "dropped_records"), 0)
        self.active = 0
        self._saved: list[SavedCursor] | None = None  # loaded from the store on first run
        self._finished: list[SavedCursor] = []  # completed pulls, kept for a restart
        self._preference: tuple[int, list[tuple[Range, tuple[str, ...]]]] | None = None
        self._offered_at: dict[tuple[str, Range], float] = {}
        # (ring checksum, drops) of the last pass that found every drop inside its
        # grace, and when the first grace ends: until then a pass would change nothing
        self._quiet: tuple[int, int, float] | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        rp.events.on(OwnershipChanged, self._changed)

    # -- events ----------------------------------------------------------------------

    def _changed(self, event: OwnershipChanged) -> None:
        if self._closed or event.address != self.ringpop.whoami():
            return
        now = self.clock.monotonic()
        me = event.address
        lost = [c.range for c in event.lost]
        self._finished = [f for f in self._finished if not intersect(f.range, lost)]
        for key in [r for r in self.pulls if intersect(r, lost)]:  # no longer ours to pull
            pull = self.pulls.pop(key)
            for piece in subtract(key, lost):
                self.pulls[piece] = Pull(piece, pull.sources, due=now + self.delay)
        for change in event.gained:
            sources = tuple(a for a in change.old if a != me)
            if sources:
                current = self.pulls.get(change.range)
                pull = Pull(change.range, sources, due=now + self.delay)
                if current is not None:  # pending already: same progress, more sources
                    pull.sources = tuple(dict.fromkeys(current.sources + sources))
                    pull.cursors = dict(current.cursors)
                self.pulls[change.range] = self._resumed(pull)
        for change in event.lost:
            holders = frozenset(a for a in change.new if a in change.old)
            self.drops.append(PendingDrop(change.range, holders, now))
        for pull in self.pulls.values():  # debounce: every pull waits for the ring to settle
            pull.due = max(pull.due, now + self.delay)
        self._start()

    def _confirmed(self, node: str, acked: Range) -> int:
        for drop in self.drops:
            drop.ack(node, acked)
        self._wake.set()
        return len(self.drops)

    def _offered(self, node: str, offered: Range) -> int:
        """``node`` holds ``offered`` for us: pull the parts we replicate from it."""
        if self._closed:
            return 0
        now = self.clock.monotonic()
        count = 0
        for piece in intersect(offered, self.ringpop.owned_ranges(self.n)):
            if any(intersect(piece, [r]) for r in self.pulls):
                continue  # already pulling it (from its regular sources)
            self.pulls[piece] = Pull(piece, (node,), due=now, compare_first=True)
            count += 1
        if count:
            self.counts["offers"] += count
            self._start()
        return count

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
            if self._saved is None:
                await self._load_cursors()
            while not self._closed and (self.pulls or self.drops):
                now = self.clock.monotonic()
                due = [p for p in self.pulls.values() if p.due <= now]
                if due:
                    await self._pull_all(due)
                if self.drops:
                    await self._drop_due()
                waits = [p.due - self.clock.monotonic() for p in self.pulls.values()]
                if self.drops:
                    waits.append(min(1.0, self.grace / 4))
                self._wake.clear()
                await self._nap(max(0.01, min(waits, default=1.0)))
        except Exception:
            log.exception("%s: handoff loop failed", self.ringpop.whoami())
        finally:
            self._task = None
            if not self._closed and (self.pulls or self.drops):
                self._start()

    async def _nap(self, seconds: float) -> None:
        """Wait ``seconds`` on the clock, or until woken (a change, a confirmation)."""
        woken = asyncio.ensure_future(self._wake.wait())
        slept = asyncio.ensure_future(self.clock.sleep(seconds))
        try:
            await asyncio.wait((woken, slept), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (woken, slept):
                waiter.cancel()

    def _wall(self) -> float:
        """Wall-clock seconds (saved cursors' ages)."""
        return self.clock.now_ms() / 1000

    async def _pull_all(self, due: list[Pull]) -> None:
        limit = asyncio.Semaphore(self.concurrency)

        async def one(pull: Pull) -> None:
            await limit.acquire()
            slot = _Slot(limit)
            try:
                if self.pulls.get(pull.range) is not pull:
                    return
                tell = await self._pull(pull, slot)
            finally:
                slot.release()
            # after the slot is free: the next pull need not wait for these round trips
            for source in tell:
                with contextlib.suppress(TChannelError, OSError, TransferError):
                    await self.client.done(source, pull.range)

        await asyncio.gather(*(one(p) for p in due))

    async def _pull(self, pull: Pull, slot: _Slot | None = None) -> tuple[str, ...]:
        """Pull ``pull`` from its sources; the sources to tell it is done (if it is).

        ``slot`` (its place among the ``concurrency`` pulls) is given up as soon as
        the last page of the last source has arrived, before it is applied: the next
        pull's first request is then in flight while this one finishes."""
        self.active += 1
        if pull.started is None:
            pull.started = self.clock.monotonic()
            self._emit(HandoffStarted(pull.range, pull.sources))
        served: list[str] = []
        reasons: list[str] = []
        try:
            for source in pull.sources:
                if self._closed:
                    return ()
                try:
                    if pull.cursors.get(source) != _DONE:
                        compare = bool(served) or (pull.compare_first and not pull.cursors)
                        if compare and await self._same(source, pull.range):
                            pull.cursors[source] = _DONE
                        else:
                            last = source == pull.sources[-1]
                            await self._stream(pull, source, slot if last else None)
                    served.append(source)
                except (TChannelError, TransferError, OSError) as error:
                    reasons.append(f"{source}: {error}")
        finally:
            self.active -= 1
        if self.pulls.get(pull.range) is not pull:
            return ()  # lost meanwhile
        if not served:
            pull.attempts += 1
            self.counts["failed"] += 1
            self._emit(HandoffFailed(pull.range, pull.attempts, self.max_attempts, tuple(reasons)))
            log.info("%s: pull of %s failed: %s", self.ringpop.whoami(), pull.range, reasons)
            if pull.attempts >= self.max_attempts:
                del self.pulls[pull.range]
            else:
                pull.due = self.clock.monotonic() + self.retry
            return ()
        del self.pulls[pull.range]
        self._finished.extend(SavedCursor(pull.range, s, _DONE, self._wall()) for s in served)
        await self._save_cursors()
        self.counts["completed"] += 1
        took = self.clock.monotonic() - (pull.started or self.clock.monotonic())
        self._emit(HandoffCompleted(pull.range, tuple(served), pull.records, pull.bytes, took))
        return pull.sources

    async def _same(self, source: str, range: Range) -> bool:
        theirs = (await self.client.digests(source, [range]))[0]
        return theirs == await self.kv.store.digest(range)

    async def _stream(self, pull: Pull, source: str, slot: _Slot | None = None) -> None:
        """Pages from ``source``; the next page is fetched while this one is applied
        (``slot`` is released when the last page arrived)."""

        # a store that keeps pages as they came takes blob pages (format /3)
        blobs = hasattr(self.kv.store, "put_blob_page")

        def scan(cursor: Cursor | None) -> asyncio.Future[tuple[BlobPage | Packed, int]]:
            scan_page = self.client.scan_blob if blobs else self.client.scan_packed
            return asyncio.ensure_future(
                scan_page(source, pull.range, cursor, self.page, self.page_bytes)
            )

        fetch = scan(pull.cursors.get(source))
        try:
            while not self._closed:
                page, size = await fetch
                if page.cursor is not None:  # pipelined: at most one page ahead
                    fetch = scan(page.cursor)
                    passes = 1
                elif slot is not None:
                    slot.release()  # the next pull starts: its first request too
                    passes = 3
                else:
                    passes = 0
                # A store may apply without yielding (MemoryStore): let the request(s)
                # just started go out first, or the next page is asked for only after
                # this one is applied and the two sides take turns instead of overlapping.
                for _ in range(passes):
                    await asyncio.sleep(0)
                await apply_blob_page(self.kv.store, self.kv.clock, page)
                pull.records += len(page)
                pull.bytes += size
                self.counts["pages"] += 1
                self.counts["records"] += len(page)
                self.counts["bytes"] += size
                pull.cursors[source] = page.cursor if page.cursor is not None else _DONE
                await self._save_cursors()
                self._emit(HandoffProgress(pull.range, source, pull.records, pull.bytes))
                if page.cursor is None:
                    return
                wait = self.bucket.take(size, self.clock.monotonic())
                if wait > 0:
                    await self.clock.sleep(wait)
        finally:
            if not fetch.done():
                fetch.cancel()
                with contextlib.suppress(BaseException):
                    await fetch

    def _preference_map(self) -> list[tuple[Range, tuple[str, ...]]]:
        """The current ring's ``(range, preference list)`` map (cached per ring checksum)."""
        ring = self.ringpop.ring
        if self._preference is None or self._preference[0] != ring.checksum:
            self._preference = (ring.checksum, preference_ranges(ring, self.n))
        return self._preference[1]

    async def _drop_due(self) -> None:
        """Drop the lost pieces every current replica confirmed; offer the others.

        Decided on the current ring: a piece this node replicates again is no longer
        pending; a piece is dropped once ``grace`` passed and every node now in its
        preference list that did not hold it before confirmed it. A gainer that died
        unconfirmed leaves the ring, so its replacement is asked instead: it is
        *offered* the piece (``/state/offer``, every ``retry * 5`` s at most) and pulls
        it from here.
        """
        now = self.clock.monotonic()
        checksum = self.ringpop.ring.checksum
        quiet = self._quiet
        if quiet is not None and quiet[:2] == (checksum, len(self.drops)) and now < quiet[2]:
            return  # the same ring and drops, every one inside its grace: nothing to do
        me = self.ringpop.whoami()
        preference = self._preference_map()
        mine = [r for r, owners in preference if me in owners]
        keep: list[PendingDrop] = []
        for drop in self.drops:
            pieces = subtract(drop.range, clip(mine, drop.range))
            if not pieces:
                continue  # ours again: nothing to drop
            if len(pieces) > 1 or pieces[0] != drop.range:
                for piece in pieces:  # part of it is ours again: keep the rest
                    part = PendingDrop(piece, drop.holders, drop.since)
                    for node, acked in drop.acks.items():
                        part.acks[node] = list(acked)
                    keep.append(part)
                continue
            if now - drop.since < self.grace:  # who is missing matters after the grace only
                keep.append(drop)
                continue
            missing = drop.missing(me, preference)
            if missing:
                keep.append(drop)
                await self._offer(missing, now)
                continue
            await self._save_cursors()  # no saved cursor may outlive the data it covers
            count = await self.kv.store.delete_range(drop.range)
            self.counts["dropped_ranges"] += 1
            self.counts["dropped_records"] += count
            self._emit(RangeDropped(drop.range, count))
        self.drops = keep
        first_due = min((drop.since for drop in keep), default=None)
        if first_due is not None and now - first_due < self.grace:
            self._quiet = (checksum, len(keep), first_due + self.grace)
        else:
            self._quiet = None

    async def _offer(self, missing: list[tuple[str, Range]], now: float) -> None:
        quiet = self.retry * 5
        # forget offers old enough to be made again (pieces change with every ring)
        self._offered_at = {k: at for k, at in self._offered_at.items() if now - at < quiet}
        for node, piece in missing:
            last = self._offered_at.get((node, piece))
            if last is not None:
                continue
            self._offered_at[node, piece] = now
            with contextlib.suppress(TChannelError, TransferError, OSError):
                await self.client.offer(node, piece)

    # -- pull cursors kept in the store ---------------------------------------------------

    async def _load_cursors(self) -> None:
        """Read the cursors a previous run saved; give them to the pulls they fit."""
        get_meta = getattr(self.kv.store, "get_meta", None)
        blob = await get_meta(CURSORS_META) if get_meta is not None else None
        self._saved = []
        if blob:
            try:
                saved = msgspec.msgpack.decode(blob, type=list[SavedCursor])
            except msgspec.DecodeError:
                log.warning("%s: unreadable saved pull cursors ignored", self.ringpop.whoami())
                saved = []
            oldest = self._wall() - self.resume_ttl
            self._saved = [c for c in saved if c.saved_at >= oldest]
        for pull in self.pulls.values():
            self._resumed(pull)

    def _resumed(self, pull: Pull) -> Pull:
        """``pull`` with the saved cursors of a range containing it, per source."""
        for saved in self._saved or ():
            if (
                saved.source in pull.sources
                and saved.source not in pull.cursors
                and saved.range.start <= pull.range.start
                and pull.range.end <= saved.range.end
            ):
                pull.cursors[saved.source] = saved.cursor
                self.counts["resumed"] += 1
        return pull

    async def _save_cursors(self) -> None:
        """Keep every pending pull's cursors in the store (after the pages they cover)."""
        put_meta = getattr(self.kv.store, "put_meta", None)
        if put_meta is None:
            return
        if self._saved:  # what pulls took from the last run is in their cursors now
            self._saved = []
        at = self._wall()
        self._finished = [f for f in self._finished if f.saved_at >= at - self.resume_ttl]
        saved = [
            SavedCursor(pull.range, source, cursor, at)
            for pull in self.pulls.values()
            for source, cursor in pull.cursors.items()
            if cursor is not None
        ]
        saved.extend(self._finished)
        await put_meta(CURSORS_META, msgspec.msgpack.encode(saved) if saved else None)

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
            await self.clock.sleep(0.05)
        return not self.pulls

    async def close(self) -> None:
        """Stop pulling, dropping and serving ranges (again: nothing)."""
        if self._closed:
            return
        self._closed = True
        self.ringpop.events.off(OwnershipChanged, self._changed)
        self.server.close()
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _check_settings(
    delay: float,
    concurrency: int,
    page: int,
    page_bytes: int,
    grace: float,
    retry: float,
    max_attempts: int,
    timeout: float | None,
    resume_ttl: float,
) -> None:
    """``ValueError`` for settings a handoff cannot work with (``concurrency`` 0 would
    never pull; ``retry`` 0 would retry a failing pull in a tight loop); times must
    also be finite."""
    seconds: tuple[tuple[str, float | None, bool], ...] = (
        ("delay", delay, True),
        ("grace", grace, True),
        ("retry", retry, False),
        ("resume_ttl", resume_ttl, True),
        ("timeout", timeout, False),  # None: the replicator's own timeout
    )
    problems = [
        f"{name} {problem}, not {value!r}"
        for name, value, zero_ok in seconds
        if value is not None and (problem := number_problem(value, zero_ok=zero_ok))
    ]
    problems += [
        f"{name} must be >= {least}, not {value!r}"
        for name, value, least in (
            ("concurrency", concurrency, 1),
            ("page", page, 1),
            ("page_bytes", page_bytes, 0),
            ("max_attempts", max_attempts, 1),
        )
        if value < least
    ]
    # sources refuse more (a bad request), so every pull would fail, again and again
    problems += [
        f"{name} must be <= {most}, what sources serve, not {value!r}"
        for name, value, most in (("page", page, MAX_LIMIT), ("page_bytes", page_bytes, MAX_BYTES))
        if value > most
    ]
    if problems:
        raise ValueError(f"range handoff: {'; '.join(problems)}")
