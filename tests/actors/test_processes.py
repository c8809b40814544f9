"""Actors, leadership and a singleton with real processes under kill -9, join and leave.

The short form of ``bench/actors.py --chaos``: 5 nodes, 100 actors, 2 000 messages
sent by each node (and by the node that joins), one kill -9 (the leader), a join and
a graceful leave (see :mod:`tests.actors.chaos`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.actors.chaos import run_chaos

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(170)]


async def test_actors_under_kill_join_and_leave(tmp_path: Path) -> None:
    report = await run_chaos(tmp_path, size=5, count=2000, actors=100, rate=130)
    detail = "\n".join(report.lines())
    assert report.acked >= 10_000, detail  # acknowledged, counted from the senders' logs
    assert report.failed_survivors == 0, detail
    assert report.missing == 0, detail  # every acknowledged message was handled
    assert report.order_violations == 0, detail  # per actor, per sender
    assert report.duplicates_no_crash == 0, detail  # twice only across the crash
    assert report.handled >= report.acked, detail
    assert len(report.placement_seconds) == 4, detail  # actors on their owners each time
    assert report.leaders_sampled == [1] * 6, detail  # exactly one leader, every sample
    assert report.tokens_increasing, detail
    assert report.tokens >= 2, detail
    assert 0 < report.new_leader_seconds <= report.detection_seconds + 1.0, detail
    assert report.singleton_moves >= 1, detail  # 10 singletons: some moved
    assert report.max_overlap <= report.detection_seconds, detail
