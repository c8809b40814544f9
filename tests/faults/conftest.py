"""Fault tests need root, ``ip netns`` and ``nft``; they are skipped, with the reason, otherwise."""

from __future__ import annotations

import pytest

from tests.faults.netns import cleanup_stale, missing_tools


@pytest.fixture(scope="session", autouse=True)
def _fault_environment() -> None:
    """Skip when namespaces or nftables cannot be used; remove leftovers of dead runs."""
    reason = missing_tools()
    if reason is not None:
        pytest.skip(reason)
    cleanup_stale()
