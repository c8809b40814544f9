"""Run a test over ringpop's native part (``ringpop._native``) and over its fallback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from ringpop import speedups

BOTH = pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
"""Parametrize a test with ``native``: pass it to :func:`native_or_python`."""


@contextmanager
def native_or_python(native: bool) -> Iterator[None]:
    """The native part (skip the test where it is not built) or, for the block, the
    pure-Python fallback every caller has."""
    if native:
        if not speedups.BUILT:
            pytest.skip("ringpop._native is not built (no libfarmhash-dev)")
        yield
        return
    saved = speedups.native
    speedups.native = None  # type: ignore[assignment]
    try:
        yield
    finally:
        speedups.native = saved
