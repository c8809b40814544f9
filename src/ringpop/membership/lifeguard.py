"""Lifeguard (Dadgar et al., 2018): local health awareness and dynamic suspicion.

Pure logic, no I/O and no clock of its own (times are passed in, seconds on the
node's monotonic clock). :class:`~ringpop.membership.node.SwimNode` drives it when
``Options.lifeguard_enabled`` is set; nothing here changes what goes on the wire.

* :class:`LocalHealth` is the *local health multiplier* (LHM): a saturating counter
  ``0..max`` that rises when this node looks slow to itself (a probe that got no
  ack at all, a suspicion about itself it had to refute) and falls on every
  successful direct probe. While it is above 0 the node stretches its protocol
  period and its ping / ping-req timeouts by ``LHM + 1``.
* :class:`Suspicions` keeps, per suspect member, when the suspicion started and
  which members independently confirmed it. The suspect -> faulty timeout starts at
  ``max = 6 x min`` and shrinks towards ``min`` as confirmations arrive
  (:func:`suspicion_timeout`), with ``min = mult x max(1, log10 N) x period``
  (:func:`suspicion_bounds`).
"""

from __future__ import annotations

import math

import msgspec

__all__ = [
    "MAX_TO_MIN",
    "LocalHealth",
    "Suspicion",
    "Suspicions",
    "suspicion_bounds",
    "suspicion_timeout",
]

MAX_TO_MIN = 6.0
"""The longest suspicion timeout is this many times the shortest."""


class LocalHealth:
    """The local health multiplier: 0 (healthy) .. ``max_multiplier`` (very slow)."""

    __slots__ = ("_max", "_score")

    def __init__(self, max_multiplier: int = 8) -> None:
        if max_multiplier < 1:
            raise ValueError(f"max_multiplier must be >= 1, not {max_multiplier}")
        self._max = max_multiplier
        self._score = 0

    @property
    def score(self) -> int:
        """The current multiplier (0 when healthy)."""
        return self._score

    @property
    def max_multiplier(self) -> int:
        """The highest score."""
        return self._max

    def apply(self, delta: int) -> int:
        """Add ``delta``, saturating at 0 and the maximum; the new score."""
        self._score = min(self._max, max(0, self._score + delta))
        return self._score

    def probe_failed(self) -> int:
        """A probe got no ack, directly or through ping-req: +1."""
        return self.apply(1)

    def refuted(self) -> int:
        """We had to refute a suspicion about ourselves: +1."""
        return self.apply(1)

    def probe_succeeded(self) -> int:
        """A direct probe was acked: -1."""
        return self.apply(-1)

    def scale(self, duration: float) -> float:
        """``duration`` stretched by ``score + 1``."""
        return duration * (self._score + 1)


def suspicion_bounds(members: int, period: float, mult: float) -> tuple[float, float]:
    """``(min, max)`` suspicion timeouts for a cluster of ``members`` members.

    ``min = mult x max(1, log10(members)) x period`` and ``max = 6 x min``.
    """
    scale = max(1.0, math.log10(members)) if members > 0 else 1.0
    shortest = mult * scale * period
    return shortest, MAX_TO_MIN * shortest


def suspicion_timeout(confirmations: int, needed: int, shortest: float, longest: float) -> float:
    """The suspect -> faulty timeout after ``confirmations`` independent confirmations.

    ``max(min, max - (max - min) x log(C + 1) / log(k + 1))``: ``max`` with none,
    ``min`` from ``k`` on. With ``k < 1`` (too few members to confirm) it is ``min``.
    """
    if needed < 1:
        return shortest
    fraction = math.log(confirmations + 1) / math.log(needed + 1)
    return max(shortest, longest - (longest - shortest) * fraction)


class Suspicion(msgspec.Struct):
    """One suspicion about a member at one incarnation."""

    incarnation: int
    started_at: float
    shortest: float
    longest: float
    needed: int
    """Confirmations (k) that bring the timeout down to ``shortest``."""
    origin: str
    """Who raised it first; the origin does not count as a confirmation."""
    confirmers: set[str] = msgspec.field(default_factory=set)

    @property
    def confirmations(self) -> int:
        """Independent confirmations so far."""
        return len(self.confirmers)

    @property
    def timeout(self) -> float:
        """The current suspect -> faulty timeout."""
        return suspicion_timeout(self.confirmations, self.needed, self.shortest, self.longest)

    @property
    def due_at(self) -> float:
        """When the member is to be declared faulty."""
        return self.started_at + self.timeout

    def confirm(self, source: str) -> bool:
        """Count ``source``'s confirmation; whether it was new (and counted)."""
        if not source or source == self.origin or source in self.confirmers:
            return False
        if len(self.confirmers) >= self.needed:
            return False
        self.confirmers.add(source)
        return True


class Suspicions:
    """The dynamic suspicion timeouts of every suspect member (one per address)."""

    __slots__ = ("_by_address", "_confirmations", "_mult")

    def __init__(self, *, mult: float, confirmations: int) -> None:
        if not mult > 0:
            raise ValueError(f"mult must be > 0, not {mult}")
        if confirmations < 1:
            raise ValueError(f"confirmations must be >= 1, not {confirmations}")
        self._mult = mult
        self._confirmations = confirmations
        self._by_address: dict[str, Suspicion] = {}

    def __len__(self) -> int:
        return len(self._by_address)

    def __contains__(self, address: object) -> bool:
        return address in self._by_address

    def get(self, address: str) -> Suspicion | None:
        """The suspicion about ``address``, if any."""
        return self._by_address.get(address)

    def items(self) -> list[tuple[str, Suspicion]]:
        """Every ``(address, suspicion)``, by address."""
        return [(address, self._by_address[address]) for address in sorted(self._by_address)]

    def start(
        self,
        address: str,
        incarnation: int,
        *,
        origin: str,
        now: float,
        members: int,
        period: float,
    ) -> Suspicion:
        """A new suspicion (replacing any older one) starting at ``now``.

        ``members`` is the cluster size N; ``k`` is capped at ``N - 2`` (the members
        other than the suspect and the origin that could confirm).
        """
        shortest, longest = suspicion_bounds(members, period, self._mult)
        needed = min(self._confirmations, max(0, members - 2))
        suspicion = Suspicion(incarnation, now, shortest, longest, needed, origin)
        self._by_address[address] = suspicion
        return suspicion

    def confirm(self, address: str, incarnation: int, source: str) -> Suspicion | None:
        """Count a confirmation; the suspicion if its timeout shrank, else ``None``."""
        suspicion = self._by_address.get(address)
        if suspicion is None or suspicion.incarnation != incarnation:
            return None
        return suspicion if suspicion.confirm(source) else None

    def drop(self, address: str) -> bool:
        """Forget the suspicion about ``address``; whether there was one."""
        return self._by_address.pop(address, None) is not None

    def clear(self) -> None:
        """Forget every suspicion."""
        self._by_address.clear()
