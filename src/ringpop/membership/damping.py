"""Flap damping scores (spec §10, ringpop-node's defaults of defaults.md §7).

Every accepted update about an existing, non-local member costs it a penalty. Scores
decay exponentially with a half-life; a member whose score rises above the suppress
limit is a *flapper* until it falls below the reuse limit. Pure state: time comes in
as an argument (seconds on any monotonic clock).
"""

from __future__ import annotations

import math

import msgspec

__all__ = ["DampScores", "DampingConfig"]


class DampingConfig(msgspec.Struct, frozen=True):
    """The scoring numbers (ringpop-node's defaults)."""

    penalty: float = 500
    initial: float = 0
    minimum: float = 0
    maximum: float = 10_000
    suppress_limit: float = 5000
    reuse_limit: float = 2500
    half_life: float = 300.0
    """Seconds for a score to halve."""

    def __post_init__(self) -> None:
        if not self.minimum <= self.reuse_limit <= self.suppress_limit <= self.maximum:
            raise ValueError("damping limits must satisfy minimum <= reuse <= suppress <= maximum")
        if self.half_life <= 0 or self.penalty < 0:
            raise ValueError("half_life must be > 0 and penalty >= 0")


class _Score:
    __slots__ = ("at", "value")

    def __init__(self, value: float, at: float) -> None:
        self.value = value
        self.at = at


class DampScores:
    """Damp scores of members and the set of current flappers."""

    def __init__(self, config: DampingConfig | None = None) -> None:
        self.config = config if config is not None else DampingConfig()
        self._scores: dict[str, _Score] = {}
        self.flappers: set[str] = set()

    def __len__(self) -> int:
        return len(self._scores)

    def _decayed(self, entry: _Score, now: float) -> float:
        elapsed = max(0.0, now - entry.at)
        factor = math.exp(-elapsed * math.log(2) / self.config.half_life)
        return max(float(round(entry.value * factor)), self.config.minimum)

    def score(self, address: str, now: float) -> float:
        """The current (decayed) score of ``address``; the initial score if unknown."""
        entry = self._scores.get(address)
        return self.config.initial if entry is None else self._decayed(entry, now)

    def penalize(self, address: str, now: float) -> float:
        """Decay, then add the penalty (capped at the maximum); the new score."""
        config = self.config
        entry = self._scores.get(address)
        current = config.initial if entry is None else self._decayed(entry, now)
        value = min(current + config.penalty, config.maximum)
        self._scores[address] = _Score(value, now)
        self._reclassify(address, value)
        return value

    def decay(self, now: float) -> list[str]:
        """Decay every score (node does this every second); the members no longer flapping.

        Scores that decayed to the minimum are forgotten.
        """
        recovered = []
        for address, entry in list(self._scores.items()):
            value = self._decayed(entry, now)
            was = address in self.flappers
            self._reclassify(address, value)
            if was and address not in self.flappers:
                recovered.append(address)
            if value <= self.config.minimum and address not in self.flappers:
                del self._scores[address]
        return recovered

    def _reclassify(self, address: str, value: float) -> None:
        if value >= self.config.suppress_limit:
            self.flappers.add(address)
        elif value < self.config.reuse_limit:
            self.flappers.discard(address)

    def forget(self, address: str) -> None:
        """Drop ``address`` (evicted member)."""
        self._scores.pop(address, None)
        self.flappers.discard(address)

    def scores(self, now: float) -> dict[str, float]:
        """Every tracked member's current score."""
        return {address: self._decayed(entry, now) for address, entry in self._scores.items()}
