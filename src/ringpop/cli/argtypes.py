"""argparse value types shared by the ``ringpop`` commands."""

from __future__ import annotations

import argparse
import math

__all__ = ["positive_number", "positive_seconds", "small_count"]


def _positive(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be positive and finite: {text!r}")
    return value


def positive_seconds(text: str) -> float:
    """A duration in seconds, > 0."""
    return _positive(text, "a number of seconds")


def positive_number(text: str) -> float:
    """A factor or ratio, > 0."""
    return _positive(text, "a number")


def small_count(text: str) -> int:
    """A whole number in 0..64 (a count of things in flight)."""
    if not text.isdigit() or int(text) > 64:
        raise argparse.ArgumentTypeError(f"must be a whole number in 0..64, not {text}")
    return int(text)
