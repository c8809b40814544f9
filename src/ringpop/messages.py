"""Wire messages of ringpop: msgspec structs mirroring the spec's JSON bodies.

Every struct lists exactly the fields of ``spec/ringpop-protocol.md`` (§2.3, §4, §5)
under their JSON names (snake_case attributes, camelCase on the wire). Optional
fields are omitted when they hold their default, so we never send ``null`` labels,
``"tombstone": false`` or fields the conformance schemas forbid.

:func:`decode` is the strict decoder: unknown fields are ignored, a trailing
newline is fine, ``membershipChecksum: null`` and a request ``checksum: null`` are
accepted, and otherwise types are exact: incarnation numbers are non-negative int64,
checksums uint32, and a float literal such as ``1000.0`` in an integer field fails
the whole message, exactly as a ringpop-go peer would. Peers' messages are received
with :func:`ringpop.receiving.receive`, which starts with this decoder and falls back
to the field-by-field, entry-by-entry rules of spec §1.1 when it fails.

Sending stays strict whatever is accepted: every struct is built by our own code
with integers in integer fields, and :func:`encode` omits defaults.

>>> body = encode(PingResponse(changes=[]))
>>> body
b'{"changes":[]}'
>>> decode(body, PingResponse).changes
[]
"""

from __future__ import annotations

from typing import Annotated, Any, Final, TypeVar

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType, field

from ringpop.errors import RingpopError

__all__ = [
    "MAX_CHANGES",
    "AdminLookupRequest",
    "AdminLookupResponse",
    "AdminStatusResponse",
    "Change",
    "DampReqRequest",
    "DampReqResponse",
    "DampScore",
    "GossipTickResponse",
    "HealResponse",
    "JoinRequest",
    "JoinResponse",
    "MessageError",
    "PingReqRequest",
    "PingReqResponse",
    "PingRequest",
    "PingResponse",
    "ReapResponse",
    "StatsMember",
    "StatsMembership",
    "StatsMemory",
    "StatsProcess",
    "StatsProtocol",
    "StatsResponse",
    "StatsRing",
    "decode",
    "encode",
]

MAX_CHANGES: Final = 100_000
"""Most changes accepted in one message (a full sync of a very large cluster fits)."""

_INT64_MAX: Final = 2**63 - 1

Incarnation = Annotated[int, Meta(ge=0, le=_INT64_MAX)]
"""Milliseconds since the Unix epoch; ringpop-go decodes it into an int64."""
Checksum = Annotated[int, Meta(ge=0, le=0xFFFF_FFFF)]
"""Membership and ring checksums are unsigned 32-bit integers on the wire."""
Int64 = Annotated[int, Meta(ge=-(2**63), le=_INT64_MAX)]
Number = int | float
Labels = dict[str, str]
ChangeList = Annotated[list["Change"], Meta(max_length=MAX_CHANGES)]


class MessageError(RingpopError, ValueError):
    """A message body could not be decoded into the expected type."""


class _Wire(Struct, rename="camel", omit_defaults=True):
    """Base of wire bodies: camelCase names, defaults left out (subclasses are kw_only)."""


class Change(Struct, rename="camel", omit_defaults=True, kw_only=True, frozen=True, gc=False):
    """One membership change, the unit of dissemination (§2.3).

    ``status`` is the wire string. On the wire a tombstone is sent as
    ``status="faulty", tombstone=True``; inside the member list it is the status
    ``"tombstone"`` (see :mod:`ringpop.membership.member` for both conversions).
    Treat ``labels`` as read-only: it is shared with members and other changes.
    """

    id: str = ""
    """node's UUID of the change; optional, never sent in join responses."""
    source: str = ""
    """Address of the member that originated the change (omitted when unknown)."""
    source_incarnation_number: Incarnation = 0
    """The originator's incarnation when it made the change (omitted when unknown)."""
    address: str
    status: str
    incarnation_number: Incarnation
    tombstone: bool = False
    """Sent only as ``true`` (with ``status="faulty"``)."""
    labels: Labels = field(default_factory=dict)
    """Subject labels (go); omitted when empty."""
    timestamp: Int64 | None = None
    """go: Unix seconds, informational only; never sent as ``null``."""


class JoinRequest(_Wire, kw_only=True):
    """Body of ``/protocol/join`` (§4.1)."""

    app: str
    source: str
    incarnation_number: Incarnation
    timeout: Int64 | UnsetType = UNSET
    """go sends the join timeout in nanoseconds; unused, we never send it."""
    labels: Labels = field(default_factory=dict)


class JoinResponse(_Wire, kw_only=True):
    """Response of ``/protocol/join``: the responder's whole membership (§4.1).

    ``membership_checksum`` may arrive as ``null`` (the suite's fake nodes do that)
    or be missing; we always send an integer. ``app`` received absent, ``null`` or
    not a string is unknown (``UNSET``); we always send it.
    """

    app: str | UnsetType = UNSET
    coordinator: str
    membership: ChangeList
    membership_checksum: Checksum | None = None


class PingRequest(_Wire, kw_only=True):
    """Body of ``/protocol/ping`` (§4.2).

    ``app`` is :data:`msgspec.UNSET` when the key was absent (node distinguishes an
    absent key from ``""``); senders always set it to their real app name.
    ``checksum`` is ``None`` only when a peer sent none (§1.1); we always send one.
    """

    checksum: Checksum | None
    changes: ChangeList
    source: str
    source_incarnation_number: Incarnation
    app: str | UnsetType = UNSET


class PingResponse(_Wire, kw_only=True):
    """Response of ``/protocol/ping`` (§4.2); only ``changes`` is required."""

    changes: ChangeList
    checksum: Checksum | UnsetType = UNSET
    source: str | UnsetType = UNSET
    source_incarnation_number: Incarnation | UnsetType = UNSET
    app: str | UnsetType = UNSET
    """go sends ``""``; we leave it out."""
    target: str | UnsetType = UNSET


class PingReqRequest(_Wire, kw_only=True):
    """Body of ``/protocol/ping-req`` (§4.3); it has no ``app`` field.

    ``checksum`` is ``None`` only when a peer sent none (§1.1); we always send one.
    """

    source: str
    source_incarnation_number: Incarnation
    target: str
    checksum: Checksum | None
    changes: ChangeList


class PingReqResponse(_Wire, kw_only=True):
    """Response of ``/protocol/ping-req`` (§4.3): exactly these three fields."""

    changes: ChangeList
    ping_status: bool
    target: str


class DampReqRequest(_Wire, kw_only=True):
    """Body of ``/protocol/damp-req`` (§4.4, ringpop-node only).

    Only ``flappers`` is needed by the handler; the other fields are tolerated
    when missing.
    """

    source_addr: str = ""
    source_incarnation_number: Incarnation = 0
    source_checksum: Checksum = 0
    flappers: list[str]


class DampScore(_Wire, kw_only=True):
    """One entry of :class:`DampReqResponse`."""

    member: str
    damp_score: Number


class DampReqResponse(_Wire, kw_only=True):
    """Response of ``/protocol/damp-req``: scores of the flappers we know."""

    scores: list[DampScore]


class AdminLookupRequest(_Wire, kw_only=True):
    """Body of ``/admin/lookup`` (§5.2)."""

    key: str


class AdminLookupResponse(_Wire, kw_only=True):
    """Response of ``/admin/lookup``: the owner of the key."""

    dest: str


class AdminStatusResponse(_Wire, kw_only=True):
    """``{"status": ...}`` answers of ``/admin/member/leave`` and ``/join`` (§5.4)."""

    status: str


class ReapResponse(_Wire, kw_only=True):
    """Response of ``/admin/reap`` (§5.5).

    ``status`` has no default: ``omit_defaults`` would drop it from the body.
    """

    status: str
    reaped: int | UnsetType = UNSET


class GossipTickResponse(_Wire, kw_only=True):
    """Response of ``/admin/gossip/tick`` (§5.3)."""

    checksum: Checksum


class HealResponse(_Wire, kw_only=True):
    """Response of ``/admin/healpartition/disco`` (§5.6)."""

    targets: list[str]
    error: str | UnsetType = UNSET


class StatsMember(_Wire, kw_only=True):
    """One member in ``/admin/stats``: its real status (``tombstone`` included)."""

    address: str
    status: str
    incarnation_number: Incarnation
    labels: Labels = field(default_factory=dict)
    damp_score: Number | UnsetType = UNSET


class StatsMembership(_Wire, kw_only=True):
    """``membership`` of ``/admin/stats``."""

    checksum: Checksum
    members: list[StatsMember]


class StatsMemory(_Wire, kw_only=True):
    """``process.memory`` of ``/admin/stats`` (node's names)."""

    rss: Number
    heap_total: Number
    heap_used: Number


class StatsProcess(_Wire, kw_only=True):
    """``process`` of ``/admin/stats``."""

    memory: StatsMemory
    pid: int


def _default_timing() -> dict[str, Any]:
    return {"type": "histogram", "min": 0, "max": 0, "median": 0}


class StatsProtocol(_Wire, kw_only=True, omit_defaults=False):
    """``protocol`` of ``/admin/stats``; ``timing`` may be any object."""

    timing: dict[str, Any] = field(default_factory=_default_timing)
    protocol_rate: Number
    client_rate: Number = 0
    server_rate: Number = 0
    total_rate: Number = 0


class StatsRing(_Wire, kw_only=True):
    """``ring`` of ``/admin/stats``: legacy checksum, servers, named checksums."""

    checksum: Checksum
    servers: list[str]
    checksums: dict[str, int] | UnsetType = UNSET


class StatsResponse(_Wire, kw_only=True, omit_defaults=False):
    """Response of ``/admin/stats`` (§5.1); ``hooks`` is always sent as ``null``."""

    hooks: None = None
    membership: StatsMembership
    process: StatsProcess
    protocol: StatsProtocol
    ring: StatsRing
    version: str
    timestamp: Number
    uptime: Number
    tchannel_version: str = "2"


_encoder: Final = msgspec.json.Encoder()
_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}

T = TypeVar("T")


def encode(message: Struct) -> bytes:
    """Encode a wire struct as compact JSON bytes."""
    return _encoder.encode(message)


def decode(data: bytes | bytearray | memoryview | str, message_type: type[T]) -> T:
    """Decode a JSON body into ``message_type``.

    Raises :class:`MessageError` (a ``ValueError``) naming the problem and its
    location, e.g. ``Expected `int`, got `float` - at `$.changes[0].incarnationNumber```.
    """
    decoder = _decoders.get(message_type)
    if decoder is None:
        decoder = _decoders[message_type] = msgspec.json.Decoder(message_type)
    try:
        result: T = decoder.decode(data)
    except msgspec.DecodeError as error:
        raise MessageError(f"bad {message_type.__name__} body: {error}") from None
    return result
