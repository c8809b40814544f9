"""Versions: a hybrid logical clock and the last-writer-wins rule (pure; time is injected).

A :class:`Version` is ``(wall, logical, node)``: ``wall`` milliseconds from the
writer's hybrid clock, ``logical`` a counter that orders events within one
millisecond (and when physical clocks lag behind versions already seen), ``node`` the
writer's id. Versions compare as tuples, so they are totally ordered and every
replica picks the same winner whatever order writes arrive in: the greatest
version wins (:func:`newer`), ties on ``(wall, logical)`` go to the larger writer id.

The clock follows Kulkarni et al., "Logical Physical Clocks" (2014): ``now()`` never
returns a version smaller than or equal to one it returned or observed before, and
its ``wall`` stays within the physical clock plus the largest skew observed.
:meth:`HybridClock.observe` refuses versions more than ``max_drift_ms`` ahead of our
physical clock (:class:`ClockDriftError`), so one node with a clock set far in the
future cannot drag every version (and every later write's chance to win) with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import msgspec

from ringpop.errors import RingpopError

__all__ = ["MAX_NODE_CHARS", "ClockDriftError", "HybridClock", "Version", "newer"]


MAX_NODE_CHARS = 255
"""The longest writer id a decoded version may carry (an address or an identity)."""

_Count = Annotated[int, msgspec.Meta(ge=0, le=(1 << 63) - 1)]  # what pages' int64 columns hold


class Version(msgspec.Struct, frozen=True, order=True, array_like=True):
    """A write's version: compared as ``(wall, logical, node)``; encoded as a JSON array.

    Decoding refuses (``msgspec.ValidationError``) a ``wall`` or ``logical`` outside
    ``0 <= n < 2**63`` (the stores and pages keep them as int64) and a ``node`` of
    more than :data:`MAX_NODE_CHARS` characters.
    """

    wall: _Count
    logical: _Count
    node: Annotated[str, msgspec.Meta(max_length=MAX_NODE_CHARS)]


ZERO = Version(0, 0, "")


def newer(candidate: Version, current: Version | None) -> bool:
    """Whether a write at ``candidate`` replaces one at ``current`` (last writer wins)."""
    return current is None or candidate > current


class ClockDriftError(RingpopError, ValueError):
    """An observed version is further ahead of our physical clock than allowed."""


class HybridClock:
    """Hybrid logical clock of one node.

    ``now_ms`` is the physical clock (e.g. ``ringpop.clock.SystemClock().now_ms``);
    ``node`` the id stamped into versions (the ringpop address).
    """

    def __init__(self, node: str, now_ms: Callable[[], int], *, max_drift_ms: int = 60_000):
        self.node = node
        self._now_ms = now_ms
        self.max_drift_ms = max_drift_ms
        self._wall = 0
        self._logical = 0

    @property
    def last(self) -> Version:
        """The greatest version returned or observed so far."""
        return Version(self._wall, self._logical, self.node)

    def now(self) -> Version:
        """A new version for a local write, greater than every version seen before."""
        physical = self._now_ms()
        if physical > self._wall:
            self._wall, self._logical = physical, 0
        else:
            self._logical += 1
        return Version(self._wall, self._logical, self.node)

    def observe(self, seen: Version) -> None:
        """Merge a version received from another node, so later writes order after it.

        Raises :class:`ClockDriftError` (and changes nothing) when ``seen.wall`` is
        more than ``max_drift_ms`` ahead of the physical clock.
        """
        physical = self._now_ms()
        if seen.wall - physical > self.max_drift_ms:
            raise ClockDriftError(
                f"version {seen.wall} ms from {seen.node!r} is {seen.wall - physical} ms ahead "
                f"of our clock (limit {self.max_drift_ms} ms)"
            )
        wall = max(self._wall, seen.wall, physical)
        if wall == self._wall == seen.wall:
            self._logical = max(self._logical, seen.logical) + 1
        elif wall == self._wall:
            self._logical += 1
        elif wall == seen.wall:
            self._logical = seen.logical + 1
        else:
            self._logical = 0
        self._wall = wall
