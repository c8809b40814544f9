"""A silent 3|3 split of six in-process nodes on real TCP, then the network heals.

Issue 18: after such a split Python nodes used to declare members of their own side
faulty or tombstone (30-second-old rumours delivered by the TCP backlog when the
network returned), and took a healer period (~30 s) to merge the two sides. Here:
nobody declares a member of its own side faulty, tombstone or evicted, and one
checksum with every member alive follows within 5 s of the heal.
"""

from __future__ import annotations

import pytest

from ringpop.options import Options
from tests.cluster.partition import PartitionCluster

pytestmark = pytest.mark.timeout(90)

# Shorter suspect and faulty periods (and ping-req timeout, which a failed probe waits
# for) than the defaults, so that within ~10 s each side holds the other faulty and
# then tombstone (the worst rumours to replay), as a 30 s split does with the defaults.
OPTIONS = Options(
    suspect_period=3.0, faulty_period=3.0, tombstone_period=60.0, ping_req_timeout=2.0
)


async def test_silent_split_heals_fast_without_wrong_declarations() -> None:
    cluster = PartitionCluster(6, OPTIONS)
    try:
        await cluster.start()
        outcome = await cluster.split_and_heal(
            [(0, 1, 2), (3, 4, 5)], duration=6.0, until_given_up=20.0
        )
        print(outcome)
        # During the split the sides gave each other up (so there was something to heal).
        down = {s.subject for s in cluster.seen if s.status in ("faulty", "tombstone")}
        assert len(down) >= 3
        assert outcome.wrong == []
        assert outcome.converged_after is not None
        assert outcome.converged_after < 5.0
        assert outcome.stale_closed > 0  # connections across the split went stale
        assert outcome.fast_heals > 0
    finally:
        await cluster.close()
