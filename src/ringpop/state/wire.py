"""Bodies of the replicated-store endpoints (JSON, msgspec).

A record is ``{"key", "value" (base64, null for a delete), "version": [wall, logical,
node]}``. Endpoints, on the store's service (``ringpop-state`` by default):

* ``/state/get``: ``{"keys": [...]}`` -> ``{"records": [record or null, ...]}``;
* ``/state/put``: ``{"records": [...]}`` -> ``{"applied": [bool, ...]}``;
* ``/state/hint``: ``{"target": "ip:port", "records": [...]}`` -> ``{"held": n}``;
* ``/state/scan``: ``{"range": {"start", "end"}, "cursor": [hash, key] or null,
  "limit": n, "format": "json", "ringpop-state-page/1" or "ringpop-state-page/2",
  "max_bytes": n}`` -> one page of a range, in ``(hash, key)`` order (only for a
  caller that replicates the whole range). Format ``json`` (the default):
  ``{"records": [...], "cursor": [hash, key] or null}``. Format
  :data:`~ringpop.state.store.PAGE_FORMAT`: **msgpack** ``["ringpop-state-page/1",
  keys, values (bin or nil), walls, logicals, nodes, cursor]``
  (:class:`~ringpop.state.store.Columns`: parallel arrays, raw value bytes, cut after
  about ``max_bytes``). Format :data:`~ringpop.state.packed.PACKED_FORMAT`: **msgpack**
  ``["ringpop-state-page/2", keys, values, walls, logicals, writers, writer_of,
  hashes, cursor]`` with the versions, writer indexes and hashes as packed
  little-endian arrays (:mod:`ringpop.state.packed`; encoded in at most ``max_bytes``;
  what handoff pulls). Only Python nodes serve ``/state/scan``;
* ``/state/digest``: ``{"ranges": [{"start", "end"}, ...]}`` -> ``{"digests": [[count,
  total], ...]}`` (same rule);
* ``/state/handoff-done``: ``{"range": {"start", "end"}}`` -> ``{"pending": n}``: the
  caller pulled the range and replicates it (the old holder may drop it later);
* ``/state/offer``: ``{"range": {"start", "end"}}`` -> ``{"pending": n}``: the caller
  still holds a range it no longer replicates and the receiver does without having
  confirmed it (its first gainer died): the receiver pulls the part it replicates
  from the caller (digest first), then confirms with ``/state/handoff-done``.
"""

from __future__ import annotations

from typing import TypeVar

import msgspec

from ringpop.ring.ownership import Range
from ringpop.state.store import Cursor, Digest, Record
from ringpop.tchannel import BadRequestError, Request

__all__ = [
    "DIGEST",
    "DONE",
    "GET",
    "HINT",
    "OFFER",
    "PUT",
    "SCAN",
    "Applied",
    "Digests",
    "Done",
    "DoneAck",
    "Found",
    "Held",
    "Hinted",
    "Keys",
    "PageBody",
    "RangeDigests",
    "Scan",
    "Written",
    "decode_body",
]

GET, PUT, HINT = "/state/get", "/state/put", "/state/hint"
SCAN, DIGEST, DONE = "/state/scan", "/state/digest", "/state/handoff-done"
OFFER = "/state/offer"

S = TypeVar("S")


def decode_body(request: Request, kind: type[S]) -> S:
    """``request``'s JSON body as ``kind``; a :class:`BadRequestError` naming the
    endpoint and what is wrong when it is not one (a peer's mistake, not ours)."""
    try:
        return msgspec.json.decode(request.arg3, type=kind)
    except msgspec.DecodeError as error:
        raise BadRequestError(f"{request.endpoint}: malformed body: {error}") from None


class Keys(msgspec.Struct):
    """A read: the keys wanted."""

    keys: list[str]


class Found(msgspec.Struct):
    """A read's answer: one record (or null) per key asked, in order."""

    records: list[Record | None]


class Written(msgspec.Struct):
    """A write: records to put if newer."""

    records: list[Record]


class Applied(msgspec.Struct):
    """A write's answer: per record, whether it was newer than the one held."""

    applied: list[bool]


class Hinted(msgspec.Struct):
    """Records to hold for ``target``, which failed to take them."""

    target: str
    records: list[Record]


class Held(msgspec.Struct):
    """A hint's answer: how many records were new to the holder."""

    held: int


class Scan(msgspec.Struct, forbid_unknown_fields=False):
    """One page of a range, after ``cursor``, in ``format``, about ``max_bytes`` at most."""

    range: Range
    cursor: Cursor | None = None
    limit: int = 500
    format: str = "json"
    max_bytes: int = 0


class PageBody(msgspec.Struct):
    """A scan's answer: records in ``(hash, key)`` order; ``cursor`` null at the end."""

    records: list[Record]
    cursor: Cursor | None


class RangeDigests(msgspec.Struct):
    """Digests wanted for these ranges."""

    ranges: list[Range]


class Digests(msgspec.Struct):
    """One digest per range asked, in order."""

    digests: list[Digest]


class Done(msgspec.Struct):
    """The caller finished pulling ``range``."""

    range: Range


class DoneAck(msgspec.Struct):
    """How many ranges the receiver still keeps waiting for confirmations."""

    pending: int
