"""The serving side of range transfers: ``/state/scan``, ``/state/digest``, ``/state/handoff-done``.

Every request is checked before anything is read or changed:

* a body that does not decode, a range that is empty, wraps or leaves the hash
  space, or a ``limit`` outside ``1..max_limit`` is a **bad request** (TChannel
  error frame ``bad request``);
* a caller (identified by the address its channel advertises) that does not
  replicate the whole range on this node's ring gets the application error
  ``ringpop.state.not-a-replica``: a node cannot pull, digest or claim a range it
  does not hold;
* a failing store raises, which the channel sends as an ``unexpected`` error frame
  (the RPC's 5xx): never an empty page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import msgspec

from ringpop.ring.ownership import Range, owned_ranges
from ringpop.ringpop import Ringpop
from ringpop.state import wire
from ringpop.state.ranges import covers, valid_range
from ringpop.state.store import Store
from ringpop.tchannel import ApplicationError, BadRequestError, Request, Response

__all__ = ["NOT_A_REPLICA", "RangeServer"]

NOT_A_REPLICA = "ringpop.state.not-a-replica"

S = TypeVar("S")


class RangeServer:
    """Serves one node's ranges to the replicas entitled to them.

    ``n`` is the replication factor the entitlement is checked with;
    ``on_done(node, range) -> int`` is called for a valid ``/state/handoff-done``
    (returns how many drops are still pending); ``max_limit`` bounds a page.
    """

    def __init__(
        self,
        ringpop: Ringpop,
        store: Store,
        service: str,
        n: int,
        *,
        on_done: Callable[[str, Range], int] | None = None,
        max_limit: int = 2000,
    ) -> None:
        self.ringpop = ringpop
        self.store = store
        self.service = service
        self.n = n
        self.max_limit = max_limit
        self._on_done = on_done
        self._owned: dict[str, list[Range]] = {}
        self._owned_at: int | None = None
        self.served_pages = 0
        self.served_records = 0
        self.refused = 0
        for endpoint, handler in self._handlers().items():
            ringpop.channel.register(service, endpoint, handler)

    def _handlers(self) -> dict[str, Callable[[Request], Awaitable[Response]]]:
        return {wire.SCAN: self._scan, wire.DIGEST: self._digest, wire.DONE: self._done}

    def close(self) -> None:
        """Stop serving."""
        for endpoint in self._handlers():
            self.ringpop.channel.unregister(self.service, endpoint)

    def replicated_by(self, node: str) -> list[Range]:
        """Ranges ``node`` replicates on our current ring (cached per ring checksum)."""
        ring = self.ringpop.node.ring
        if self._owned_at != ring.checksum:
            self._owned, self._owned_at = {}, ring.checksum
        ranges = self._owned.get(node)
        if ranges is None:
            ranges = self._owned[node] = owned_ranges(ring, node, self.n)
        return ranges

    def _entitled(self, request: Request, ranges: list[Range]) -> str:
        for r in ranges:
            if not valid_range(r.start, r.end):
                raise BadRequestError(f"invalid range [{r.start}, {r.end})")
        node = request.remote
        held = self.replicated_by(node)
        for r in ranges:
            if not covers(held, r):
                self.refused += 1
                raise ApplicationError(
                    NOT_A_REPLICA,
                    f"{node} does not replicate [{r.start}, {r.end}) on "
                    f"{self.ringpop.whoami()}'s ring (checksum {self._owned_at})",
                )
        return node

    async def _scan(self, request: Request) -> Response:
        body = _decode(request, wire.Scan)
        if not 1 <= body.limit <= self.max_limit:
            raise BadRequestError(f"limit must be within 1..{self.max_limit}, not {body.limit}")
        self._entitled(request, [body.range])
        page = await self.store.scan(body.range, body.cursor, body.limit)
        self.served_pages += 1
        self.served_records += len(page.records)
        return Response(b"", msgspec.json.encode(wire.PageBody(page.records, page.cursor)))

    async def _digest(self, request: Request) -> Response:
        body = _decode(request, wire.RangeDigests)
        if not 1 <= len(body.ranges) <= 256:
            raise BadRequestError("between 1 and 256 ranges per digest request")
        self._entitled(request, body.ranges)
        digests = [await self.store.digest(r) for r in body.ranges]
        return Response(b"", msgspec.json.encode(wire.Digests(digests)))

    async def _done(self, request: Request) -> Response:
        body = _decode(request, wire.Done)
        node = self._entitled(request, [body.range])
        pending = self._on_done(node, body.range) if self._on_done is not None else 0
        return Response(b"", msgspec.json.encode(wire.DoneAck(pending)))


def _decode(request: Request, kind: type[S]) -> S:
    try:
        return msgspec.json.decode(request.arg3, type=kind)
    except msgspec.DecodeError as error:
        raise BadRequestError(f"{request.endpoint}: malformed body: {error}") from None
