"""The short fault suite: six nodes in network namespaces (issue 18).

Each test builds its own namespaces and cluster, injects one fault and asserts what a
correct implementation must do: one ring again soon after the fault ends, and no member
that could be reached declared faulty, tombstoned or evicted. The figures are printed
(``pytest -s``) and are in the failure message. ``bench/faults.py`` runs the long form.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.cluster import FaultCluster
from tests.faults.scenarios import asymmetric, kill_restart, partition

pytestmark = [pytest.mark.faults, pytest.mark.timeout(200)]

NODES = 6


@pytest.fixture
def cluster() -> Iterator[FaultCluster]:
    """Six Python nodes (examples/objects), each in its own namespace; all removed after."""
    with FaultCluster(NODES, "python") as running:
        yield running


def test_partition_3_3_then_heal(cluster: FaultCluster) -> None:
    """A silent 3|3 partition for 30 s: after the heal one ring within 5 s, nobody wronged.

    30 s: both halves have evicted each other (suspect + faulty + tombstone = 15 s) and
    TCP has been retransmitting the other half's old requests for long enough that they
    arrive after the heal.
    """
    outcome = partition(cluster, seconds=30.0, target=5.0)
    print(outcome.report())
    assert not outcome.problems(), outcome.report()


def test_mixed_partition_then_heal() -> None:
    """Three of our nodes and three ringpop-node ones (alternately), cut 3|3 for 30 s:
    each half holds both programs, and after the heal there is one ring within 5 s with
    nobody on a reachable side declared faulty, tombstoned or evicted. Skipped without node.
    """
    with FaultCluster(NODES, "mixed") as cluster:
        outcome = partition(cluster, seconds=30.0, target=5.0)
    print(outcome.report())
    assert not outcome.problems(), outcome.report()


def test_asymmetric_partition(cluster: FaultCluster) -> None:
    """n1-n3 hear n4-n6 but not the reverse, for 20 s: one ring after, nobody reachable lost."""
    outcome = asymmetric(cluster, seconds=20.0)
    print(outcome.report())
    assert not outcome.problems(), outcome.report()


def test_kill_9_and_restart(cluster: FaultCluster) -> None:
    """A node killed with SIGKILL and restarted 8 s later: the cluster converges again."""
    outcome = kill_restart(cluster, down_s=8.0)
    print(outcome.report())
    assert not outcome.problems(), outcome.report()
