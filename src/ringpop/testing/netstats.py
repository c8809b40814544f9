"""What a :class:`~ringpop.testing.memnet.MemoryNetwork` counts: calls, messages, bytes.

:class:`NetworkStats` holds the network-wide counters; :class:`Traffic` one node's
messages and bytes in each direction. A message is a request or a response put on a
link; its size is its payload, ``len(arg2) + len(arg3)`` (an error's message text),
without TChannel's framing (about 40-80 bytes a call on a real connection).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["NetworkStats", "Traffic"]


@dataclass(slots=True)
class NetworkStats:
    """Counters of everything the network did (read them, reset with a new object)."""

    calls: int = 0
    """``call()`` invocations."""
    refused: int = 0
    """Calls to unknown or stopped addresses (failed at once)."""
    messages_sent: int = 0
    """Requests and responses put on a link."""
    messages_dropped: int = 0
    """Requests and responses lost to partitions, crashes or link loss."""
    timeouts: int = 0
    """Calls that ran out of time."""
    remote_errors: int = 0
    """Calls answered with an application error (a not-ok response)."""
    by_endpoint: Counter[str] = field(default_factory=Counter)
    """``call()`` invocations per endpoint."""
    bytes_sent: int = 0
    """Payload bytes of the messages put on a link."""
    largest_message: int = 0
    """The largest payload put on a link, in bytes."""
    largest_endpoint: str = ""
    """The endpoint of that message (its request or its response)."""


@dataclass(slots=True)
class Traffic:
    """One node's messages and payload bytes (requests and responses alike)."""

    messages_sent: int = 0
    bytes_sent: int = 0
    messages_received: int = 0
    bytes_received: int = 0
    largest_sent: int = 0
    """The largest payload this node put on a link, in bytes."""
