"""What an application writes: an :class:`Actor` subclass (or any factory of one).

::

    class Counter(Actor):
        def __init__(self, key: str) -> None:
            super().__init__(key)
            self.count = 0

        async def on_activate(self, state: Any) -> None:
            self.count = state or 0            # what snapshot() returned last time

        async def receive(self, message: Any, context: Context) -> Any:
            self.count += message["add"]
            return self.count                  # the reply of ask()

        def snapshot(self) -> Any:
            return self.count                  # saved on passivation and handover

One activation handles one message at a time. Messages and replies are msgpack
values (None, bool, int, float, str, bytes, lists, dicts with str keys).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

__all__ = ["Actor", "ActorFactory", "Context"]


class Context(msgspec.Struct, frozen=True):
    """About the message in hand.

    ``stream`` names the sender (node address and a per-process id) and ``seq`` the
    message's place in that sender's order: ``(stream, seq)`` is the message's
    idempotency key, the same when a message is delivered again after a crash.
    """

    kind: str
    key: str
    stream: str
    seq: int

    @property
    def message_id(self) -> str:
        """``stream/seq``: unique per message, stable across redeliveries."""
        return f"{self.stream}/{self.seq}"

    @property
    def sender(self) -> str:
        """The sending node's address."""
        return self.stream.rpartition("#")[0]


class Actor:
    """Base class of actors: override :meth:`receive`, and the others as needed."""

    def __init__(self, key: str) -> None:
        self.key = key

    async def on_activate(self, state: Any) -> None:
        """Called once before the first message with what :meth:`snapshot` saved (or None)."""

    async def receive(self, message: Any, context: Context) -> Any:
        """Handle one message; the return value is the reply of ``ask``."""
        raise NotImplementedError

    def snapshot(self) -> Any:
        """The state to save (passivation, handover, checkpoints): a msgpack value."""
        return None

    async def on_passivate(self) -> None:
        """Called before the actor is saved and dropped (idle, or handed over)."""


ActorFactory = Callable[[str], Actor]
"""Builds the actor of a key: an :class:`Actor` subclass works as is."""
