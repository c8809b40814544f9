"""What the state layer needs from a ringpop node, as a Protocol.

``ringpop.Ringpop`` satisfies it. The state package sits below the facade, so it
never imports it: it is handed a node and uses only these members.
"""

from __future__ import annotations

from typing import Protocol

from ringpop.eventbus import EventEmitter
from ringpop.forward import Forwarder
from ringpop.ring import HashRing
from ringpop.ring.ownership import Range
from ringpop.transport import Transport

__all__ = ["Host"]


class Host(Protocol):
    """A started ringpop node: its address, ring, events, transport and forwarder."""

    @property
    def events(self) -> EventEmitter: ...

    @property
    def is_ready(self) -> bool: ...

    @property
    def ownership_n(self) -> int: ...

    @property
    def channel(self) -> Transport: ...

    @property
    def forwarder(self) -> Forwarder: ...

    @property
    def ring(self) -> HashRing: ...

    def whoami(self) -> str: ...

    def owned_ranges(self, n: int | None = None, *, rank: int | None = None) -> list[Range]: ...
