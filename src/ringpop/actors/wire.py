"""The actors' own endpoints and their bodies (msgpack in arg3, JSON scheme headers).

Calls go through the facade's go-style forwarding (``rp.forward``), so they carry
``ringpop-forward-keys`` in arg2 and the receiver handles them whatever its ring says;
the receiver then checks ownership itself and answers ``ringpop.actors.not-owner``
when its ring disagrees, and the sender looks the key up again.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ringpop.actors.errors import MessageEncodeError

__all__ = [
    "DELIVER",
    "DUPLICATE",
    "FAILED",
    "HANDOVER",
    "OK",
    "SERVICE",
    "Batch",
    "Handover",
    "Result",
    "Results",
    "Saved",
    "decode_value",
    "encode_value",
]

SERVICE = "ringpop-actors"
DELIVER = "/actors/deliver"
HANDOVER = "/actors/handover"

OK = 0
"""Result status: handled; ``data`` is the reply (msgpack)."""
FAILED = 1
"""Result status: the actor raised; ``data`` is ``"Type: message"`` (UTF-8)."""
DUPLICATE = 2
"""Result status: handled before (a retried batch whose result is no longer cached)."""
UNENCODABLE = 3
"""Result status: handled, but the reply does not serialize; ``data`` says why."""


class Batch(msgspec.Struct, frozen=True, array_like=True):
    """Messages of one sender stream to one actor: seqs ``first .. first+len-1``."""

    kind: str
    key: str
    stream: str
    first: int
    payloads: list[bytes]


class Result(msgspec.Struct, frozen=True, array_like=True):
    """What became of one message of a batch."""

    status: int
    data: bytes


class Results(msgspec.Struct, frozen=True, array_like=True):
    """One result per message, in order."""

    results: list[Result]


class Saved(msgspec.Struct, frozen=True, array_like=True):
    """An actor's saved record: its state (msgpack) and the last seq handled per stream."""

    state: bytes
    handled: dict[str, int]


class Handover(msgspec.Struct, frozen=True, array_like=True):
    """An actor's state, sent by its previous owner to the new one."""

    kind: str
    key: str
    origin: str
    saved: Saved


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()


def encode_value(value: Any) -> bytes:
    """``value`` as msgpack; :class:`MessageEncodeError` when it does not serialize."""
    try:
        return _encoder.encode(value)
    except (TypeError, ValueError, OverflowError) as error:
        raise MessageEncodeError(
            f"message of type {type(value).__name__} does not serialize: {error}"
        ) from None


def decode_value(data: bytes) -> Any:
    """A msgpack value (messages and replies arrive as plain lists/dicts/scalars)."""
    return _decoder.decode(data)


def encode(struct: msgspec.Struct) -> bytes:
    """A wire body."""
    return _encoder.encode(struct)


BATCH = msgspec.msgpack.Decoder(Batch)
RESULTS = msgspec.msgpack.Decoder(Results)
HANDOVER_BODY = msgspec.msgpack.Decoder(Handover)
SAVED = msgspec.msgpack.Decoder(Saved)
