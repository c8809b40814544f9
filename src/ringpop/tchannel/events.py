"""What :meth:`ConnectionCore.receive` and :meth:`ConnectionCore.expire` return.

The sans-IO core turns bytes and the passing of time into these events; the
asyncio driver acts on them (resolves a future, runs a handler, closes the
connection) and never looks at frames itself.

* :class:`HandshakeComplete` - the peer's init headers; calls may flow.
* :class:`~ringpop.tchannel.fragments.CompleteMessage` - a whole call request from
  the peer (``first`` is a ``CallRequest``), valid and ready for a handler.
* :class:`~ringpop.tchannel.frames.Cancel` - the peer gave up on its request ``id``.
* :class:`CallAnswered` - our call ``id`` got its response (``None`` for a ping).
* :class:`CallFailed` - our call ``id`` failed: an error frame, or an unusable
  response (bad checksum).
* :class:`CallExpired` - our call ``id`` reached its deadline without an answer.
* :class:`ConnectionStale` - calls time out and the peer has said nothing for a
  whole stale period: abort the connection (see :mod:`ringpop.tchannel.stale`).
* :class:`ProtocolFailure` - fatal: write the outbox (it may hold our protocol
  error frame) and close the connection. Nothing more is parsed afterwards.

``tag`` is whatever the driver handed to ``send_request``/``send_ping`` for that
call (the asyncio driver's future); the core only stores it.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import msgspec

from ringpop.tchannel.api import Response
from ringpop.tchannel.errors import TChannelError
from ringpop.tchannel.fragments import CompleteMessage
from ringpop.tchannel.frames import Cancel

__all__ = [
    "CallAnswered",
    "CallExpired",
    "CallFailed",
    "ConnectionStale",
    "Event",
    "HandshakeComplete",
    "ProtocolFailure",
]


class HandshakeComplete(msgspec.Struct):
    """The init handshake finished; ``headers`` are the peer's init headers."""

    headers: dict[str, str]

    @property
    def host_port(self) -> str:
        """The peer's advertised ``host_port`` (``0.0.0.0:0`` if it does not listen)."""
        return self.headers.get("host_port", "0.0.0.0:0")


class ProtocolFailure(msgspec.Struct):
    """Fatal protocol error; the connection must be closed after the outbox is sent."""

    message: str


class CallAnswered(msgspec.Struct):
    """Our call ``id`` was answered: ``response`` (``None`` answers a ping)."""

    id: int
    tag: Any
    response: Response | None


class CallFailed(msgspec.Struct):
    """Our call ``id`` failed with ``error`` (the peer's error frame, or a bad response)."""

    id: int
    tag: Any
    error: TChannelError


class CallExpired(msgspec.Struct):
    """Our call ``id`` passed its deadline unanswered; it is forgotten."""

    id: int
    tag: Any


class ConnectionStale(msgspec.Struct):
    """Calls timed out and nothing was read for ``quiet`` seconds: abort the connection."""

    quiet: float


Event: TypeAlias = (
    HandshakeComplete
    | CompleteMessage
    | Cancel
    | CallAnswered
    | CallFailed
    | CallExpired
    | ConnectionStale
    | ProtocolFailure
)
