"""Bodies of the replicated-store endpoints (JSON, msgspec).

A record is ``{"key", "value" (base64, null for a delete), "version": [wall, logical,
node]}``. Endpoints, on the store's service (``ringpop-state`` by default):

* ``/state/get``: ``{"keys": [...]}`` -> ``{"records": [record or null, ...]}``;
* ``/state/put``: ``{"records": [...]}`` -> ``{"applied": [bool, ...]}``;
* ``/state/hint``: ``{"target": "ip:port", "records": [...]}`` -> ``{"held": n}``.
"""

from __future__ import annotations

import msgspec

from ringpop.state.store import Record

__all__ = ["GET", "HINT", "PUT", "Applied", "Found", "Held", "Hinted", "Keys", "Written"]

GET, PUT, HINT = "/state/get", "/state/put", "/state/hint"


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
