"""Our JSON Schemas of ringpop's wire messages, and the checks that use them.

The shapes of the protocol's messages are facts stated in the spec's field tables
(``ringpop-protocol.md``: §1 conventions, §2.1-§2.3 member, statuses and change,
§4.1-§4.4 join, ping, ping-req and damp-req, §5.1 ``/admin/stats``, §5.2
``/admin/lookup``). :data:`SCHEMAS` states them as draft-04 JSON Schemas built here,
field by field from those tables; nothing is copied from ringpop-common. They are
stricter than ringpop-common's where the tables are: integers are JSON integers in
their ranges (incarnation numbers int64 >= 0, checksums uint32), addresses are
``host:port``. Draft-04 is chosen for its ``integer``: a number without a fraction or
exponent part, which is what a go peer accepts (``1000.0`` fails a whole message).

:class:`SchemaCheck` validates a value against ours, always, and also against the
spec's copy of ringpop-common's schemas (:class:`SpecSchemas`) when it is checked out
(``$RINGPOP_SPEC_DIR`` or ``../shared/spec/schema``, testpop.md §4): both must pass.
``test_schema_drift.py`` checks that the two sets agree on a corpus of messages.

>>> check = SchemaCheck(spec=None)
>>> check.errors("AdminLookupResponse", {"dest": "127.0.0.1:3000"})
[]
>>> check.errors("AdminLookupResponse", {"dest": "127.0.0.1:3000", "x": 1})
["ours: <root>: Additional properties are not allowed ('x' was unexpected)"]
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

__all__ = [
    "ADDRESS_PATTERN",
    "CHECKSUM_MAX",
    "INT64_MAX",
    "SCHEMAS",
    "OurSchemas",
    "SchemaCheck",
    "SpecSchemas",
    "load_spec_schemas",
    "spec_schema_dir",
]

Schema = dict[str, Any]

DRAFT4: Final = "http://json-schema.org/draft-04/schema#"
INT64_MAX: Final = 2**63 - 1
CHECKSUM_MAX: Final = 2**32 - 1
ADDRESS_PATTERN: Final = r"^[^:]+:[0-9]+$"
"""§1: an address is ``host:port``, exactly one ``:`` and a numeric port (node's check)."""

_REPO: Final = Path(__file__).resolve().parents[2]


# -- building blocks (one per row kind of the spec's tables) ----------------------------


def _integer(minimum: int, maximum: int) -> Schema:
    return {"type": "integer", "minimum": minimum, "maximum": maximum}


INCARNATION: Final[Schema] = _integer(0, INT64_MAX)
"""§2.1 int64; §1 milliseconds since the epoch; §1.1 a negative one is unusable."""
CHECKSUM: Final[Schema] = _integer(0, CHECKSUM_MAX)
"""§1: checksums are unsigned 32-bit integers."""
INT64: Final[Schema] = _integer(-(2**63), INT64_MAX)
"""§2.3 ``timestamp`` (Unix seconds, may be Go's zero time), §4.1 ``timeout`` (ns)."""
NUMBER: Final[Schema] = {"type": "number"}
STRING: Final[Schema] = {"type": "string"}
BOOLEAN: Final[Schema] = {"type": "boolean"}
ADDRESS: Final[Schema] = {"type": "string", "pattern": ADDRESS_PATTERN}
SOURCE: Final[Schema] = {"type": "string", "pattern": f"^$|{ADDRESS_PATTERN}"}
"""§2.3: the originator's address; go sends ``""`` when unknown (§18 #17)."""
STATUS: Final[Schema] = {"enum": ["alive", "suspect", "faulty", "leave", "tombstone"]}
"""§2.2: the five known statuses (testpop.md §2: nothing else may be sent)."""
LABELS: Final[Schema] = {"type": "object", "additionalProperties": STRING}
"""§2.1: an object of string to string."""


def _object(required: Mapping[str, Schema], optional: Mapping[str, Schema] | None = None) -> Schema:
    """An object with exactly these fields: ``required`` ones and ``optional`` ones.

    Every sent message is closed (§1: "send only the listed fields"; §1.1 rule 4).
    """
    return {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": sorted(required),
        "additionalProperties": False,
    }


def _list(items: Schema) -> Schema:
    return {"type": "array", "items": items}


# -- the messages -----------------------------------------------------------------------

_CHANGE_OPTIONAL: Final[Schema] = {
    "source": SOURCE,
    "sourceIncarnationNumber": INCARNATION,
    "tombstone": BOOLEAN,
    "labels": LABELS,
    "timestamp": INT64,
}

CHANGE: Final[Schema] = _object(
    {"address": ADDRESS, "status": STATUS, "incarnationNumber": INCARNATION},
    {"id": STRING, **_CHANGE_OPTIONAL},
)
"""§2.3: the nine fields; ``address``, ``status`` and ``incarnationNumber`` required."""

JOIN_MEMBER: Final[Schema] = _object(
    {"source": SOURCE, "address": ADDRESS, "status": STATUS, "incarnationNumber": INCARNATION},
    {k: v for k, v in _CHANGE_OPTIONAL.items() if k != "source"},
)
"""§4.1 response: a change that also requires ``source`` and has no ``id``."""

JOIN_REQUEST: Final[Schema] = _object(
    {"app": STRING, "source": ADDRESS, "incarnationNumber": INCARNATION},
    {"timeout": INT64, "labels": LABELS},
)
JOIN_RESPONSE: Final[Schema] = _object(
    {
        "app": STRING,
        "coordinator": ADDRESS,
        "membership": _list(JOIN_MEMBER),
        "membershipChecksum": CHECKSUM,
    }
)
PING_REQUEST: Final[Schema] = _object(
    {
        "checksum": CHECKSUM,
        "changes": _list(CHANGE),
        "source": ADDRESS,
        "sourceIncarnationNumber": INCARNATION,
    },
    {"app": STRING},
)
PING_RESPONSE: Final[Schema] = _object(
    {"changes": _list(CHANGE)},
    {
        "checksum": CHECKSUM,
        "source": ADDRESS,
        "sourceIncarnationNumber": INCARNATION,
        "app": STRING,
        "target": STRING,
    },
)
PING_REQ_REQUEST: Final[Schema] = _object(
    {
        "checksum": CHECKSUM,
        "changes": _list(CHANGE),
        "source": ADDRESS,
        "sourceIncarnationNumber": INCARNATION,
        "target": ADDRESS,
    }
)
"""§4.3: no ``app``."""
PING_REQ_RESPONSE: Final[Schema] = _object(
    {"changes": _list(CHANGE), "pingStatus": BOOLEAN, "target": STRING}
)
"""§4.3: exactly three fields. ``target`` echoes the request's, whatever the asker sent."""
DAMP_REQ_REQUEST: Final[Schema] = _object(
    {
        "sourceAddr": ADDRESS,
        "sourceIncarnationNumber": INCARNATION,
        "sourceChecksum": CHECKSUM,
        "flappers": _list(ADDRESS),
    }
)
DAMP_REQ_RESPONSE: Final[Schema] = _object(
    {"scores": _list(_object({"member": ADDRESS, "dampScore": NUMBER}))}
)

STATS_MEMBER: Final[Schema] = _object(
    {"address": ADDRESS, "status": STATUS, "incarnationNumber": INCARNATION},
    {"labels": LABELS, "dampScore": NUMBER},
)
"""§5.1 ``membership.members[]``: the real status, ``tombstone`` included."""
STATS_RESPONSE: Final[Schema] = _object(
    {
        "hooks": {"type": "null"},
        "membership": _object(
            {
                "checksum": {**CHECKSUM, "minimum": 1},  # §5.1: must be non-zero
                "members": _list(STATS_MEMBER),
            }
        ),
        "process": _object(
            {
                "memory": _object({"rss": NUMBER, "heapTotal": NUMBER, "heapUsed": NUMBER}),
                "pid": NUMBER,  # §5.1 gives no type for pid
            }
        ),
        "protocol": _object(
            {
                "timing": {"type": "object"},  # any object
                "protocolRate": NUMBER,
                "clientRate": NUMBER,
                "serverRate": NUMBER,
                "totalRate": NUMBER,
            }
        ),
        "ring": _object(
            {"checksum": CHECKSUM, "servers": _list(ADDRESS)},
            # §13.5: named ring checksums are Fingerprint32 values.
            {"checksums": {"type": "object", "additionalProperties": CHECKSUM}},
        ),
        "version": STRING,
        "timestamp": NUMBER,
        "uptime": NUMBER,
        "tchannelVersion": STRING,
    }
)
ADMIN_LOOKUP_REQUEST: Final[Schema] = _object({"key": STRING})
ADMIN_LOOKUP_RESPONSE: Final[Schema] = _object({"dest": ADDRESS})

SCHEMAS: Final[Mapping[str, Schema]] = {
    name: {"$schema": DRAFT4, "title": name, **schema}
    for name, schema in {
        "Status": STATUS,
        "Labels": LABELS,
        "Change": CHANGE,
        "JoinRequest": JOIN_REQUEST,
        "JoinResponse": JOIN_RESPONSE,
        "PingRequest": PING_REQUEST,
        "PingResponse": PING_RESPONSE,
        "PingReqRequest": PING_REQ_REQUEST,
        "PingReqResponse": PING_REQ_RESPONSE,
        "DampReqRequest": DAMP_REQ_REQUEST,
        "DampReqResponse": DAMP_REQ_RESPONSE,
        "StatsResponse": STATS_RESPONSE,
        "AdminLookupRequest": ADMIN_LOOKUP_REQUEST,
        "AdminLookupResponse": ADMIN_LOOKUP_RESPONSE,
    }.items()
}
"""Our schemas by message name (the names ringpop-common's schema ids use)."""


# -- validators ------------------------------------------------------------------------


def _messages(validator: Any, value: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    ]


class OurSchemas:
    """Draft-04 validators of :data:`SCHEMAS` (self-contained: no ``$ref``)."""

    def __init__(self) -> None:
        import jsonschema

        self._validators = {
            name: jsonschema.Draft4Validator(schema) for name, schema in SCHEMAS.items()
        }

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._validators)

    def errors(self, name: str, value: Any) -> list[str]:
        """Every violation of schema ``name`` by ``value`` (empty when valid)."""
        return _messages(self._validators[name], value)


def spec_schema_dir() -> Path | None:
    """``$RINGPOP_SPEC_DIR[/schema]`` or ``<repo>/../shared/spec/schema``; ``None`` if absent."""
    configured = os.environ.get("RINGPOP_SPEC_DIR")
    base = Path(configured) if configured else _REPO.parent / "shared" / "spec"
    for candidate in (base / "schema", base):
        if (candidate / "change.json").is_file():
            return candidate
    return None


class SpecSchemas:
    """ringpop-common's schemas as the spec keeps them (testpop.md §4), read in place.

    Keyed by schema id without the slash (``"PingRequest"``); they ``$ref`` each other
    by id (``/Change``, ``/Status``, ``/Labels``).
    """

    def __init__(self, directory: Path) -> None:
        import jsonschema
        import referencing
        from referencing.jsonschema import DRAFT4 as SPECIFICATION

        documents = [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]
        registry = referencing.Registry().with_resources(
            (d["id"], referencing.Resource.from_contents(d, default_specification=SPECIFICATION))
            for d in documents
        )
        self.directory = directory
        self._validators = {
            d["id"].lstrip("/"): jsonschema.Draft4Validator(d, registry=registry) for d in documents
        }

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._validators)

    def errors(self, name: str, value: Any) -> list[str]:
        """Every violation of schema ``name`` by ``value`` (empty when valid)."""
        return _messages(self._validators[name], value)


@functools.cache
def load_spec_schemas() -> SpecSchemas | None:
    """The spec's schemas, loaded once; ``None`` when the spec is not checked out."""
    directory = spec_schema_dir()
    return None if directory is None else SpecSchemas(directory)


@functools.cache
def _ours() -> OurSchemas:
    return OurSchemas()


class SchemaCheck:
    """Ours always; the spec's too when present (and it has a schema of that name)."""

    def __init__(self, spec: SpecSchemas | None) -> None:
        self.ours = _ours()
        self.spec = spec

    @classmethod
    def load(cls) -> SchemaCheck:
        """Ours plus the spec's if it is checked out (see :func:`spec_schema_dir`)."""
        return cls(load_spec_schemas())

    def errors(self, name: str, value: Any) -> list[str]:
        """Violations of either set, each prefixed ``ours:`` or ``ringpop-common:``."""
        found = [f"ours: {e}" for e in self.ours.errors(name, value)]
        if self.spec is not None and name in self.spec.names:
            found += [f"ringpop-common: {e}" for e in self.spec.errors(name, value)]
        return found
