"""RetryingProvider: retries DiscoveryError with capped backoff within a total budget."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest

from ringpop.discovery import DiscoveryError, RetryingProvider


class Flaky:
    """Fails ``failures`` times, then answers; records when it was asked."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or DiscoveryError("test source", "not yet")
        self.calls: list[float] = []

    async def hosts(self) -> list[str]:
        self.calls.append(time.monotonic())
        if len(self.calls) <= self.failures:
            raise self.error
        return ["127.0.0.1:3000"]


async def test_answers_after_failures_with_growing_waits() -> None:
    inner = Flaky(3)
    p = RetryingProvider(inner, min_delay=0.02, max_delay=0.05, total=2, rng=random.Random(1))
    assert await asyncio.wait_for(p.hosts(), 3) == ["127.0.0.1:3000"]
    assert len(inner.calls) == 4
    waits = [b - a for a, b in zip(inner.calls, inner.calls[1:], strict=False)]
    assert waits[0] >= 0.02
    assert waits[1] >= 0.04
    assert all(w < 0.5 for w in waits)


async def test_gives_up_after_the_total_budget() -> None:
    inner = Flaky(1000)
    p = RetryingProvider(inner, min_delay=0.01, max_delay=0.02, total=0.15)
    started = time.monotonic()
    with pytest.raises(DiscoveryError) as info:
        await asyncio.wait_for(p.hosts(), 3)
    assert time.monotonic() - started <= 0.3
    assert info.value.source == "test source"
    assert info.value.reason.startswith(f"not yet (gave up after {len(inner.calls)} attempts in")
    assert len(inner.calls) >= 3


async def test_first_success_is_not_delayed() -> None:
    p = RetryingProvider(Flaky(0), min_delay=10, max_delay=10, total=60)
    assert await asyncio.wait_for(p.hosts(), 1) == ["127.0.0.1:3000"]


async def test_other_errors_are_not_retried() -> None:
    inner = Flaky(5, RuntimeError("bug"))
    with pytest.raises(RuntimeError, match="bug"):
        await RetryingProvider(inner, min_delay=0.01).hosts()
    assert len(inner.calls) == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_delay": 0},
        {"max_delay": -1},
        {"total": float("nan")},
        {"min_delay": 2, "max_delay": 1},
    ],
)
def test_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="RetryingProvider"):
        RetryingProvider(Flaky(0), **kwargs)


def test_repr() -> None:
    assert repr(RetryingProvider(Flaky(0))).endswith("min_delay=0.5, max_delay=15, total=60)")
