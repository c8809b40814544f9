"""Events of range handoff and anti-entropy, emitted on the node's ``rp.events``."""

from __future__ import annotations

from ringpop.events import Event
from ringpop.ring.ownership import Range

__all__ = [
    "AntiEntropyRepaired",
    "HandoffCompleted",
    "HandoffFailed",
    "HandoffProgress",
    "HandoffStarted",
    "RangeDropped",
]


class HandoffStarted(Event, frozen=True):
    """This node started pulling ``range`` it gained, from ``sources`` (in order)."""

    range: Range
    sources: tuple[str, ...]


class HandoffProgress(Event, frozen=True):
    """One page of ``range`` pulled from ``source`` and applied (totals so far)."""

    range: Range
    source: str
    records: int
    bytes: int


class HandoffCompleted(Event, frozen=True):
    """``range`` is here: pulled from ``sources`` (``records`` applied, ``bytes`` read)."""

    range: Range
    sources: tuple[str, ...]
    records: int
    bytes: int
    seconds: float


class HandoffFailed(Event, frozen=True):
    """No source served ``range`` (``attempt`` of ``max_attempts``; retried until the last)."""

    range: Range
    attempt: int
    max_attempts: int
    reasons: tuple[str, ...]


class RangeDropped(Event, frozen=True):
    """This node deleted ``range`` it no longer replicates, after its new holders confirmed."""

    range: Range
    records: int


class AntiEntropyRepaired(Event, frozen=True):
    """Anti-entropy of ``range`` with ``peer`` exchanged ``sent``/``received`` records."""

    range: Range
    peer: str
    sent: int
    received: int
