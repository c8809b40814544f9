"""FarmHash Fingerprint32, the one hash function of ringpop (spec §13.1, §17.1).

ringpop-go and ringpop-node (with ``isCrossPlatform``) hash replica points, keys,
ring checksums and membership checksums with FarmHash ``Fingerprint32``. Never use
FarmHash ``Hash32``: its value depends on the CPU it was compiled for.
"""

from __future__ import annotations

import operator
from array import array
from collections.abc import Callable, Sequence
from itertools import chain

import farmhash

from ringpop import speedups

__all__ = [
    "fingerprint32",
    "fingerprint32_blob",
    "fingerprint32_many",
    "fingerprint32_unchecked",
    "key_error",
]


_fingerprint32: Callable[[str | bytes | bytearray | memoryview], int] = farmhash.Fingerprint32

fingerprint32_unchecked = _fingerprint32
"""FarmHash Fingerprint32 without the friendly ``TypeError``: for hot loops over
values already known to be ``str`` or bytes (e.g. typed-decoded keys)."""


def key_error(value: object) -> TypeError | ValueError:
    """The error raised when ``value`` cannot be hashed as a key: a ``TypeError`` when
    it is not ``str`` or bytes-like, a ``ValueError`` when it is a ``str`` UTF-8
    cannot carry (a lone surrogate)."""
    if isinstance(value, str):
        return ValueError(
            f"ringpop keys must be text UTF-8 can carry: {value!r:.80} holds a lone surrogate"
        )
    return TypeError(
        f"ringpop keys must be str or bytes-like, not {type(value).__name__}: {value!r:.80}"
    )


def fingerprint32(data: str | bytes | bytearray | memoryview) -> int:
    """Return FarmHash Fingerprint32 of ``data`` as an unsigned 32-bit int.

    ``str`` input is hashed as its UTF-8 bytes; bytes-like input as is. Any other
    type raises ``TypeError``; a ``str`` UTF-8 cannot carry (a lone surrogate), a
    ``ValueError`` saying so.
    """
    try:
        return _fingerprint32(data)
    except (TypeError, UnicodeEncodeError):
        raise key_error(data) from None


def fingerprint32_many(keys: list[str]) -> array[int]:
    """Fingerprint32 of each key of ``keys`` (``str``, hashed as UTF-8), as ``array('I')``.

    One C++ loop over the list where :mod:`ringpop.speedups` is built, else one
    ``map``. A key that is not ``str`` raises ``TypeError``; a ``str``
    that is not valid UTF-8 (a lone surrogate) raises ``UnicodeEncodeError``.
    """
    native = speedups.native
    if native is not None and type(keys) is list:
        hashes = array("I")
        hashes.frombytes(native.fingerprint32_strs(keys))
        return hashes
    if not all(map(str.__instancecheck__, keys)):
        bad = next(key for key in keys if not isinstance(key, str))
        raise TypeError(f"keys must be str, not {type(bad).__name__}: {bad!r:.80}")
    return array("I", map(_fingerprint32, keys))


def fingerprint32_blob(blob: bytes | memoryview, ends: Sequence[int]) -> array[int]:
    """Fingerprint32 of each key of ``blob``, key ``i`` being ``blob[ends[i - 1]:ends[i]]``
    (the first starts at 0), as ``array('I')``. ``ends`` must never decrease and stay
    within ``blob``, else ``ValueError``. Native where built (:mod:`ringpop.speedups`)."""
    native = speedups.native
    if native is not None:
        column = ends if isinstance(ends, array) and ends.typecode == "I" else array("I", ends)
        hashes = array("I")
        hashes.frombytes(native.fingerprint32_blob(blob, column))
        return hashes
    starts = list(chain((0,), ends[:-1] if ends else ()))
    if not all(map(operator.le, starts, ends)) or (ends and ends[-1] > len(blob)):
        raise ValueError("the ends of a blob's keys decrease or pass its end")
    data = blob if type(blob) is bytes else bytes(blob)
    return array("I", map(_fingerprint32, map(data.__getitem__, map(slice, starts, ends))))
