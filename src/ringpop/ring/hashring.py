"""The consistent hash ring of ringpop (spec §13).

(Over 400 lines: one class whose bucket index, lookups and walks must share private
state to stay fast; see bench/ring.py.)

Every server contributes ``replica_points`` points (100 by default). Point ``i`` of a
server hashes ``address + str(i)``, or ``identity + "#" + str(i)`` when the server has
an identity. A key belongs to the owner of the first point whose hash is >= the key's
hash, wrapping to the first point; points with equal hashes are ordered by address,
then replica index.

Layout, chosen for lookup speed with plain lists and :mod:`bisect`:

* the 32-bit hash space is cut into 1024 buckets by its top 10 bits;
* ``_bucket_hashes[b]`` is the sorted list of the distinct point hashes in bucket ``b``;
* ``_bucket_owners[b]`` is the parallel list of their owners (the first point at each
  hash) plus one sentinel: the owner of the next point clockwise in a later bucket,
  wrapping around the ring.

So ``lookup`` is one hash, two list indexes and a ``bisect`` over the few points of
one bucket, and never branches on wrap-around. Adding or removing a server touches
only the ~100 short lists its points fall in and refreshes the 1024 sentinels: no
list of all points is ever copied (copying 100 000 references alone costs ~0.4 ms).

Bookkeeping beside the index: ``_ties`` (for the rare hashes several points share,
their sorted ``(address, index)`` list) and ``_points`` (address -> its replica
hashes). The owner of a hash is read from the bucket index itself (no hash -> owner
dict: ~40 B a point saved).

Scale (docs/scale.md): a server's replica hashes are the same in every ring of the
process, so they are computed once and shared (a bounded memo of immutable tuples,
the same values either way); a batch adding many servers (a join response, a
bootstrap) builds the index in one sorted pass instead of point by point.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from itertools import compress, islice
from operator import eq
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import farmhash
import msgspec

from ringpop.checks import check_text
from ringpop.hashing import fingerprint32_many, key_error
from ringpop.options import MAX_REPLICA_POINTS

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["DEFAULT_REPLICA_POINTS", "HashRing", "RingChange", "RingListener"]

DEFAULT_REPLICA_POINTS = 100

_fp32: Callable[[str | bytes | bytearray | memoryview], int] = farmhash.Fingerprint32

_BUCKET_BITS = 10
_BUCKET_COUNT = 1 << _BUCKET_BITS
_BUCKET_SHIFT = 32 - _BUCKET_BITS

_BULK_MIN = 64
"""A batch adding at least this many servers, and more than the ring holds, rebuilds
the index in one sorted pass."""


@lru_cache(maxsize=1 << 16)
def _replica_hashes(prefix: str, replica_points: int) -> tuple[int, ...]:
    """A server's replica hashes, shared by every ring of the process (a simulated
    cluster holds thousands of rings of the same servers); bounded for a long-lived
    process (the least recently used servers go first)."""
    return tuple(fingerprint32_many([prefix + str(i) for i in range(replica_points)]))


class RingChange(msgspec.Struct, frozen=True):
    """What one change of the ring did: servers added, servers removed, new checksum."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    checksum: int


RingListener = Callable[[RingChange], None]


class HashRing:
    """A consistent hash ring over server addresses, identical to ringpop-go's.

    >>> ring = HashRing()
    >>> ring.add_server("127.0.0.1:3000")
    True
    >>> ring.lookup("hello")
    '127.0.0.1:3000'
    """

    __slots__ = (
        "_bucket_hashes",
        "_bucket_owners",
        "_checksum",
        "_identities",
        "_identity_keys",
        "_listeners",
        "_numpy_cache",
        "_point_count",
        "_points",
        "_replica_checksum",
        "_ties",
        "_touched",
        "replica_points",
    )

    def __init__(self, replica_points: int = DEFAULT_REPLICA_POINTS) -> None:
        if (
            not isinstance(replica_points, int)
            or isinstance(replica_points, bool)
            or not 0 < replica_points <= MAX_REPLICA_POINTS
        ):
            raise ValueError(
                f"replica_points must be a whole number 1..{MAX_REPLICA_POINTS}, "
                f"not {replica_points!r}"
            )
        self.replica_points = replica_points
        self._bucket_hashes: list[list[int]] = [[] for _ in range(_BUCKET_COUNT)]
        self._bucket_owners: list[list[str | None]] = [[None] for _ in range(_BUCKET_COUNT)]
        self._point_count = 0
        self._ties: dict[int, list[tuple[str, int]]] = {}
        self._points: dict[str, tuple[int, ...]] = {}
        self._identities: dict[str, str] = {}
        self._identity_keys: list[str] = []
        self._listeners: list[RingListener] = []
        self._checksum = _fp32("")
        self._replica_checksum: int | None = None
        self._numpy_cache: tuple[Any, Any, list[str]] | None = None
        self._touched: set[int] = set()
        """Buckets whose points changed since the sentinels were last linked."""

    # -- queries -----------------------------------------------------------------

    @property
    def server_count(self) -> int:
        """Number of servers in the ring."""
        return len(self._points)

    def servers(self) -> list[str]:
        """Addresses of all servers, sorted."""
        return sorted(self._points)

    def has_server(self, address: str) -> bool:
        """Whether ``address`` is a server of the ring."""
        return address in self._points

    def identity_of(self, address: str) -> str | None:
        """The identity a server hashes its points with (its address if none), or ``None``."""
        if address not in self._points:
            return None
        return self._identities.get(address, address)

    def __len__(self) -> int:
        return len(self._points)

    def __contains__(self, address: object) -> bool:
        return address in self._points

    def __iter__(self) -> Iterator[str]:
        return iter(self.servers())

    @property
    def checksum(self) -> int:
        """Legacy ring checksum (§13.5): Fingerprint32 of sorted identities joined by ``;``."""
        return self._checksum

    @property
    def replica_checksum(self) -> int:
        """ringpop-go's ``replica`` checksum over every point in ring order (§13.5).

        Computed on first use after a change (it hashes a string of every point).
        """
        if self._replica_checksum is None:
            self._replica_checksum = _fp32(
                "".join(f"{h}-{address};" for h, address in self._walk_from(0, 0))
            )
        return self._replica_checksum

    def checksums(self) -> dict[str, int]:
        """Both checksums by name, as ``/admin/stats`` shows them."""
        return {"legacy": self._checksum, "replica": self.replica_checksum}

    def lookup(self, key: str | bytes) -> str | None:
        """Owner of ``key``, or ``None`` when the ring is empty."""
        try:
            h = _fp32(key)
        except (TypeError, UnicodeEncodeError):
            raise key_error(key) from None
        bucket = h >> _BUCKET_SHIFT
        return self._bucket_owners[bucket][bisect_left(self._bucket_hashes[bucket], h)]

    def lookup_n(self, key: str | bytes, n: int) -> list[str]:
        """Up to ``n`` distinct servers for ``key`` in ring order, starting at its owner."""
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ValueError(f"lookup_n needs a whole number n >= 1, not {n!r}")
        try:
            h = _fp32(key)
        except (TypeError, UnicodeEncodeError):
            raise key_error(key) from None
        want = min(n, len(self._points))
        found: list[str] = []
        if not want:
            return found
        bucket = h >> _BUCKET_SHIFT
        seen: set[str] = set()
        for _, address in self._walk_from(bucket, bisect_left(self._bucket_hashes[bucket], h)):
            if address not in seen:
                seen.add(address)
                found.append(address)
                if len(found) == want:
                    break
        return found

    def points_of(self, address: str) -> Sequence[int]:
        """The replica point hashes of ``address`` (empty if it is not in the ring).

        The ring's own list, not a copy: read it, never change it.
        """
        return self._points.get(address, ())

    def point_lists(self) -> Mapping[str, Sequence[int]]:
        """Every server's replica point hashes (a read-only view, no copy)."""
        return MappingProxyType(self._points)

    def clockwise(self, h: int) -> Iterator[tuple[int, str]]:
        """Points as ``(hash, address)`` clockwise from the first with hash >= ``h``, once
        around (tied points: every address of the tie, in tie order)."""
        bucket = h >> _BUCKET_SHIFT
        return self._walk_from(bucket, bisect_left(self._bucket_hashes[bucket], h))

    def counterclockwise(self, h: int) -> Iterator[tuple[int, str]]:
        """Points as ``(hash, address)`` counter-clockwise from the last with hash < ``h``,
        once around."""
        start = (h - 1) & 0xFFFFFFFF
        first = start >> _BUCKET_SHIFT
        ties = self._ties
        all_hashes = self._bucket_hashes
        all_owners = self._bucket_owners
        cut = bisect_right(all_hashes[first], start)
        for step in range(_BUCKET_COUNT + 1):
            b = (first - step) % _BUCKET_COUNT
            hashes = all_hashes[b]
            if step == 0:
                indexes: Iterable[int] = range(cut - 1, -1, -1)
            elif step == _BUCKET_COUNT:
                indexes = range(len(hashes) - 1, cut - 1, -1)
            else:
                indexes = range(len(hashes) - 1, -1, -1)
            for i in indexes:
                p = hashes[i]
                tied = ties.get(p)
                if tied is None:
                    yield p, all_owners[b][i]  # type: ignore[misc]  # real points have owners
                else:
                    for address, _ in tied:
                        yield p, address

    def _walk_from(self, bucket: int, position: int) -> Iterator[tuple[int, str]]:
        """Every point as ``(hash, address)``, clockwise once around from a position."""
        ties = self._ties
        for step in range(_BUCKET_COUNT + 1):
            b = (bucket + step) % _BUCKET_COUNT
            hashes = self._bucket_hashes[b]
            owners = self._bucket_owners[b]
            if step == 0:
                indexes = range(position, len(hashes))
            elif step == _BUCKET_COUNT:
                indexes = range(position)
            else:
                indexes = range(len(hashes))
            for i in indexes:
                h = hashes[i]
                tied = ties.get(h)
                if tied is None:
                    yield h, owners[i]  # type: ignore[misc]  # real points have owners
                else:
                    for address, _ in tied:
                        yield h, address

    def points(self) -> list[tuple[int, str, int]]:
        """Every replica point as ``(hash, address, index)`` in ring order."""
        out: list[tuple[int, str, int]] = []
        ties = self._ties
        for h, address in self._walk_from(0, 0):
            if h in ties:
                if ties[h][0][0] == address:
                    out.extend((h, a, i) for a, i in ties[h])
            else:
                out.append((h, address, self._points[address].index(h)))
        return out

    def lookup_many(self, keys: Sequence[str | bytes]) -> list[str | None]:
        """Vectorised :meth:`lookup` for bulk users (needs numpy).

        Hashes every key, then finds all owners with one ``numpy.searchsorted``.
        """
        if isinstance(keys, str | bytes | bytearray | memoryview):
            raise TypeError(f"lookup_many takes a list of keys, not one key: {keys!r:.60}")
        import numpy as np

        try:
            key_hashes = np.fromiter(map(_fp32, keys), dtype=np.uint32, count=len(keys))
        except (TypeError, UnicodeEncodeError):
            for key in keys:  # which key: hash them one at a time
                try:
                    _fp32(key)
                except (TypeError, UnicodeEncodeError):
                    raise key_error(key) from None
            raise
        if not self._points:
            return [None] * len(keys)
        point_array, owner_slots, slot_names = self._numpy_view()
        positions = np.searchsorted(point_array, key_hashes, side="left")
        positions[positions == len(point_array)] = 0
        return [slot_names[slot] for slot in owner_slots[positions].tolist()]

    def _numpy_view(self) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int32], list[str]]:
        import numpy as np

        if self._numpy_cache is None:
            slot_names = sorted(self._points)
            slot_of = {name: slot for slot, name in enumerate(slot_names)}
            hashes = [h for bucket in self._bucket_hashes for h in bucket]
            owners = [o for bucket in self._bucket_owners for o in bucket[:-1]]
            point_array = np.array(hashes, dtype=np.uint32)
            owner_slots = np.fromiter(
                (slot_of[o] for o in owners),  # type: ignore[index]  # real points have owners
                dtype=np.int32,
                count=len(hashes),
            )
            self._numpy_cache = (point_array, owner_slots, slot_names)
        return self._numpy_cache

    # -- changes -----------------------------------------------------------------

    def add_listener(self, listener: RingListener) -> None:
        """Call ``listener`` with a :class:`RingChange` after every change of the ring."""
        self._listeners.append(listener)

    def remove_listener(self, listener: RingListener) -> None:
        """Stop calling ``listener``."""
        self._listeners.remove(listener)

    def add_server(self, address: str, identity: str | None = None) -> bool:
        """Add a server; ``False`` (and nothing changes) if it is already in the ring."""
        return bool(self.add_remove_servers([(address, identity)], ())[0])

    def remove_server(self, address: str) -> bool:
        """Remove a server; ``False`` (and nothing changes) if it is not in the ring."""
        return bool(self.add_remove_servers((), [address])[1])

    def add_remove_servers(
        self,
        add: Iterable[str | tuple[str, str | None]],
        remove: Iterable[str],
    ) -> tuple[list[str], list[str]]:
        """Apply a batch of changes, refreshing the index once; return ``(added, removed)``.

        ``add`` holds addresses or ``(address, identity)`` pairs. Servers already in
        the ring are not added again and unknown servers are not removed: neither
        appears in the result. Removals are applied first, so a server may be
        removed and re-added (e.g. with a new identity) in one batch.
        """
        if isinstance(add, str):  # one address, not its characters
            add = (add,)
        if isinstance(remove, str):
            remove = (remove,)
        removed: list[str] = []
        for address in remove:
            if not isinstance(address, str):
                raise TypeError(f"server addresses are str, not {type(address).__name__}")
            if address in self._points:
                self._remove_points(address)
                removed.append(address)
        fresh: dict[str, str | None] = {}
        for item in add:
            address, identity = (item, None) if isinstance(item, str) else item
            check_text("server address", address)
            if identity is not None:
                check_text("identity", identity)
            if address not in self._points and address not in fresh:
                fresh[address] = identity
        added = list(fresh)
        bulk = len(fresh) >= _BULK_MIN and len(fresh) > len(self._points)
        if bulk:
            self._bulk_add(fresh)
        else:
            for address, identity in fresh.items():
                self._add_points(address, identity)
        if added or removed:
            if bulk or len(self._touched) > _BULK_MIN:
                self._link_buckets()
            else:
                self._relink(self._touched)
            self._touched.clear()
            self._after_change(added, removed)
        return added, removed

    def _point_hashes(self, address: str, identity: str | None) -> tuple[int, ...]:
        prefix = address if identity is None or identity == address else identity + "#"
        return _replica_hashes(prefix, self.replica_points)

    def _owner_of(self, h: int) -> str | None:
        """The owner of the point at hash ``h``, or ``None`` if no point has it."""
        bucket = h >> _BUCKET_SHIFT
        hashes = self._bucket_hashes[bucket]
        position = bisect_left(hashes, h)
        if position < len(hashes) and hashes[position] == h:
            return self._bucket_owners[bucket][position]
        return None

    def _bulk_add(self, fresh: dict[str, str | None]) -> None:
        """Add many servers: the index rebuilt in one sorted pass (the same index as
        adding them one by one: points sorted by hash, ties by address and index)."""
        points = self._points
        for address, identity in fresh.items():
            points[address] = self._point_hashes(address, identity)
            if identity is not None and identity != address:
                self._identities[address] = identity
        identities = self._identities
        self._identity_keys = sorted(identities.get(a, a) for a in points)
        hashes: list[int] = []
        owners: list[str] = []
        for address, server_hashes in points.items():
            hashes.extend(server_hashes)
            owners.extend([address] * len(server_hashes))
        order = sorted(range(len(hashes)), key=hashes.__getitem__)
        ordered = [hashes[j] for j in order]
        by_hash = [owners[j] for j in order]
        # positions repeating the hash before them (1M points hold ~100): found in C
        repeats = list(compress(range(1, len(ordered)), map(eq, ordered, islice(ordered, 1, None))))
        ties: dict[int, list[tuple[str, int]]] = {}
        if repeats:  # rare: each tied hash keeps one point, owned by its least (address, index)
            keep = bytearray(b"\x01") * len(ordered)
            for j in repeats:
                keep[j] = 0
            for h in dict.fromkeys(ordered[j] for j in repeats):  # every point at h
                tied_servers = dict.fromkeys(
                    by_hash[bisect_left(ordered, h) : bisect_right(ordered, h)]
                )
                ties[h] = sorted(
                    (a, i) for a in tied_servers for i, x in enumerate(points[a]) if x == h
                )
            ordered = list(compress(ordered, keep))
            by_hash = list(compress(by_hash, keep))
        # Each bucket is one slice of the sorted points (cut at multiples of 2^22).
        cuts = [bisect_left(ordered, b << _BUCKET_SHIFT) for b in range(_BUCKET_COUNT)]
        cuts.append(len(ordered))
        bucket_hashes = [ordered[cuts[b] : cuts[b + 1]] for b in range(_BUCKET_COUNT)]
        bucket_owners: list[list[str | None]] = [
            [*by_hash[cuts[b] : cuts[b + 1]], None] for b in range(_BUCKET_COUNT)
        ]
        for h, tied in ties.items():
            bucket = h >> _BUCKET_SHIFT
            bucket_owners[bucket][bisect_left(bucket_hashes[bucket], h)] = tied[0][0]
        self._bucket_hashes = bucket_hashes
        self._bucket_owners = bucket_owners
        self._ties = ties
        self._point_count = sum(len(b) for b in bucket_hashes)

    def _add_points(self, address: str, identity: str | None) -> None:
        hashes = self._point_hashes(address, identity)
        self._points[address] = hashes
        if identity is not None and identity != address:
            self._identities[address] = identity
        insort(self._identity_keys, identity or address)
        for index, h in enumerate(hashes):
            current = self._owner_of(h)
            if current is None:
                bucket = h >> _BUCKET_SHIFT
                position = bisect_left(self._bucket_hashes[bucket], h)
                self._bucket_hashes[bucket].insert(position, h)
                self._touched.add(bucket)
                self._bucket_owners[bucket].insert(position, address)
                self._point_count += 1
                continue
            tied = self._ties.get(h)
            if tied is None:
                tied = self._ties[h] = [(current, self._points[current].index(h))]
            insort(tied, (address, index))
            self._set_owner(h, tied[0][0])

    def _remove_points(self, address: str) -> None:
        hashes = self._points.pop(address)
        identity = self._identities.pop(address, address)
        del self._identity_keys[bisect_left(self._identity_keys, identity)]
        for index, h in enumerate(hashes):
            tied = self._ties.get(h)
            if tied is None:
                bucket = h >> _BUCKET_SHIFT
                position = bisect_left(self._bucket_hashes[bucket], h)
                del self._bucket_hashes[bucket][position]
                self._touched.add(bucket)
                del self._bucket_owners[bucket][position]
                self._point_count -= 1
                continue
            tied.remove((address, index))
            if len(tied) == 1:
                del self._ties[h]
            self._set_owner(h, tied[0][0])

    def _set_owner(self, h: int, address: str) -> None:
        bucket = h >> _BUCKET_SHIFT
        self._touched.add(bucket)
        self._bucket_owners[bucket][bisect_left(self._bucket_hashes[bucket], h)] = address

    def _relink(self, touched: Iterable[int]) -> None:
        """:meth:`_link_buckets` for a few changed buckets: a bucket's first point is
        the sentinel of the buckets before it, back to the previous non-empty one."""
        all_owners = self._bucket_owners
        for changed in touched:
            following: str | None = None
            for step in range(_BUCKET_COUNT):  # the first point at or after the change
                owners = all_owners[(changed + step) % _BUCKET_COUNT]
                if len(owners) > 1:
                    following = owners[0]
                    break
            for step in range(1, _BUCKET_COUNT + 1):  # back to the previous non-empty one
                owners = all_owners[(changed - step) % _BUCKET_COUNT]
                owners[-1] = following
                if len(owners) > 1:
                    break

    def _link_buckets(self) -> None:
        """Point every bucket's sentinel at the owner of the next point clockwise."""
        all_owners = self._bucket_owners
        following: str | None = None
        for owners in all_owners:  # the first point of the ring, for the wrap-around
            if len(owners) > 1:
                following = owners[0]
                break
        for owners in reversed(all_owners):
            owners[-1] = following
            if len(owners) > 1:
                following = owners[0]

    def _after_change(self, added: list[str], removed: list[str]) -> None:
        self._checksum = _fp32(";".join(self._identity_keys))
        self._replica_checksum = None
        self._numpy_cache = None
        if self._listeners:
            change = RingChange(tuple(added), tuple(removed), self._checksum)
            for listener in list(self._listeners):
                listener(change)
