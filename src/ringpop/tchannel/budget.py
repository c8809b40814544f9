"""The bound on the bytes of unfinished messages one channel holds over all its connections."""

from __future__ import annotations

__all__ = ["ReceiveBudget"]


class ReceiveBudget:
    """Bytes of unfinished messages all the connections of one channel may hold.

    Each connection is bounded by its own ``max_buffered``; without a bound over
    them all, a peer that opens many connections and sends every message but its
    last frame would hold ``max_buffered`` bytes of our memory per connection. A
    message that would take the channel past ``limit`` is refused (``busy``) and
    the rest of its frames are skipped; messages in one frame never count.
    """

    __slots__ = ("held", "limit", "refused")

    def __init__(self, limit: int) -> None:
        if limit <= 0:
            raise ValueError("a receive budget must be positive")
        self.limit = limit
        self.held = 0
        self.refused = 0  # messages refused for want of room
