"""TChannel v2 transport on asyncio, interoperable with tchannel-node and tchannel-go.

Typical use::

    from ringpop.tchannel import Channel, Response

    channel = Channel("127.0.0.1:3000")

    async def ping(request):
        return Response.from_json({"changes": []})

    channel.register("ringpop", "/protocol/ping", ping)
    await channel.listen()
    body = await channel.call_json("127.0.0.1:3001", "ringpop", "/protocol/ping",
                                   {"checksum": 1}, timeout=1.5)
    await channel.close()

Layers: :mod:`.frames` (sans-IO frame codec), :mod:`.fragments` (messages <->
frames), :mod:`.core` with :mod:`.calls` and :mod:`.events` (the sans-IO
connection, both directions), :mod:`.connection` and :mod:`.serving` (asyncio
protocol), :mod:`.peers` and :mod:`.channel` (connection table, listener, call API).
Every tunable is a field of :class:`ChannelOptions`.
"""

from __future__ import annotations

from ringpop.tchannel.api import (
    CODE_APPLICATION_ERROR,
    CODE_OK,
    Handler,
    JsonHandler,
    Request,
    Response,
    dump_json,
    load_json,
)
from ringpop.tchannel.channel import Channel
from ringpop.tchannel.checksum import ChecksumType
from ringpop.tchannel.connection import Connection
from ringpop.tchannel.errors import (
    ApplicationError,
    BadRequestError,
    BusyError,
    CallCancelledError,
    CallTimeoutError,
    DeclinedError,
    ErrorCode,
    MalformedFrameError,
    NetworkError,
    ProtocolError,
    TChannelError,
    UnexpectedError,
    UnhealthyError,
    too_large,
)
from ringpop.tchannel.hostport import EPHEMERAL
from ringpop.tchannel.options import ChannelOptions

__all__ = [
    "CODE_APPLICATION_ERROR",
    "CODE_OK",
    "EPHEMERAL",
    "ApplicationError",
    "BadRequestError",
    "BusyError",
    "CallCancelledError",
    "CallTimeoutError",
    "Channel",
    "ChannelOptions",
    "ChecksumType",
    "Connection",
    "DeclinedError",
    "ErrorCode",
    "Handler",
    "JsonHandler",
    "MalformedFrameError",
    "NetworkError",
    "ProtocolError",
    "Request",
    "Response",
    "TChannelError",
    "UnexpectedError",
    "UnhealthyError",
    "dump_json",
    "load_json",
    "too_large",
]
