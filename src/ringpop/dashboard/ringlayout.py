"""Where each server sits on the ring, for drawing (pure: no I/O).

A key belongs to the owner of the first replica point whose hash is >= the key's hash
(spec §13.4), so point ``p`` owns the hashes after the previous point up to ``p``
itself, and the first point also owns the wrap-around stretch after the last point. A
:class:`RingLayout` is those stretches, merged where one owner's stretches touch, in
hash units (``0 .. 2**32``), with each owner's share of the hash space. The page
draws the stretches as arcs, so an arc's angle is exactly the owner's share.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ringpop.hashing import fingerprint32
from ringpop.membership.labels import IDENTITY_LABEL
from ringpop.ring.hashring import HashRing

__all__ = ["SPACE", "RingLayout", "build_ring", "key_hash", "layout_of"]

SPACE = 1 << 32
"""The size of the hash space: angles are ``hash / SPACE * 360`` degrees."""


@dataclass(frozen=True)
class RingLayout:
    """Each server's stretches of the hash space and its share of it."""

    servers: tuple[str, ...]
    segments: dict[str, list[tuple[int, int]]]  # owner -> [(start, end)]: hashes start..end-1
    shares: dict[str, float]  # owner -> fraction of the hash space (sums to 1)

    def to_json(self) -> dict[str, object]:
        """The layout as the page reads it."""
        return {
            "servers": list(self.servers),
            "space": SPACE,
            "segments": {owner: [list(s) for s in segs] for owner, segs in self.segments.items()},
            "shares": self.shares,
        }


def build_ring(servers: Iterable[str], labels: Mapping[str, Mapping[str, str]]) -> HashRing:
    """A ring of ``servers``, each under its identity label when it has one (spec §13.2)."""
    ring = HashRing()
    ring.add_remove_servers(
        [(address, labels.get(address, {}).get(IDENTITY_LABEL)) for address in servers], ()
    )
    return ring


def layout_of(ring: HashRing) -> RingLayout:
    """The :class:`RingLayout` of ``ring``."""
    points = ring.points()
    servers = tuple(ring.servers())
    segments: dict[str, list[tuple[int, int]]] = {server: [] for server in servers}
    if not points:
        return RingLayout(servers, segments, {})
    owners = _owners(points)
    start = 0
    for h, owner in owners:
        _add(segments[owner], start, h + 1)  # the hash values start .. h
        start = h + 1
    _add(segments[owners[0][1]], start, SPACE)  # past the last point: wraps to the first
    shares = {server: sum(e - s for s, e in segs) / SPACE for server, segs in segments.items()}
    return RingLayout(servers, segments, shares)


def _owners(points: Sequence[tuple[int, str, int]]) -> list[tuple[int, str]]:
    """``(hash, owner)`` per distinct hash, the owner being the first point there."""
    out: list[tuple[int, str]] = []
    for h, address, _ in points:
        if out and out[-1][0] == h:
            continue
        out.append((h, address))
    return out


def _add(segments: list[tuple[int, int]], start: int, end: int) -> None:
    """Append the hashes ``start .. end - 1``, merged with the previous stretch when they touch."""
    if end <= start:
        return
    if segments and segments[-1][1] == start:
        segments[-1] = (segments[-1][0], end)
    else:
        segments.append((start, end))


def key_hash(key: str) -> int:
    """The ring position of ``key``."""
    return fingerprint32(key)
