"""Shared builders for the membership tests."""

from __future__ import annotations

import random
from typing import Any

from ringpop.clock import ManualClock
from ringpop.membership import MemberList
from ringpop.messages import Change

LOCAL = "127.0.0.1:3000"
B = "127.0.0.1:3001"
C = "127.0.0.1:3002"
D = "127.0.0.1:3003"
NOW_MS = 1_414_142_122_274
"""The manual clock's wall time; the local member starts at this incarnation."""


def address(i: int) -> str:
    """A distinct valid address for member ``i``."""
    return f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}:3000"


def change(addr: str, status: str, incarnation: int, **fields: Any) -> Change:
    """A wire change with the given subject."""
    return Change(address=addr, status=status, incarnation_number=incarnation, **fields)


def member_list(
    *, seed: int = 0, now_ms: int = NOW_MS, incarnation: int | None = None, **options: Any
) -> tuple[MemberList, ManualClock]:
    """A member list for ``LOCAL`` with a manual clock and a seeded rng."""
    clock = ManualClock(start_ms=now_ms)
    members = MemberList(
        LOCAL, clock=clock, rng=random.Random(seed), incarnation=incarnation, **options
    )
    return members, clock
