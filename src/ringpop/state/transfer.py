"""The calling side of range transfers: validated pages, digests, confirmations.

:class:`RangeClient` calls another node's :class:`~ringpop.state.rangeserver.RangeServer`
directly over the node's channel (one call per page, bounded by ``timeout``) and
checks every answer before anything is applied: a page that does not decode, holds
a record outside the range asked for, out of ``(hash, key)`` order, before the
cursor, or from a clock too far ahead raises :class:`TransferError` and **nothing
of that page is applied**.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from ringpop.hashing import fingerprint32
from ringpop.ring.ownership import Range
from ringpop.ringpop import Ringpop
from ringpop.state import wire
from ringpop.state.hlc import ClockDriftError, HybridClock
from ringpop.state.store import Cursor, Digest, Page, Record, Store
from ringpop.tchannel import Response
from ringpop.tchannel.api import application_error

__all__ = ["RangeClient", "TransferError", "apply_records"]


class TransferError(Exception):
    """A peer answered something unusable (malformed, out of range, too far ahead)."""


class RangeClient:
    """Scans, digests and confirms ranges on other nodes of ``service``."""

    def __init__(self, ringpop: Ringpop, service: str, *, timeout: float = 5.0) -> None:
        self.ringpop = ringpop
        self.service = service
        self.timeout = timeout

    async def _call(self, peer: str, endpoint: str, body: bytes) -> Response:
        response = await self.ringpop.channel.call(
            peer, self.service, endpoint, b"", body, timeout=self.timeout, scheme="json"
        )
        if not response.ok:
            raise application_error(response)
        return response

    async def scan(
        self, peer: str, range: Range, cursor: Cursor | None, limit: int
    ) -> tuple[Page, int]:
        """One validated page of ``range`` after ``cursor`` from ``peer``, and its size in bytes."""
        body = msgspec.json.encode(wire.Scan(range, cursor, limit))
        response = await self._call(peer, wire.SCAN, body)
        try:
            page = msgspec.json.decode(response.arg3, type=wire.PageBody)
        except msgspec.DecodeError as error:
            raise TransferError(f"{peer}: malformed page of {_text(range)}: {error}") from None
        if len(page.records) > limit:
            raise TransferError(f"{peer}: {len(page.records)} records for a limit of {limit}")
        previous = (cursor.hash, cursor.key) if cursor is not None else (-1, "")
        for record in page.records:
            position = (fingerprint32(record.key), record.key)
            if position[0] not in range:
                raise TransferError(f"{peer}: record {record.key!r} is outside {_text(range)}")
            if position <= previous:
                raise TransferError(f"{peer}: record {record.key!r} out of order")
            previous = position
        if page.cursor is not None and (page.cursor.hash, page.cursor.key) != previous:
            raise TransferError(f"{peer}: the page's cursor is not its last record")
        return Page(page.records, page.cursor), len(response.arg3)

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
        body = msgspec.json.encode(wire.Done(range))
        response = await self._call(peer, wire.DONE, body)
        return msgspec.json.decode(response.arg3, type=wire.DoneAck).pending

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


def _text(r: Range) -> str:
    return f"[{r.start}, {r.end})"
