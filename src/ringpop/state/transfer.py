"""The calling side of range transfers: validated pages, digests, confirmations.

:class:`RangeClient` calls another node's :class:`~ringpop.state.rangeserver.RangeServer`
directly over the node's channel (one call per page, bounded by ``timeout``) and
checks every answer before anything is applied: a page that does not decode (of
another format or version included), holds a record outside the range asked for,
out of ``(hash, key)`` order, before the cursor, or from a clock too far ahead
raises :class:`TransferError` and **nothing of that page is applied**.

Handoff pages travel as :class:`~ringpop.state.packed.Packed` (format
``ringpop-state-page/2``: typed arrays, only keys and values are objects):
:func:`check_packed` runs its checks on the arrays (the keys' hashes computed in one
``map`` and compared with the page's as bytes, order compared in C, the clock
observes the page's greatest version) and :func:`apply_packed` hands the arrays to
the store's ``put_many_if_newer``. A peer that does not know the format (an older
version) is asked for :class:`~ringpop.state.store.Columns` (``/1``) instead.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from typing import TypeVar

import msgspec

from ringpop.errors import RingpopError
from ringpop.ring.ownership import Range
from ringpop.state import wire
from ringpop.state.blobpage import BLOB_FORMAT, BlobPage, decode_blob_page
from ringpop.state.checks import check_blob_page, check_packed, check_page, range_text
from ringpop.state.columns import greatest
from ringpop.state.hlc import ClockDriftError, HybridClock, Version
from ringpop.state.host import Host
from ringpop.state.packed import PACKED_FORMAT, Packed, decode_packed
from ringpop.state.store import PAGE_FORMAT, Columns, Cursor, Digest, Page, Record, Store
from ringpop.tchannel import BadRequestError, Response
from ringpop.tchannel.api import application_error

__all__ = [
    "RangeClient",
    "TransferError",
    "apply_blob_page",
    "apply_columns",
    "apply_packed",
    "apply_records",
    "check_blob_page",
    "check_packed",
    "check_page",
]


P = TypeVar("P", BlobPage, Packed)


class TransferError(RingpopError):
    """A peer answered something unusable (malformed, out of range, too far ahead)."""


class RangeClient:
    """Scans, digests and confirms ranges on other nodes of ``service``."""

    def __init__(self, ringpop: Host, service: str, *, timeout: float = 5.0) -> None:
        self.ringpop = ringpop
        self.service = service
        self.timeout = timeout
        self.unpacked: set[str] = set()  # peers that answered /2 with "unknown page format"
        self.unblobbed: set[str] = set()  # peers that answered /3 with "unknown page format"

    async def _call(self, peer: str, endpoint: str, body: bytes) -> Response:
        response = await self.ringpop.channel.call(
            peer, self.service, endpoint, b"", body, timeout=self.timeout, scheme="json"
        )
        if not response.ok:
            raise application_error(response)
        return response

    async def scan_columns(
        self, peer: str, range: Range, cursor: Cursor | None, limit: int, max_bytes: int = 0
    ) -> tuple[Columns, array[int], int]:
        """One validated binary page of ``range`` after ``cursor`` from ``peer``.

        Returns the page, its keys' hashes and its size in bytes; ``max_bytes`` asks
        the source to cut the page after about that many bytes (0: its own bound).
        """
        body = msgspec.json.encode(wire.Scan(range, cursor, limit, PAGE_FORMAT, max_bytes))
        response = await self._call(peer, wire.SCAN, body)
        try:
            page = msgspec.msgpack.decode(response.arg3, type=Columns)
        except msgspec.DecodeError as error:
            raise TransferError(
                f"{peer}: malformed page of {range_text(range)} (expected {PAGE_FORMAT}): {error}"
            ) from None
        try:
            hashes = check_page(page, range, cursor, limit)
        except ValueError as error:
            raise TransferError(f"{peer}: {error}") from None
        return page, hashes, len(response.arg3)

    async def scan_packed(
        self, peer: str, range: Range, cursor: Cursor | None, limit: int, max_bytes: int = 0
    ) -> tuple[Packed, int]:
        """One validated packed page of ``range`` after ``cursor`` from ``peer``, and its
        size in bytes (``max_bytes`` as :meth:`scan_columns`). A peer that does not
        serve ``ringpop-state-page/2`` is asked for ``/1`` pages from then on."""
        if peer in self.unpacked:
            columns, hashes, size = await self.scan_columns(peer, range, cursor, limit, max_bytes)
            page = Packed.of_columns(columns, hashes)
            page.ordered = True  # check_page verified hashes and order
            return page, size
        got = await self._scan_format(
            peer, range, cursor, limit, max_bytes, PACKED_FORMAT, decode_packed, check_packed
        )
        if got is None:
            self.unpacked.add(peer)
            return await self.scan_packed(peer, range, cursor, limit, max_bytes)
        return got

    async def scan_blob(
        self, peer: str, range: Range, cursor: Cursor | None, limit: int, max_bytes: int = 0
    ) -> tuple[BlobPage | Packed, int]:
        """One validated page of ``range`` after ``cursor`` from ``peer`` in format
        ``ringpop-state-page/3`` (keys and values as blobs), and its size in bytes
        (``max_bytes`` as :meth:`scan_columns`). A peer that does not serve ``/3`` is
        asked for :meth:`scan_packed` pages from then on."""
        if peer in self.unblobbed:
            return await self.scan_packed(peer, range, cursor, limit, max_bytes)
        got = await self._scan_format(
            peer, range, cursor, limit, max_bytes, BLOB_FORMAT, decode_blob_page, check_blob_page
        )
        if got is None:
            self.unblobbed.add(peer)
            return await self.scan_packed(peer, range, cursor, limit, max_bytes)
        return got

    async def _scan_format(
        self,
        peer: str,
        range: Range,
        cursor: Cursor | None,
        limit: int,
        max_bytes: int,
        format: str,
        decode: Callable[[bytes], P],
        check: Callable[[P, Range, Cursor | None, int], None],
    ) -> tuple[P, int] | None:
        """One page in ``format`` decoded and checked, and its size; ``None`` if ``peer``
        does not know the format (it answered "unknown page format")."""
        body = msgspec.json.encode(wire.Scan(range, cursor, limit, format, max_bytes))
        try:
            response = await self._call(peer, wire.SCAN, body)
        except BadRequestError as error:
            if "unknown page format" not in str(error):
                raise
            return None
        try:
            page = decode(response.arg3)
        except ValueError as error:
            raise TransferError(
                f"{peer}: malformed page of {range_text(range)} (expected {format}): {error}"
            ) from None
        try:
            check(page, range, cursor, limit)
        except ValueError as error:
            raise TransferError(f"{peer}: {error}") from None
        return page, len(response.arg3)

    async def scan(
        self, peer: str, range: Range, cursor: Cursor | None, limit: int
    ) -> tuple[Page, int]:
        """One validated page of ``range`` after ``cursor`` from ``peer``, and its size in bytes."""
        page, _, size = await self.scan_columns(peer, range, cursor, limit)
        return Page(page.records(), page.cursor), size

    async def digests(self, peer: str, ranges: Sequence[Range]) -> list[Digest]:
        """``peer``'s digests of ``ranges`` (one per range, in order)."""
        body = msgspec.json.encode(wire.RangeDigests(list(ranges)))
        response = await self._call(peer, wire.DIGEST, body)
        try:
            digests = msgspec.json.decode(response.arg3, type=wire.Digests).digests
        except msgspec.DecodeError as error:
            raise TransferError(f"{peer}: malformed digests: {error}") from None
        if len(digests) != len(ranges):
            raise TransferError(f"{peer}: {len(digests)} digests for {len(ranges)} ranges")
        return digests

    async def done(self, peer: str, range: Range) -> int:
        """Tell ``peer`` we pulled ``range``; how many drops it still waits for."""
        return await self._acked(peer, wire.DONE, range)

    async def offer(self, peer: str, range: Range) -> int:
        """Offer ``peer`` a range we hold for it; how many pulls it started."""
        return await self._acked(peer, wire.OFFER, range)

    async def _acked(self, peer: str, endpoint: str, range: Range) -> int:
        response = await self._call(peer, endpoint, msgspec.json.encode(wire.Done(range)))
        try:
            return msgspec.json.decode(response.arg3, type=wire.DoneAck).pending
        except msgspec.DecodeError as error:  # as TransferError: the callers expect those
            raise TransferError(f"{peer}: malformed answer to {endpoint}: {error}") from None

    async def put(self, peer: str, records: list[Record]) -> None:
        """Write ``records`` to ``peer`` (put-if-newer there)."""
        await self._call(peer, wire.PUT, msgspec.json.encode(wire.Written(records)))


async def apply_records(store: Store, clock: HybridClock, records: Sequence[Record]) -> int:
    """Observe every version (all or nothing), then put each if newer; how many applied."""
    for record in records:
        try:
            clock.observe(record.version)
        except ClockDriftError as error:
            raise TransferError(str(error)) from None
    put_many = getattr(store, "put_many", None)
    if put_many is not None:
        return sum(await put_many(records))
    return sum([await store.put(record) for record in records])


async def apply_blob_page(store: Store, clock: HybridClock, page: BlobPage | Packed) -> int:
    """Apply a page :meth:`RangeClient.scan_blob` returned: a blob page goes to the
    store's ``put_blob_page`` when it has one (else as :class:`Packed`), after the
    clock observed its greatest version; a packed page to :func:`apply_packed`."""
    if isinstance(page, Packed):
        return await apply_packed(store, clock, page)
    put_blob_page = getattr(store, "put_blob_page", None)
    if put_blob_page is None:  # apply_packed observes the clock itself
        return await apply_packed(store, clock, page.packed())
    if not len(page):
        return 0
    _observe(clock, page.greatest())
    applied: int = await put_blob_page(page)
    return applied


async def apply_packed(store: Store, clock: HybridClock, page: Packed) -> int:
    """:func:`apply_columns` of a packed page checked by :func:`check_packed` (its
    distinct ``writers`` bound the writer ids)."""
    return await _apply(store, clock, page, page.hashes, page.writers)


async def apply_columns(
    store: Store, clock: HybridClock, page: Columns, hashes: Sequence[int] | None = None
) -> int:
    """Observe the page's greatest version, then put each record if newer; how many applied.

    The clock check covers every record (their walls are at most the greatest); a
    refused page changes nothing. Uses the store's ``put_many_if_newer`` (one
    transaction, no per-record object) when it has one.
    """
    return await _apply(store, clock, page, hashes, page.nodes)


async def _apply(
    store: Store,
    clock: HybridClock,
    page: Columns | Packed,
    hashes: Sequence[int] | None,
    writers: Sequence[str],
) -> int:
    """Observe the page's greatest version, then put its records if newer.

    The version observed is the component-wise maximum (``writers``: the page's
    writer ids, or any sequence holding them all): at least as great as every
    record's, its wall the greatest wall (so the drift check is exact), found with
    three C-level passes and no tuple per record.
    """
    if not page.keys:
        return 0
    _observe(clock, Version(greatest(page.walls), greatest(page.logicals), max(writers)))
    put_many_if_newer = getattr(store, "put_many_if_newer", None)
    if put_many_if_newer is not None:
        applied: int = await put_many_if_newer(page, hashes)
        return applied
    return sum([await store.put(record) for record in page.records()])


def _observe(clock: HybridClock, top: Version) -> None:
    """Have ``clock`` observe a page's greatest version; a clock too far ahead is a
    :class:`TransferError` (nothing of the page applied)."""
    try:
        clock.observe(top)
    except ClockDriftError as error:
        raise TransferError(str(error)) from None
