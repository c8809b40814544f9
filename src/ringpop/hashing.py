"""FarmHash Fingerprint32, the one hash function of ringpop (spec §13.1, §17.1).

ringpop-go and ringpop-node (with ``isCrossPlatform``) hash replica points, keys,
ring checksums and membership checksums with FarmHash ``Fingerprint32``. Never use
FarmHash ``Hash32``: its value depends on the CPU it was compiled for.
"""

from __future__ import annotations

from farmhash import Fingerprint32 as _fingerprint32

__all__ = ["fingerprint32"]


def fingerprint32(data: str | bytes) -> int:
    """Return FarmHash Fingerprint32 of ``data`` as an unsigned 32-bit int.

    ``str`` input is hashed as its UTF-8 bytes. Any other type raises ``TypeError``.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    elif not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"fingerprint32() needs str or bytes, not {type(data).__name__}")
    return int(_fingerprint32(bytes(data)))
