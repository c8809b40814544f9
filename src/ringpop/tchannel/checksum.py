"""Call checksums (spec tchannel.md §8).

A call frame's checksum is a running value over the raw bytes of the argument
chunks sent so far in the message (length prefixes excluded): ``update`` folds one
chunk into the running value, starting from 0.

Type 2 (FarmHash Fingerprint32) has no running form. tchannel-node computes it
per chunk and keeps the last value, so a frame's type-2 checksum is
``fingerprint32(last chunk of the frame)``; :func:`update` reproduces that. The
spec says never to send it and not to verify it on receipt (tchannel-go lacks it).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from enum import IntEnum

from ringpop.hashing import fingerprint32

__all__ = [
    "CHECKSUM_SIZE",
    "UPDATE",
    "ChecksumType",
    "checksum_update",
    "compute",
    "verifiable",
]


class ChecksumType(IntEnum):
    """Checksum types of call frames."""

    NONE = 0x00
    CRC32 = 0x01
    FARMHASH = 0x02
    CRC32C = 0x03


#: Size in bytes of the checksum value for each type.
CHECKSUM_SIZE: dict[int, int] = {0: 0, 1: 4, 2: 4, 3: 4}


def _none(data: bytes | memoryview, prior: int) -> int:
    return 0


def _farm(data: bytes | memoryview, prior: int) -> int:
    return fingerprint32(data)


def _crc32c(data: bytes | memoryview, prior: int) -> int:
    """CRC-32C, importing ``crc32c`` on first use.

    Its import costs 20-27 ms (it reads package metadata), a tenth of a node's
    start-up; nodes that never see a CRC-32C frame never pay it. The first call
    puts the C function itself in :data:`UPDATE`.
    """
    from crc32c import crc32c

    UPDATE[ChecksumType.CRC32C] = crc32c
    return int(crc32c(data, prior))


# CRC-32 and CRC-32C are the C functions themselves: (data, prior) -> int.
UPDATE: dict[int, Callable[[bytes | memoryview, int], int]] = {
    ChecksumType.NONE: _none,
    ChecksumType.CRC32: zlib.crc32,
    ChecksumType.FARMHASH: _farm,
    ChecksumType.CRC32C: _crc32c,
}


def checksum_update(csum_type: int) -> Callable[[bytes | memoryview, int], int]:
    """The function ``(chunk, prior) -> value`` that folds one chunk for ``csum_type``.

    Raises ``KeyError`` for an unknown type.
    """
    return UPDATE[csum_type]


def compute(csum_type: int, chunks: Sequence[bytes], prior: int = 0) -> int:
    """The checksum after folding ``chunks`` into ``prior`` (0 for a fresh message)."""
    if csum_type == 0:
        return 0
    update = UPDATE[csum_type]
    if len(chunks) == 3:  # the common single-frame message
        return update(chunks[2], update(chunks[1], update(chunks[0], prior)))
    value = prior
    for chunk in chunks:
        value = update(chunk, value)
    return value


def verifiable(csum_type: int) -> bool:
    """Whether received checksums of this type are verified (CRC-32 and CRC-32C)."""
    return csum_type in (ChecksumType.CRC32, ChecksumType.CRC32C)
