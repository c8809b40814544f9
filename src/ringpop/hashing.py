"""FarmHash Fingerprint32, the one hash function of ringpop (spec §13.1, §17.1).

ringpop-go and ringpop-node (with ``isCrossPlatform``) hash replica points, keys,
ring checksums and membership checksums with FarmHash ``Fingerprint32``. Never use
FarmHash ``Hash32``: its value depends on the CPU it was compiled for.
"""

from __future__ import annotations

from collections.abc import Callable

import farmhash

__all__ = ["fingerprint32", "fingerprint32_unchecked", "key_type_error"]

_fingerprint32: Callable[[str | bytes | bytearray | memoryview], int] = farmhash.Fingerprint32

fingerprint32_unchecked = _fingerprint32
"""FarmHash Fingerprint32 without the friendly ``TypeError``: for hot loops over
values already known to be ``str`` or bytes (e.g. typed-decoded keys)."""


def key_type_error(value: object) -> TypeError:
    """The error raised when something that is not ``str`` or bytes is hashed."""
    return TypeError(
        f"ringpop keys must be str or bytes-like, not {type(value).__name__}: {value!r:.80}"
    )


def fingerprint32(data: str | bytes | bytearray | memoryview) -> int:
    """Return FarmHash Fingerprint32 of ``data`` as an unsigned 32-bit int.

    ``str`` input is hashed as its UTF-8 bytes; bytes-like input as is. Any other
    type raises ``TypeError``.
    """
    try:
        return _fingerprint32(data)
    except TypeError:
        raise key_type_error(data) from None
