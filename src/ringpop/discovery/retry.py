"""Retry a failing provider with capped exponential backoff (ringpop-node's opt-in
discover-provider retry, defaults.md §2: 0.5 s minimum, 15 s maximum, 60 s total)."""

from __future__ import annotations

import asyncio
import random

from ringpop.checks import check_seconds
from ringpop.discovery._base import DiscoverProvider, DiscoveryError

__all__ = ["RetryingProvider"]


class RetryingProvider:
    """Wraps ``provider``: on :class:`DiscoveryError` waits and asks again.

    The n-th wait (n = 0, 1, ...) is ``d = min(max_delay, min_delay * 2**n)`` drawn
    uniformly from ``[d, min(max_delay, 1.5 d)]``. When the next wait would end past
    ``total`` seconds since the call began, the last error is raised, its reason
    saying how many attempts were made. Pass ``rng`` for reproducible waits.
    """

    __slots__ = ("_max_delay", "_min_delay", "_provider", "_rng", "_total")

    def __init__(
        self,
        provider: DiscoverProvider,
        *,
        min_delay: float = 0.5,
        max_delay: float = 15.0,
        total: float = 60.0,
        rng: random.Random | None = None,
    ) -> None:
        for label, value in (("min_delay", min_delay), ("max_delay", max_delay), ("total", total)):
            check_seconds(f"RetryingProvider: {label}", value)
        if max_delay < min_delay:
            raise ValueError("RetryingProvider: max_delay must be >= min_delay")
        self._provider = provider
        self._min_delay = min_delay
        self._max_delay = max_delay
        self._total = total
        self._rng = rng if rng is not None else random.Random()

    async def hosts(self) -> list[str]:
        """The wrapped provider's hosts, after as many retries as the budget allows."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        attempt = 0
        while True:
            try:
                return await self._provider.hosts()
            except DiscoveryError as exc:
                base = min(self._max_delay, self._min_delay * 2**attempt)
                delay = self._rng.uniform(base, min(self._max_delay, 1.5 * base))
                attempt += 1
                elapsed = loop.time() - start
                if elapsed + delay > self._total:
                    raise DiscoveryError(
                        exc.source,
                        f"{exc.reason} (gave up after {attempt} attempts in {elapsed:.1f} s)",
                    ) from exc
            await asyncio.sleep(delay)

    def __repr__(self) -> str:
        return (
            f"RetryingProvider({self._provider!r}, min_delay={self._min_delay:g}, "
            f"max_delay={self._max_delay:g}, total={self._total:g})"
        )
