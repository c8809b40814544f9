"""The dashboard's polling loop: ``/admin/stats`` of every node, once per interval.

It starts from the seed addresses and asks, every round and concurrently, every node
that a node which answered lists as a member (tombstones aside; new ones in the same
round), so it finds the whole cluster, and both sides of a partition, from one address.
A node that neither answers nor is listed by anyone for :data:`FORGET_AFTER` rounds is
dropped (seeds never are).
Nodes that keep state (``/admin/state``, the kv example) are asked that too; a node
that answered it with an error is not asked again.

Each round's results go to :class:`~ringpop.dashboard.model.ClusterView` and the new
snapshot to every subscriber (:meth:`Poller.subscribe`): a queue of one, the newest
snapshot replacing an unread one, so a slow page skips snapshots instead of falling
behind.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from ringpop.admin.client import AdminClient, AdminError
from ringpop.dashboard.model import ClusterView, NodeResult

__all__ = ["FORGET_AFTER", "Poller"]

FORGET_AFTER = 10
DISCOVERY_PASSES = 3
STATE_ENDPOINT = "/admin/state"
MAX_NODES = 2000  # a bound on how many addresses one dashboard follows


class Poller:
    """Polls a cluster and publishes snapshots; ``run`` until cancelled."""

    def __init__(
        self,
        seeds: Sequence[str],
        client: AdminClient,
        *,
        interval: float = 1.0,
        timeout: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not seeds:
            raise ValueError("at least one seed address is needed")
        self.seeds = list(dict.fromkeys(seeds))
        self.client = client
        self.interval = interval
        self.timeout = timeout
        self.view = ClusterView(self.seeds, clock=clock)
        self.round_seconds = 0.0  # how long the last round took
        self._known: dict[str, int] = {s: 0 for s in self.seeds}  # address -> rounds unseen
        self._stateless: set[str] = set()
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()

    # -- subscribers ----------------------------------------------------------------

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        """A queue that receives every new snapshot (the newest only, if unread)."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1)
        if self.view.snapshot:
            queue.put_nowait(self.view.snapshot)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        """Stop sending snapshots to ``queue``."""
        self._subscribers.discard(queue)

    def _publish(self, snapshot: dict[str, Any]) -> None:
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()  # the page has not read the last one: it is stale now
            queue.put_nowait(snapshot)

    # -- polling --------------------------------------------------------------------

    async def run(self) -> None:
        """Poll every :attr:`interval` seconds until cancelled."""
        while True:
            began = time.monotonic()
            await self.poll_round()
            self.round_seconds = time.monotonic() - began
            await asyncio.sleep(max(0.05, self.interval - self.round_seconds))

    async def poll_round(self) -> dict[str, Any]:
        """One round: ask every known node, update the view, publish the snapshot.

        Nodes learnt from the answers are asked in the same round (up to
        :data:`DISCOVERY_PASSES` passes), so even the first snapshot shows the cluster.
        """
        targets = list(self._known)
        by_address: dict[str, NodeResult] = {}
        listed: set[str] = set()
        batch = targets
        for _ in range(DISCOVERY_PASSES):
            results = await asyncio.gather(*(self._poll_one(a) for a in batch))
            for result in results:
                by_address[result.address] = result
                if result.stats is not None:
                    listed.update(
                        m.address for m in result.stats.members if m.status != "tombstone"
                    )
            batch = [a for a in listed if a not in by_address][: MAX_NODES - len(by_address)]
            if not batch:
                break
        for address in by_address.keys() - self._known.keys():
            self._known[address] = 0
        for address in listed - self._known.keys():
            if len(self._known) < MAX_NODES:
                self._known[address] = 0  # listed after the last pass: asked next round
        for address in targets:
            seen = address in listed or by_address[address].stats is not None
            self._known[address] = 0 if seen else self._known[address] + 1
            if self._known[address] >= FORGET_AFTER and address not in self.seeds:
                del self._known[address]
        snapshot = self.view.update(by_address)
        snapshot["roundMs"] = round(self.round_seconds * 1000, 1)
        self._publish(snapshot)
        return snapshot

    async def _poll_one(self, address: str) -> NodeResult:
        began = time.monotonic()
        try:
            stats = await self.client.stats(address, timeout=self.timeout)
        except AdminError as error:
            return NodeResult(address, error=error)
        rtt = (time.monotonic() - began) * 1000
        state: dict[str, Any] | None = None
        if address not in self._stateless:
            try:
                answer = await self.client.call(address, STATE_ENDPOINT, timeout=self.timeout)
            except AdminError as error:
                if error.kind not in ("unreachable", "timeout"):
                    self._stateless.add(address)  # it answered: it has no such endpoint
            else:
                state = answer if isinstance(answer, dict) else None
        return NodeResult(address, stats=stats, rtt_ms=rtt, state=state)
