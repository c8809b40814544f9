"""Is this key ours? The one ownership check of both forwarders and the integrations.

Pure functions over a lookup function (``ring.lookup`` or ``Ringpop.lookup``): no
network, no clock. A lookup that returns ``None`` (an empty ring) means ourselves, as
the forwarders always treated it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from ringpop.errors import RingpopError

__all__ = ["Lookup", "OwnershipError", "key_list", "owner_of", "owns_all"]

Lookup = Callable[[str], str | None]
"""The owner of a key (``None``: no owner known, i.e. ourselves)."""


class OwnershipError(RingpopError):
    """The keys have no single owner: none were given, or they belong to several nodes."""

    def __init__(self, owners: frozenset[str]) -> None:
        self.owners = owners
        super().__init__(
            f"keys belong to different nodes: {', '.join(sorted(owners))}"
            if owners
            else "at least one key is required"
        )

    @property
    def no_keys(self) -> bool:
        """No key was given (as opposed to keys on several owners)."""
        return not self.owners


def key_list(keys: str | Iterable[str]) -> list[str]:
    """``keys`` as a list: one key (``str``) or an iterable of them; a ``TypeError``
    for anything else (``None`` was "'NoneType' object is not iterable")."""
    if isinstance(keys, str):
        return [keys]
    if isinstance(keys, bytes | bytearray | memoryview) or not isinstance(keys, Iterable):
        raise TypeError(f"keys must be a key (str) or a list of keys, not {keys!r:.80}")
    return list(keys)


def owner_of(lookup: Lookup, me: str, keys: Sequence[str]) -> str:
    """The one node that owns every key of ``keys``; :class:`OwnershipError` otherwise."""
    if len(keys) == 1:  # the usual case, without building a set
        return lookup(keys[0]) or me
    owners = frozenset(lookup(key) or me for key in keys)
    if len(owners) != 1:
        raise OwnershipError(owners)
    return next(iter(owners))


def owns_all(lookup: Lookup, me: str, keys: Sequence[str]) -> bool:
    """Whether ``me`` owns every key of ``keys`` (``False`` for no keys)."""
    if not keys:
        return False
    return all((lookup(key) or me) == me for key in keys)
