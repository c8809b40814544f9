"""Fencing tokens: numbers that only grow from one leader to the next. Pure.

A token is a :class:`~ringpop.state.hlc.Version` ``(wall, logical, node)`` from the
acquiring node's hybrid logical clock, taken **after** observing the previous
leader's token (read back from the replicated store, see :mod:`.leadership`): the
hybrid clock never returns a version at or below one it observed, so a new leader's
token is greater than every token it has seen. Two leaders on two sides of a
partition stamp their own node id into their tokens, so their tokens always differ,
and one of them is the greater: a resource that keeps the greatest token it saw
(:class:`Fence`) refuses the other side's writes from then on.
"""

from __future__ import annotations

from collections.abc import Iterable

from ringpop.state.hlc import ClockDriftError, HybridClock, Version

__all__ = ["Fence", "next_token", "token_str"]


def next_token(clock: HybridClock, seen: Iterable[Version | None]) -> Version:
    """A token greater than every version in ``seen`` and every one ``clock`` returned.

    A seen token further ahead than the clock's drift limit is skipped (a node with a
    clock far in the future cannot push every later token there).
    """
    for token in seen:
        if token is not None:
            try:
                clock.observe(token)
            except ClockDriftError:
                continue
    return clock.now()


def token_str(token: Version) -> str:
    """A compact, human-readable form: ``wall.logical@node``."""
    return f"{token.wall}.{token.logical}@{token.node}"


class Fence:
    """The resource side: accept writes only from the newest leader seen so far.

    ``fence.admit(token)`` is True for a token at least as great as the greatest one
    admitted before (the same leader writing again, or a newer one), False for an
    older one (a deposed leader, or the losing side of a partition).
    """

    def __init__(self) -> None:
        self.highest: Version | None = None

    def admit(self, token: Version) -> bool:
        """Whether ``token`` may write; remembers it when it is the greatest."""
        if self.highest is not None and token < self.highest:
            return False
        self.highest = token
        return True
