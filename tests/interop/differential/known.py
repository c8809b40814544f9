"""Cases where ours is still stricter than ringpop-node (strict xfail in the suite).

Each entry: case id -> what ours does and what ringpop-node does. Remove an entry
when the receiving side is fixed (the strict xfail then fails, as a reminder).
"""

from __future__ import annotations

from typing import Final

__all__ = ["KNOWN_STRICTER"]

KNOWN_STRICTER: Final[dict[str, str]] = {}
