"""The serving side of range transfers: ``/state/scan``, ``/state/digest``, ``/state/handoff-done``.

Every request is checked before anything is read or changed:

* a body that does not decode, a range that is empty, wraps or leaves the hash
  space, a ``limit`` outside ``1..max_limit``, a ``max_bytes`` outside
  ``0..max_bytes`` or an unknown page ``format`` (``json``, ``ringpop-state-page/1``
  or the packed ``ringpop-state-page/2``) is a **bad request** (TChannel
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

import msgspec

from ringpop.ring.ownership import Range, owned_ranges
from ringpop.state import wire
from ringpop.state.blobpage import BLOB_FORMAT, BlobPage, encode_blob_page
from ringpop.state.host import Host
from ringpop.state.packed import PACKED_FORMAT, Packed, encode_packed
from ringpop.state.ranges import covers_merged, valid_range
from ringpop.state.store import PAGE_FORMAT, Columns, Cursor, Store, cut_page, page_columns
from ringpop.tchannel import ApplicationError, BadRequestError, Request, Response

__all__ = ["NOT_A_REPLICA", "RangeServer"]

NOT_A_REPLICA = "ringpop.state.not-a-replica"

MAX_LIMIT = 16384
"""Records a page may be asked for at most (the default ``max_limit``)."""
MAX_BYTES = 1 << 20
"""Bytes a page may be asked to be cut at, at most (the default ``max_bytes``)."""

_FORMATS = ("json", PAGE_FORMAT, PACKED_FORMAT, BLOB_FORMAT)


class RangeServer:
    """Serves one node's ranges to the replicas entitled to them.

    ``n`` is the replication factor the entitlement is checked with;
    ``on_done(node, range) -> int`` is called for a valid ``/state/handoff-done``
    (returns how many drops are still pending); ``on_offer(node, range) -> int`` for
    a valid ``/state/offer`` (returns how many pulls it started); ``max_limit`` bounds a page's
    records, ``max_bytes`` a page's size (about: keys, values, writer ids).
    """

    def __init__(
        self,
        ringpop: Host,
        store: Store,
        service: str,
        n: int,
        *,
        on_done: Callable[[str, Range], int] | None = None,
        on_offer: Callable[[str, Range], int] | None = None,
        max_limit: int = MAX_LIMIT,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self.ringpop = ringpop
        self.store = store
        self.service = service
        self.n = n
        self.max_limit = max_limit
        self.max_bytes = max_bytes
        self._on_done = on_done
        self._on_offer = on_offer
        self._owned: dict[str, list[Range]] = {}
        self._owned_at: int | None = None
        self.served_pages = 0
        self.served_records = 0
        self.refused = 0
        for endpoint, handler in self._handlers().items():
            ringpop.channel.register(service, endpoint, handler)

    def _handlers(self) -> dict[str, Callable[[Request], Awaitable[Response]]]:
        return {
            wire.SCAN: self._scan,
            wire.DIGEST: self._digest,
            wire.DONE: self._done,
            wire.OFFER: self._offer,
        }

    def close(self) -> None:
        """Stop serving."""
        for endpoint in self._handlers():
            self.ringpop.channel.unregister(self.service, endpoint)

    def replicated_by(self, node: str) -> list[Range]:
        """Ranges ``node`` replicates on our current ring (cached per ring checksum):
        sorted, adjacent ones merged."""
        ring = self.ringpop.ring
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
            if not covers_merged(held, r):
                self.refused += 1
                raise ApplicationError(
                    NOT_A_REPLICA,
                    f"{node} does not replicate [{r.start}, {r.end}) on "
                    f"{self.ringpop.whoami()}'s ring (checksum {self._owned_at})",
                )
        return node

    async def _scan(self, request: Request) -> Response:
        body = wire.decode_body(request, wire.Scan)
        if not 1 <= body.limit <= self.max_limit:
            raise BadRequestError(f"limit must be within 1..{self.max_limit}, not {body.limit}")
        if not 0 <= body.max_bytes <= self.max_bytes:
            raise BadRequestError(
                f"max_bytes must be within 0..{self.max_bytes}, not {body.max_bytes}"
            )
        if body.format not in _FORMATS:
            raise BadRequestError(f"unknown page format {body.format!r} ({', '.join(_FORMATS)})")
        self._entitled(request, [body.range])
        self.served_pages += 1
        if body.format == "json":
            page = cut_page(
                await self.store.scan(body.range, body.cursor, body.limit),
                body.max_bytes or self.max_bytes,
            )
            self.served_records += len(page.records)
            return Response(b"", msgspec.json.encode(wire.PageBody(page.records, page.cursor)))
        if body.format == BLOB_FORMAT:
            blobs = await self._blob_page(body.range, body.cursor, body.limit, body.max_bytes)
            data, count = encode_blob_page(blobs, body.max_bytes or self.max_bytes)
            self.served_records += count
            return Response(b"", data)
        if body.format == PACKED_FORMAT:
            packed = await self._packed(body.range, body.cursor, body.limit, body.max_bytes)
            data, packed = encode_packed(packed, body.max_bytes or self.max_bytes)
            self.served_records += len(packed)
            return Response(b"", data)
        columns = await self._columns(body.range, body.cursor, body.limit, body.max_bytes)
        self.served_records += len(columns)
        return Response(b"", msgspec.msgpack.encode(columns))

    async def _blob_page(
        self, range: Range, cursor: Cursor | None, limit: int, max_bytes: int
    ) -> BlobPage | Packed:
        """A page for format ``/3``: the store's ``scan_blob_page`` if it has one (its
        blobs served as they are kept), else a packed page."""
        scan_blob_page = getattr(self.store, "scan_blob_page", None)
        if scan_blob_page is None:
            return await self._packed(range, cursor, limit, max_bytes)
        page: BlobPage = await scan_blob_page(range, cursor, limit, max_bytes or self.max_bytes)
        return page

    async def _packed(
        self, range: Range, cursor: Cursor | None, limit: int, max_bytes: int
    ) -> Packed:
        """A packed page: the store's ``scan_packed`` if it has one, else its columns packed."""
        scan_packed = getattr(self.store, "scan_packed", None)
        if scan_packed is not None:  # cut by size when encoded (and maybe by the store)
            packed: Packed = await scan_packed(range, cursor, limit, max_bytes or self.max_bytes)
            return packed
        return Packed.of_columns(await self._columns(range, cursor, limit, max_bytes))

    async def _columns(
        self, range: Range, cursor: Cursor | None, limit: int, max_bytes: int
    ) -> Columns:
        """A binary page: the store's ``scan_columns`` if it has one, else its scan."""
        max_bytes = max_bytes or self.max_bytes
        scan_columns = getattr(self.store, "scan_columns", None)
        if scan_columns is not None:
            columns: Columns = await scan_columns(range, cursor, limit, max_bytes)
            return columns
        return page_columns(await self.store.scan(range, cursor, limit), max_bytes)

    async def _digest(self, request: Request) -> Response:
        body = wire.decode_body(request, wire.RangeDigests)
        if not 1 <= len(body.ranges) <= 256:
            raise BadRequestError("between 1 and 256 ranges per digest request")
        self._entitled(request, body.ranges)
        digests = [await self.store.digest(r) for r in body.ranges]
        return Response(b"", msgspec.json.encode(wire.Digests(digests)))

    async def _done(self, request: Request) -> Response:
        body = wire.decode_body(request, wire.Done)
        node = self._entitled(request, [body.range])
        pending = self._on_done(node, body.range) if self._on_done is not None else 0
        return Response(b"", msgspec.json.encode(wire.DoneAck(pending)))

    async def _offer(self, request: Request) -> Response:
        """Another node holds ``range`` for us: pull what we replicate of it from there."""
        body = wire.decode_body(request, wire.Done)
        if not valid_range(body.range.start, body.range.end):
            raise BadRequestError(f"invalid range [{body.range.start}, {body.range.end})")
        taken = self._on_offer(request.remote, body.range) if self._on_offer is not None else 0
        return Response(b"", msgspec.json.encode(wire.DoneAck(taken)))
