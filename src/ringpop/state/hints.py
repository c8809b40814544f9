"""Hinted handoff: writes a replica could not take, held elsewhere until it can.

When a replica fails a write, the coordinator hands the records to a *fallback*
node - the first live server after the key's preference list on the ring, else the
coordinator itself - together with the address of the replica they were meant for
(the hint). The holder retries delivery every ``interval`` seconds and at once when
a server joins its ring; a delivered record is dropped from the buffer unless a
newer one for the same key arrived meanwhile. Records whose key no longer has the
target among its replicas (it left the ring, or the ring moved the key while it was
away) are written to the key's current replicas instead (one success per key
suffices), and dropped.

Hints are kept in memory, newest version per ``(target, key)``, at most
``max_per_target`` keys per target (further records are counted in ``dropped``):
they do not survive a restart of the holder. Anti-entropy covers what they miss.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from functools import partial

import msgspec

from ringpop.checks import check_seconds
from ringpop.events import ServerAdded
from ringpop.forward import ForwardError
from ringpop.state import wire
from ringpop.state.hlc import newer
from ringpop.state.host import Host
from ringpop.state.replicator import QuorumError, ReplicaFailure, ReplicaOptions, Replicator
from ringpop.state.store import Record
from ringpop.state.wire import HINT, PUT
from ringpop.tchannel import TChannelError

__all__ = ["HintBuffer", "HintedHandoff"]

log = logging.getLogger(__name__)


class HintBuffer:
    """Records held for other nodes: ``target -> key -> newest record`` (pure)."""

    def __init__(self, max_per_target: int = 100_000, max_targets: int = 4096) -> None:
        if max_per_target < 0 or max_targets < 0:
            raise ValueError(
                f"max_per_target and max_targets must be >= 0, not {max_per_target!r}, "
                f"{max_targets!r}"
            )
        self.max_per_target = max_per_target
        self.max_targets = max_targets
        """Nodes hints are held for at most (a peer naming many cannot grow the buffer)."""
        self._held: dict[str, dict[str, Record]] = {}
        self.dropped = 0
        """Records refused because a target's buffer, or the number of targets, was full."""

    def __len__(self) -> int:
        return sum(len(records) for records in self._held.values())

    def targets(self) -> list[str]:
        """Nodes we hold hints for."""
        return [target for target, records in self._held.items() if records]

    def held(self, target: str) -> list[Record]:
        """Every record held for ``target``."""
        return list(self._held.get(target, {}).values())

    def add(self, target: str, records: Iterable[Record]) -> int:
        """Hold ``records`` for ``target`` (keeping the newest per key); how many were new."""
        mine = self._held.get(target)
        if mine is None:  # a new target, while there is room for one
            if len(self._held) >= self.max_targets:
                self.dropped += sum(1 for _ in records)
                return 0
            mine = {}
        added = 0
        for record in records:
            current = mine.get(record.key)
            if current is None and len(mine) >= self.max_per_target:
                self.dropped += 1
                continue
            if newer(record.version, None if current is None else current.version):
                mine[record.key] = record
                added += 1
        if mine:  # an empty entry would take a target's room for good
            self._held[target] = mine
        return added

    def take(self, target: str, limit: int) -> list[Record]:
        """Up to ``limit`` records for ``target`` to deliver (still held until acked)."""
        mine = self._held.get(target, {})
        return [record for _, record in zip(range(limit), mine.values(), strict=False)]

    def ack(self, target: str, delivered: Iterable[Record]) -> int:
        """Drop delivered records unless a newer one for the key came since; how many."""
        mine = self._held.get(target)
        if mine is None:
            return 0
        count = 0
        for record in delivered:
            if mine.get(record.key) == record:
                del mine[record.key]
                count += 1
        if not mine:
            del self._held[target]
        return count


class HintedHandoff:
    """Places hints for failed replicas and delivers the hints this node holds."""

    def __init__(
        self,
        ringpop: Host,
        replicator: Replicator,
        *,
        interval: float = 1.0,
        batch: int = 200,
        buffer: HintBuffer | None = None,
    ) -> None:
        check_seconds("hinted handoff interval", interval)
        if batch < 1:
            raise ValueError(f"hinted handoff batch must be >= 1, not {batch!r}")
        self.ringpop = ringpop
        self.replicator = replicator
        self.interval = interval
        self.batch = batch
        self.buffer = buffer if buffer is not None else HintBuffer()
        self.delivered = 0
        """Records delivered (to their target or its successors) so far."""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        ringpop.events.on(ServerAdded, lambda _: self._wake.set())

    def hold(self, target: str, records: list[Record]) -> int:
        """Keep ``records`` for ``target`` here and make sure delivery runs."""
        added = self.buffer.add(target, records)
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._deliver_loop())
        return added

    async def place(
        self, failures: list[ReplicaFailure], records: dict[str, Record], n: int, timeout: float
    ) -> dict[str, int]:
        """Hand the records each failed replica missed to a fallback holder.

        The holder is the first server after the key's ``n`` replicas on the ring that
        did not fail, else this node. Returns, per key, how many hints are held
        outside its preference list (what a sloppy quorum counts).
        """
        ring = self.ringpop.ring
        me = self.ringpop.whoami()
        failed = {f.destination for f in failures}
        plans: dict[tuple[str, str], list[Record]] = {}
        replicas: dict[str, list[str]] = {}
        for failure in failures:
            for key in failure.keys:
                everyone = ring.lookup_n(key, max(1, ring.server_count))
                replicas[key] = everyone[:n]
                holder = next((a for a in everyone[n:] if a not in failed), me)
                plans.setdefault((holder, failure.destination), []).append(records[key])
        outside: dict[str, int] = {}

        async def hand(holder: str, target: str, batch: list[Record]) -> None:
            if holder != me:
                body = msgspec.json.encode(wire.Hinted(target, batch))
                try:
                    await self.replicator.send(holder, [r.key for r in batch], HINT, body, timeout)
                except (ForwardError, TChannelError, ValueError) as error:  # ValueError: size
                    log.info("%s: hint holder %s failed (%s): holding here", me, holder, error)
                    holder = me
            if holder == me:
                self.hold(target, batch)
            for record in batch:
                if holder not in replicas[record.key]:
                    outside[record.key] = outside.get(record.key, 0) + 1

        await asyncio.gather(*(hand(h, t, batch) for (h, t), batch in plans.items()))
        return outside

    async def deliver(self) -> int:
        """One delivery pass over every target; how many records were delivered.

        Records whose key still has ``target`` among its replicas go to the target;
        the others (the target left the ring, or the ring moved the key while it was
        away) go to the key's current replicas, one success per key sufficing.
        """
        ring = self.ringpop.ring
        options = self.replicator.options
        delivered = 0
        for target in self.buffer.targets():
            batch = self.buffer.take(target, self.batch)
            mine = [r for r in batch if target in ring.lookup_n(r.key, options.n)]
            moved = {r.key: r for r in batch if target not in ring.lookup_n(r.key, options.n)}
            try:
                for part in _parts(mine, self.replicator.forwarder.options.max_arg_size // 2):
                    body = msgspec.json.encode(wire.Written(part))
                    keys = [r.key for r in part]
                    await self.replicator.send(target, keys, PUT, body, options.timeout)
                    delivered += self.buffer.ack(target, part)
                if moved:
                    await self.replicator.write(
                        list(moved),
                        PUT,
                        partial(_written, moved),
                        ReplicaOptions(n=options.n, r=1, w=1, timeout=options.timeout),
                    )
                    delivered += self.buffer.ack(target, moved.values())
            except (ForwardError, TChannelError, QuorumError, ValueError) as error:
                log.debug("hints for %s not delivered yet: %s", target, error)
        self.delivered += delivered
        return delivered

    async def _deliver_loop(self) -> None:
        try:
            while len(self.buffer) and not self._closed and not self.ringpop.channel.closed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.interval)
                self._wake.clear()
                try:
                    await self.deliver()
                except Exception:
                    log.exception("hint delivery failed")
        finally:
            self._task = None

    async def close(self) -> None:
        """Stop delivering (held hints are dropped with the buffer)."""
        self._closed = True
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _written(records: dict[str, Record], keys: Sequence[str]) -> bytes:
    return msgspec.json.encode(wire.Written([records[key] for key in keys]))


def _parts(records: list[Record], budget: int) -> list[list[Record]]:
    """``records`` in runs of about ``budget`` bytes at most (one record at least): a
    batch of large values could be more than one call carries, and never delivered."""
    parts: list[list[Record]] = []
    size = budget
    for record in records:
        grown = size + len(record.key) + len(record.value or b"") * 4 // 3 + 128  # base64
        if grown > budget and size:
            parts.append([])
            grown -= size
        parts[-1].append(record)
        size = grown
    return parts
