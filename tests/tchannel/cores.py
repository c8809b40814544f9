"""Helpers for tests driving two ``ConnectionCore`` objects against each other."""

from __future__ import annotations

from ringpop.tchannel.api import Request
from ringpop.tchannel.core import ConnectionCore
from ringpop.tchannel.events import HandshakeComplete
from ringpop.tchannel.fragments import CompleteMessage
from ringpop.tchannel.frames import CallRequest


def handshake(
    client: ConnectionCore,
    server: ConnectionCore,
    client_headers: dict[str, str],
    server_headers: dict[str, str],
) -> tuple[ConnectionCore, ConnectionCore]:
    """Run the init handshake between two fresh cores; both outboxes end empty."""
    client.start()
    server_events = server.receive(b"".join(client.outbox))
    client.outbox.clear()
    assert server_events == [HandshakeComplete(client_headers)]
    client_events = client.receive(b"".join(server.outbox))
    server.outbox.clear()
    assert client_events == [HandshakeComplete(server_headers)]
    return client, server


def request_of(message: CompleteMessage) -> Request:
    """The ``Request`` a server hands its handler for a received call message."""
    first = message.first
    assert isinstance(first, CallRequest)
    return Request(
        first.service,
        message.arg1,
        message.arg2,
        message.arg3,
        first.headers,
        "peer",
        first.ttl / 1000,
        first.tracing,
        first.id,
        first.checksum_type,
    )
