"""Anti-entropy: replicas of a range compare digests and exchange only what differs.

Every ``interval`` seconds each node takes the ranges it owns as **primary** (rank
0, so each range is checked by one node) and, for each other replica of those
ranges, asks that replica's digests of all of them at once (``/state/digest``,
up to 256 ranges per call). Where a digest differs the range is cut into ``fanout``
sub-ranges and compared again, down to sub-ranges of at most ``leaf`` records,
which are scanned on both sides and exchanged with put-if-newer both ways. No tree
is stored: digests are range queries over the stores' ``(hash, key)`` index.

Cost per period is bounded: at most ``max_calls`` digest calls and ``max_records``
records exchanged per peer; what is left over waits for the next period. This
repairs what hints and read repair missed (a hint holder that crashed, a replica
down longer than its hints were kept).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Sequence
from typing import Any

from ringpop.checks import check_whole
from ringpop.clock import Clock, SystemClock
from ringpop.ring.ownership import Range, preference_ranges
from ringpop.state.events import AntiEntropyRepaired
from ringpop.state.hlc import newer
from ringpop.state.ranges import split
from ringpop.state.replicated import ReplicatedStore
from ringpop.state.store import Cursor, Digest, Record
from ringpop.state.transfer import RangeClient, TransferError, apply_records
from ringpop.tchannel import TChannelError

__all__ = ["MAX_FANOUT", "AntiEntropy", "descend", "reconcile"]

log = logging.getLogger(__name__)

MAX_FANOUT = 256
"""Most parts a differing range is cut into: one digest call's worth (a source answers
at most 256 ranges a call; 10**9 parts were 10**9 ranges in memory)."""


def descend(
    ranges: Sequence[Range],
    ours: Sequence[Digest],
    theirs: Sequence[Digest],
    leaf: int,
    fanout: int,
) -> tuple[list[Range], list[Range]]:
    """Pure: which differing ranges to exchange now (small) and which to cut further."""
    exchange: list[Range] = []
    deeper: list[Range] = []
    for r, mine, other in zip(ranges, ours, theirs, strict=True):
        if mine == other:
            continue
        if max(mine.count, other.count) <= leaf or r.size < fanout:
            exchange.append(r)
        else:
            deeper.extend(split(r, fanout))
    return exchange, deeper


def reconcile(
    ours: Sequence[Record], theirs: Sequence[Record]
) -> tuple[list[Record], list[Record]]:
    """Pure: (records to send them, records to apply here): each side gets what is newer."""
    mine = {r.key: r for r in ours}
    other = {r.key: r for r in theirs}
    send = [r for k, r in mine.items() if newer(r.version, _version(other.get(k)))]
    take = [r for k, r in other.items() if newer(r.version, _version(mine.get(k)))]
    return send, take


def _version(record: Record | None) -> Any:
    return None if record is None else record.version


class AntiEntropy:
    """Periodic digest comparison with the other replicas of our primary ranges.

    The peers must serve the range endpoints (a :class:`~ringpop.state.handoff.RangeHandoff`
    on every node does). ``interval=0``: no periodic rounds, call :meth:`run_once`.
    Rounds wait on ``clock`` (default: the system clock).
    """

    def __init__(
        self,
        kv: ReplicatedStore,
        *,
        interval: float = 60.0,
        fanout: int = 16,
        leaf: int = 500,
        max_calls: int = 64,
        max_records: int = 20_000,
        clock: Clock | None = None,
    ) -> None:
        check_whole(
            ("fanout", fanout),
            ("leaf", leaf),
            ("max_calls", max_calls),
            ("max_records", max_records),
        )
        if isinstance(interval, bool) or not isinstance(interval, int | float):
            raise TypeError(f"anti-entropy: interval must be a number of seconds, not {interval!r}")
        if (
            not interval < math.inf
            or not 2 <= fanout <= MAX_FANOUT
            or min(leaf, max_calls, max_records) < 1
        ):
            raise ValueError(
                "anti-entropy needs a finite interval (<= 0: no periodic rounds), fanout "
                f"2..{MAX_FANOUT}, leaf, max_calls and max_records >= 1 (interval={interval!r}, "
                f"fanout={fanout}, leaf={leaf}, max_calls={max_calls}, max_records={max_records})"
            )
        self.kv = kv
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.ringpop = kv.ringpop
        self.interval, self.fanout, self.leaf = interval, fanout, leaf
        self.max_calls, self.max_records = max_calls, max_records
        self.client = RangeClient(kv.ringpop, kv.service, timeout=kv.options.timeout)
        self.counts = dict.fromkeys(("rounds", "calls", "sent", "received", "errors"), 0)
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        if interval > 0:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    def stats(self) -> dict[str, int]:
        """Counters: rounds, digest calls, records sent/received, errors."""
        return dict(self.counts)

    async def _loop(self) -> None:
        while not self._closed:
            await self.clock.sleep(self.interval)
            if not self.ringpop.is_ready:
                continue
            try:
                await self.run_once()
            except Exception:
                log.exception("%s: anti-entropy round failed", self.ringpop.whoami())

    def plan(self) -> dict[str, list[Range]]:
        """Peer -> our primary ranges it also replicates, on the current ring."""
        me = self.ringpop.whoami()
        peers: dict[str, list[Range]] = {}
        for r, owners in preference_ranges(self.ringpop.ring, self.kv.options.n):
            if owners and owners[0] == me:
                for peer in owners[1:]:
                    peers.setdefault(peer, []).append(r)
        return peers

    async def run_once(self) -> dict[str, tuple[int, int]]:
        """One round with every peer; ``peer -> (sent, received)``."""
        self.counts["rounds"] += 1
        done: dict[str, tuple[int, int]] = {}
        plan = self.plan()
        for _ in range(2):  # a second pass hands what a later peer gave to the earlier ones
            received = 0
            for peer, ranges in plan.items():
                try:
                    sent, got = await self.sync(peer, ranges)
                except (TChannelError, TransferError, OSError) as error:
                    self.counts["errors"] += 1
                    log.info("anti-entropy with %s: %s", peer, error)
                    continue
                previous = done.get(peer, (0, 0))
                done[peer] = (previous[0] + sent, previous[1] + got)
                received += got
            if not received or len(plan) < 2:
                break
        return done

    async def sync(self, peer: str, ranges: Sequence[Range]) -> tuple[int, int]:
        """Converge ``ranges`` with ``peer`` (bounded by max_calls/max_records)."""
        queue = list(ranges)
        sent = received = calls = 0
        while queue and calls < self.max_calls and sent + received < self.max_records:
            batch, queue = queue[:256], queue[256:]
            theirs = await self.client.digests(peer, batch)
            calls += 1
            ours = [await self.kv.store.digest(r) for r in batch]
            exchange, deeper = descend(batch, ours, theirs, self.leaf, self.fanout)
            queue.extend(deeper)
            for r in exchange:
                s, t = await self._exchange(peer, r)
                sent, received = sent + s, received + t
                if s or t:
                    self.ringpop.events.emit(AntiEntropyRepaired(r, peer, s, t))
        self.counts["calls"] += calls
        self.counts["sent"] += sent
        self.counts["received"] += received
        return sent, received

    async def _exchange(self, peer: str, r: Range) -> tuple[int, int]:
        ours = await self._read_local(r)
        theirs: list[Record] = []
        cursor: Cursor | None = None
        for _ in range(1 + 4 * self.leaf // 500):  # bounded: a leaf is a few pages
            page, _size = await self.client.scan(peer, r, cursor, 500)
            theirs.extend(page.records)
            if page.cursor is None:
                break
            cursor = page.cursor
        send, take = reconcile(ours, theirs)
        if take:
            await apply_records(self.kv.store, self.kv.clock, take)
        if send:
            await self.client.put(peer, send)
        return len(send), len(take)

    async def _read_local(self, r: Range) -> list[Record]:
        out: list[Record] = []
        cursor: Cursor | None = None
        for _ in range(1 + 4 * self.leaf // 500):
            page = await self.kv.store.scan(r, cursor, 500)
            out.extend(page.records)
            if page.cursor is None:
                break
            cursor = page.cursor
        return out

    async def close(self) -> None:
        """Stop the periodic rounds."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
